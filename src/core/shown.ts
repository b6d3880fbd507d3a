/**
 * A value as JavaScript's String() writes it (docs/scoring.md: reason values), for any parsed JSON value.
 * String() itself throws on two JSON values: an object with an own non-callable `toString`
 * (`{"toString":1}`) and arrays nested deeper than the call stack. Here objects read as
 * Object.prototype.toString writes them and arrays are joined iteratively, with the same text
 * String() gives when it succeeds.
 */
export function shown(value: unknown): string {
  return Array.isArray(value) ? shownArray(value) : shownLeaf(value);
}

function shownLeaf(value: unknown): string {
  return typeof value === 'object' && value !== null ? '[object Object]' : String(value);
}

/** Array.prototype.join(',') all the way down: null elements are empty, nested arrays flatten in place. */
function shownArray(root: readonly unknown[]): string {
  const open: { items: readonly unknown[]; next: number }[] = [{ items: root, next: 0 }];
  let out = '';
  while (open.length > 0) {
    const top = open[open.length - 1]!;
    if (top.next === top.items.length) {
      open.pop();
      continue;
    }
    if (top.next > 0) out += ',';
    const item = top.items[top.next++];
    if (Array.isArray(item)) open.push({ items: item, next: 0 });
    else if (item !== null && item !== undefined) out += shownLeaf(item);
  }
  return out;
}

/** JavaScript's default string order (UTF-16 code units), as a comparator: what receipts and reports sort names by. */
export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Blank text (docs/records.md): nothing but what String.prototype.trim removes. */
export function isBlank(s: string): boolean {
  return s.trim() === '';
}

const isHighSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff;

/** The first `n` Unicode code points (docs/records.md): a surrogate pair counts once and is never split; a lone surrogate counts as one. */
export function cutCodePoints(s: string, n: number): string {
  if (s.length <= n) return s; // at most s.length code points: nothing to cut
  let units = 0;
  for (let points = 0; points < n && units < s.length; points++) {
    units += isHighSurrogate(s.charCodeAt(units)) && units + 1 < s.length && isLowSurrogate(s.charCodeAt(units + 1)) ? 2 : 1;
  }
  return s.slice(0, units);
}

/**
 * The first line whose trim() is not empty, verbatim, with lines split as input lines are (docs/records.md):
 * on "\n", a "\r" right before it belonging to the terminator, a lone "\r" not a break. "" if none.
 * Scans with indexOf so a long text is never split into an array of lines.
 */
export function firstNonBlankLine(s: string): string {
  let start = 0;
  while (start <= s.length) {
    let end = s.indexOf('\n', start);
    const next = end === -1 ? s.length + 1 : end + 1;
    if (end === -1) end = s.length;
    else if (end > start && s.charCodeAt(end - 1) === 0x0d) end--;
    const line = s.slice(start, end);
    if (!isBlank(line)) return line;
    start = next;
  }
  return '';
}

/**
 * A binary heap whose top is the item that comes first under `before` (a strict order: a min-heap
 * for "less than", a max-heap for "greater than"). Push and replacing the top cost O(log n).
 */
export class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  /** The first item, undefined when empty. */
  top(): T | undefined {
    return this.items[0];
  }

  /** Every item, in heap order (not sorted). */
  contents(): readonly T[] {
    return this.items;
  }

  push(item: T): void {
    const items = this.items;
    let index = items.length;
    items.push(item);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(item, items[parent]!)) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = item;
  }

  /** Puts `item` in the top's place (the top leaves the heap). */
  replaceTop(item: T): void {
    this.items[0] = item;
    this.siftDown();
  }

  /** Takes the top out. */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0) this.replaceTop(last!);
    return top;
  }

  private siftDown(): void {
    const items = this.items;
    const item = items[0]!;
    let index = 0;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && this.before(items[child + 1]!, items[child]!)) child++;
      if (!this.before(items[child]!, item)) break;
      items[index] = items[child]!;
      index = child;
    }
    items[index] = item;
  }
}

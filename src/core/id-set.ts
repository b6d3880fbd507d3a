const HEX_DIGITS = 16;
const INITIAL_CAPACITY = 1 << 12;

/**
 * A set of 64-bit ids given as 16 hex digits, in an open-addressing table of two Uint32Arrays
 * (8 bytes per slot, load ≤ 1/2, so ~16 bytes per id) instead of a Set of strings (~60+ bytes per id).
 * Slot occupancy is kept in a bitmap so the all-zero id is an ordinary member.
 */
export class IdSet {
  private high = new Uint32Array(INITIAL_CAPACITY);
  private low = new Uint32Array(INITIAL_CAPACITY);
  private used = new Uint8Array(INITIAL_CAPACITY >>> 3);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds the id; false when it was already present. */
  add(hex16: string): boolean {
    const [high, low] = parseId(hex16);
    const slot = this.find(high, low);
    if (this.isUsed(slot)) return false;
    this.place(slot, high, low);
    if (++this.count * 2 > this.high.length) this.grow();
    return true;
  }

  has(hex16: string): boolean {
    const [high, low] = parseId(hex16);
    return this.isUsed(this.find(high, low));
  }

  /** The slot holding the id, or the empty slot where it would go (linear probing). */
  private find(high: number, low: number): number {
    const mask = this.high.length - 1;
    let slot = (low ^ Math.imul(high, 0x9e3779b1)) & mask;
    while (this.isUsed(slot) && (this.high[slot] !== high || this.low[slot] !== low)) slot = (slot + 1) & mask;
    return slot;
  }

  private isUsed(slot: number): boolean {
    return (this.used[slot >>> 3]! & (1 << (slot & 7))) !== 0;
  }

  private place(slot: number, high: number, low: number): void {
    this.high[slot] = high;
    this.low[slot] = low;
    this.used[slot >>> 3]! |= 1 << (slot & 7);
  }

  private grow(): void {
    const { high, low } = this;
    const wasUsed = this.used;
    this.high = new Uint32Array(high.length * 2);
    this.low = new Uint32Array(low.length * 2);
    this.used = new Uint8Array(this.high.length >>> 3);
    for (let slot = 0; slot < high.length; slot++) {
      if ((wasUsed[slot >>> 3]! & (1 << (slot & 7))) !== 0) this.place(this.find(high[slot]!, low[slot]!), high[slot]!, low[slot]!);
    }
  }
}

function parseId(hex16: string): [number, number] {
  if (hex16.length !== HEX_DIGITS) throw new RangeError(`an id is ${HEX_DIGITS} hex digits, got ${JSON.stringify(hex16)}`);
  const high = Number.parseInt(hex16.slice(0, 8), 16);
  const low = Number.parseInt(hex16.slice(8), 16);
  if (Number.isNaN(high) || Number.isNaN(low)) throw new RangeError(`not a hex id: ${JSON.stringify(hex16)}`);
  return [high >>> 0, low >>> 0];
}

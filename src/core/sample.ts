import { sha256Hex } from './canonical.js';
import { Heap } from './heap.js';

/** At most this many values per sample metric (docs/receipts.md). */
export const SAMPLE_SIZE = 10_000;

interface Entry {
  /** Lowercase hex sha256 of the record id: string order is byte order. */
  hash: string;
  id: string;
  value: number;
}

/**
 * Total order (hash, id, value). The id breaks hash ties and the value breaks ties of a repeated
 * id, so the kept set never depends on arrival order, even for duplicates.
 */
function compare(a: Entry, b: Entry): number {
  if (a.hash !== b.hash) return a.hash < b.hash ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return a.value - b.value;
}

/**
 * The values of the (at most) `capacity` records with the smallest sha256(record id) — docs/receipts.md's
 * drift sample. Keeping the k smallest under a total order is deterministic, order-free and
 * mergeable: shards merged give the same sample as one pass. Memory is bounded by a max-heap of
 * `capacity` entries; a record that is not among the smallest costs one hash and one comparison.
 * A repeated id counts as another record (stages sample rows they write, whose ids are unique).
 */
export class SmallestHashSample {
  /** Max-heap under `compare`: its top is the entry to evict first. */
  private readonly heap = new Heap<Entry>((a, b) => compare(a, b) > 0);

  constructor(readonly capacity: number = SAMPLE_SIZE) {}

  add(id: string, value: number): void {
    this.offer({ hash: sha256Hex(id), id, value });
  }

  /** Folds another shard's sample into this one; `other` is left unchanged. */
  merge(other: SmallestHashSample): void {
    for (const entry of other.heap.contents()) this.offer(entry);
  }

  /** The kept records as [id, value], ordered by (hash, id, value): what a shard hands on to be merged. */
  entries(): Array<[id: string, value: number]> {
    return [...this.heap.contents()].sort(compare).map((entry) => [entry.id, entry.value]);
  }

  /** The kept values, ordered by (hash, id, value). */
  values(): number[] {
    return [...this.heap.contents()].sort(compare).map((entry) => entry.value);
  }

  private offer(entry: Entry): void {
    const heap = this.heap;
    if (heap.size < this.capacity) heap.push(entry);
    else if (heap.size > 0 && compare(entry, heap.top()!) < 0) heap.replaceTop(entry);
  }
}

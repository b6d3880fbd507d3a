import { SmallestHashSample } from '../core/sample.js';
import type { Category, QuarantineReason } from '../records.js';
import type { FileDigest } from '../receipts.js';

/** Rejected rows whose shape is kept per reason: the first two tell a wrong input from a stray bad row. */
export const SHAPES_PER_REASON = 2;

/** Keys of a rejected object kept in its shape. */
export const SHAPE_KEYS = 24;

/** Code units of a line that never parsed kept in its shape. */
export const SHAPE_HEAD = 40;

/**
 * What a rejected row looked like: an object's first keys, another JSON value's type, or the start
 * of a line that never parsed (`text`). Never written anywhere; a stage's hints read it.
 */
export interface RejectedShape {
  reason: QuarantineReason;
  source: string;
  line: number;
  kind: 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' | 'text';
  /** An object's keys (at most SHAPE_KEYS), in order. */
  keys?: string[];
  /** The start of a line that never parsed (at most SHAPE_HEAD code units). */
  head?: string;
}

/**
 * The counters of one stage run. Only the engine changes them (rows in, kept, quarantined, the files
 * read and written); stages say what happened to a row and the engine counts it. The receipt is
 * built from these and is the single source of truth for counts afterwards.
 */
export class StageCounts {
  in = 0;
  out = 0;
  /** Input rows quarantined. */
  quarantined = 0;
  /** Broken promises seen while writing (e.g. a self-pair about to be written); they fail validation. */
  readonly violations: string[] = [];
  readonly byReason = new Map<QuarantineReason, number>();
  readonly byCategory = new Map<Category, number>();
  /** Rows written to each split of `--split`, in the order given; empty when the output is not split. */
  readonly bySplit = new Map<string, number>();
  readonly inputs: FileDigest[] = [];
  readonly outputs: FileDigest[] = [];
  /** Rows scored by the default rule, by the source that has no scoring rule of its own. */
  readonly unruledSources = new Map<string, number>();
  /** The first rejected rows of each reason, as shapes (what hints read to say what the input looks like). */
  readonly rejectedShapes: RejectedShape[] = [];
  /** Entries of the folders read that were not read (`data/x.jsonl: a FIFO, not a file`): warned about, never silent. */
  readonly skipped: string[] = [];
  private readonly samples = new Map<string, SmallestHashSample>();

  countReason(reason: QuarantineReason, n = 1): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + n);
  }

  countUnruled(source: string, n = 1): void {
    this.unruledSources.set(source, (this.unruledSources.get(source) ?? 0) + n);
  }

  /** Whether the row just counted under `reason` is among the first SHAPES_PER_REASON of it, whose shapes are kept. */
  keepsShapeOf(reason: QuarantineReason): boolean {
    return this.byReason.get(reason)! <= SHAPES_PER_REASON;
  }

  countCategory(category: Category, n = 1): void {
    this.byCategory.set(category, (this.byCategory.get(category) ?? 0) + n);
  }

  /** Keeps `value` in the deterministic, mergeable sample of `metric` (the smallest sha256(id)). */
  sample(metric: string, id: string, value: number): void {
    let sample = this.samples.get(metric);
    if (sample === undefined) {
      sample = new SmallestHashSample();
      this.samples.set(metric, sample);
    }
    sample.add(id, value);
  }

  /** Each metric's kept records as [id, value] (a shard's, to be merged). */
  sampleEntries(): Record<string, Array<[string, number]>> {
    const entries: Record<string, Array<[string, number]>> = {};
    for (const metric of [...this.samples.keys()].sort()) entries[metric] = this.samples.get(metric)!.entries();
    return entries;
  }

  /** Each metric's sampled values, metrics in string order (for the receipt). */
  sampleValues(): Record<string, number[]> {
    const values: Record<string, number[]> = {};
    for (const metric of [...this.samples.keys()].sort()) values[metric] = this.samples.get(metric)!.values();
    return values;
  }
}

/**
 * A pairing stage's counters (preference): rows are gated like any stage, but what it writes are
 * pairs of rows. `out` counts pairs; valid rows end in a written pair or unpaired.
 */
export class PairCounts extends StageCounts {
  /** Rows that passed every row gate. */
  validRows = 0;
  /** Valid rows that are part of at least one written pair. */
  paired = 0;
  /** Candidate pairs quarantined (counted apart from rows). */
  quarantinedPairs = 0;
  /** A shard's pass 1 (passOneOnly): where each of its sorted runs ends in its output part. */
  readonly runEnds: number[] = [];

  get unpaired(): number {
    return this.validRows - this.paired;
  }
}

/** A Map of counts as a plain object with keys in string order (deterministic receipts). */
export function sortedCounts<K extends string>(counts: ReadonlyMap<K, number>): Record<K, number> {
  const result = {} as Record<K, number>;
  for (const key of [...counts.keys()].sort()) result[key] = counts.get(key)!;
  return result;
}

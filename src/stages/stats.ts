import type { Category, QuarantineReason } from '../records.js';
import { SmallestHashSample } from '../report/sample.js';

/** A file a stage read or wrote, hashed while it streamed through. */
export interface FileDigest {
  path: string;
  bytes: number;
  sha256: string;
}

/** Counters of one stage: the single source of truth for its receipt and summary line. */
export class StageStats {
  in = 0;
  out = 0;
  /** Input rows quarantined. */
  quarantined = 0;
  /** Preference only: valid rows that ended in no written pair, and candidate pairs quarantined. */
  unpaired: number | undefined;
  /** Preference only: valid rows that are part of at least one written pair. */
  paired: number | undefined;
  quarantinedPairs = 0;
  /** Broken promises seen while writing (e.g. a self-pair about to be written); they fail validation. */
  readonly violations: string[] = [];
  readonly byReason = new Map<QuarantineReason, number>();
  readonly byCategory = new Map<Category, number>();
  readonly inputs: FileDigest[] = [];
  readonly outputs: FileDigest[] = [];

  countQuarantine(reason: QuarantineReason, unit: 'row' | 'pair' = 'row'): void {
    if (unit === 'row') this.quarantined++;
    else this.quarantinedPairs++;
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }

  private readonly samples = new Map<string, SmallestHashSample>();

  /** Keeps `value` in the deterministic, mergeable sample of `metric` (SPEC §6: the smallest sha256(id)). */
  sample(metric: string, id: string, value: number): void {
    let sample = this.samples.get(metric);
    if (sample === undefined) {
      sample = new SmallestHashSample();
      this.samples.set(metric, sample);
    }
    sample.add(id, value);
  }

  /** Each metric's sampled values, metrics in string order (for the receipt). */
  sampleValues(): Record<string, number[]> {
    const values: Record<string, number[]> = {};
    for (const metric of [...this.samples.keys()].sort()) values[metric] = this.samples.get(metric)!.values();
    return values;
  }

  countCategory(category: Category): void {
    this.byCategory.set(category, (this.byCategory.get(category) ?? 0) + 1);
  }
}

/** A Map of counts as a plain object with keys in string order (deterministic receipts). */
export function sortedCounts<K extends string>(counts: ReadonlyMap<K, number>): Record<K, number> {
  const result = {} as Record<K, number>;
  for (const key of [...counts.keys()].sort()) result[key] = counts.get(key)!;
  return result;
}

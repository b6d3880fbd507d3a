import type { Rejection } from '../core/rejection.js';
import type { Category, SourceLocation } from '../records.js';

/**
 * What a stage keeps of one row: the value it passes on (a serialised line, a partitioned line, a
 * pairing entry) and what the engine counts about it — the category for the receipt's mix and the
 * key and value of the receipt's length sample.
 */
export interface Kept<T> {
  readonly value: T;
  readonly category: Category | undefined;
  readonly sampleKey: string | undefined;
  readonly sampleValue: number;
  /** The source of a row scored by the default rule because it has no scoring rule of its own. */
  readonly unruled: string | undefined;
}

export function keep<T>(value: T, category?: Category, sample?: { key: string; value: number }, unruled?: string): Kept<T> {
  return { value, category, sampleKey: sample?.key, sampleValue: sample?.value ?? 0, unruled };
}

/**
 * A stage's whole per-record work after parsing: what it keeps of the row, or a Rejection. `bytes`
 * is the line the value was parsed from, when the input was JSONL: for a stage that writes parts of
 * it as they stand.
 */
export type RowFunction<T = string> = (value: unknown, location: SourceLocation, bytes?: Buffer) => Kept<T> | Rejection;

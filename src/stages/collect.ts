import { toEvidenceRecord } from '../core/evidence.js';
import { IdSet } from '../core/id-set.js';
import { sha256Hex } from '../core/canonical.js';
import { reject, Rejection } from '../core/rejection.js';
import type { RowFunction } from './row-stage.js';

/** An evidence line and the file of the evidence tree it belongs in. */
export interface PartitionedLine {
  /** `YYYY/MM/DD/<source>.jsonl`, by the UTC date of created_at. */
  partition: string;
  line: string;
}

/** Raw `_kb` files that are not agent runs. */
export const NOT_A_SOURCE = 'audit_baselines.jsonl';

/** `YYYY/MM/DD` of the UTC date of an ISO-8601 timestamp (already validated). */
export function utcDatePath(timestamp: string): string {
  const iso = new Date(Date.parse(timestamp)).toISOString();
  return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}`;
}

/**
 * Collect one raw row (SPEC §4): EvidenceRecord or schema_violation; a run_id already taken by an
 * earlier valid row → duplicate_id. Taken run_ids are kept as 64-bit digests in `taken` (8 bytes
 * each, shared across the run's sources), not as strings.
 */
export function collectRow(options: { source: string; kbFile: string; recordedAt: string; taken: IdSet }): RowFunction<PartitionedLine> {
  return (value, location) => {
    const record = toEvidenceRecord(value, { source_file: options.kbFile, line_offset: location.line_offset }, options.recordedAt);
    if (record instanceof Rejection) return record;
    if (!options.taken.add(sha256Hex(record.run_id).slice(0, 16))) {
      return reject('duplicate_id', `run_id ${JSON.stringify(record.run_id)} was taken by an earlier row`);
    }
    return { partition: `${utcDatePath(record.created_at)}/${options.source}.jsonl`, line: `${JSON.stringify(record)}\n` };
  };
}

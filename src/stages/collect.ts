import { runIdKey } from '../core/ids.js';
import { toEvidenceLine } from '../core/evidence.js';
import { IdSet } from '../core/id-set.js';
import { reject, Rejection } from '../core/rejection.js';
import { keep, type RowFunction } from '../engine/row.js';
import { rowsAddUp, type TreeStage } from '../engine/stage.js';
import { writtenRows } from '../engine/written.js';
import type { PartitionedLine } from '../io/partition-writer.js';
import { LAYOUT } from '../layout.js';
import { option } from '../options.js';

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MINUTES_IN_DAY = 24 * 60;
const DATE_TIME_AND_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}).*?(?:Z|([+-])(\d{2}):(\d{2}))$/;

const daysIn = (year: number, month: number): number =>
  month === 2 && ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0) ? 29 : DAYS_IN_MONTH[month - 1]!;
const pad2 = (n: number): string => String(n).padStart(2, '0');
/** Four digits; the two years an offset can reach past 0000…9999 keep a sign or a fifth digit. */
const yearText = (year: number): string => (year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0'));

/**
 * `YYYY/MM/DD` of the UTC date of an ISO-8601 timestamp (already validated), by calendar arithmetic
 * on the written fields: an offset is whole minutes, so seconds and fraction never move the date,
 * and no Date round trip (whose toISOString writes year -1 as `-000001`) is involved.
 */
export function utcDatePath(timestamp: string): string {
  const match = DATE_TIME_AND_OFFSET.exec(timestamp)!;
  let year = Number(match[1]);
  let month = Number(match[2]);
  let day = Number(match[3]);
  const offset = match[6] === undefined ? 0 : (match[6] === '-' ? -1 : 1) * (Number(match[7]) * 60 + Number(match[8]));
  const minutes = Number(match[4]) * 60 + Number(match[5]) - offset;
  if (minutes < 0 && --day === 0) {
    if (--month === 0) {
      month = 12;
      year--;
    }
    day = daysIn(year, month);
  } else if (minutes >= MINUTES_IN_DAY && ++day > daysIn(year, month)) {
    day = 1;
    if (++month === 13) {
      month = 1;
      year++;
    }
  }
  return `${yearText(year)}/${pad2(month)}/${pad2(day)}`;
}

/** The receipt sample of evidence text lengths (UTF-16 code units, as JavaScript counts characters). */
export const EVIDENCE_TEXT_LENGTH = 'evidence_text_length';

/**
 * Collect one raw row: EvidenceRecord or schema_violation; a run_id already taken by an earlier
 * valid row → duplicate_id. Taken run_ids are kept as 64-bit digests in `taken` (8 bytes each,
 * shared across the run's sources), not as strings. A kept row goes to the partition of its
 * created_at's UTC date, and samples its text length under its run_id.
 */
export function collectRow(options: { source: string; kbFile: string; recordedAt: string; taken: IdSet }): RowFunction<PartitionedLine> {
  const file = `${options.source}.jsonl`;
  return (value, location, bytes) => {
    const evidence = toEvidenceLine(value, { source_file: options.kbFile, line_offset: location.line_offset }, options.recordedAt, bytes);
    if (evidence instanceof Rejection) return evidence;
    const { record, line } = evidence;
    if (!options.taken.addKey(...runIdKey(record.run_id))) {
      return reject('duplicate_id', takenRunIdError(record.run_id));
    }
    return keep({ partition: `${utcDatePath(record.created_at)}/${file}`, line }, undefined, { key: record.run_id, value: record.text.length });
  };
}

const JSONL = '.jsonl';

/** A run_id an earlier valid row took. */
const takenRunIdError = (runId: string): string => `run_id ${JSON.stringify(runId)} was taken by an earlier row`;

const COLLECT_FLAGS = {
  source: option('string', 'NAME', 'as a filter: the _kb source the rows come from (data/_kb/NAME.jsonl)'),
};

/** collect: raw `_kb` logs → the evidence tree, partitioned by the UTC date of each run. */
export const collectStage: TreeStage<typeof COLLECT_FLAGS> = {
  kind: 'tree',
  name: 'collect',
  receipt: 'collect',
  summary: 'data/_kb/*.jsonl → data/evidence/YYYY/MM/DD/<source>.jsonl',
  reads: 'kb',
  writes: LAYOUT.evidence,
  layout: 'partitioned',
  filterOnly: ['source'],
  flags: COLLECT_FLAGS,
  sampleMetric: EVIDENCE_TEXT_LENGTH,
  usesRules: false,
  split: { by: 'rows', duplicatesBy: 'run-id', duplicateError: (_key, raw) => takenRunIdError((raw as { run_id: string }).run_id) },
  invariants: [rowsAddUp],
  written: writtenRows('evidenceRecord'),
  rows: ({ flags, recordedAt }) => {
    const taken = new IdSet();
    // On the standard layout each _kb file names its source; as a filter, --source names it.
    return (input) =>
      flags.source === undefined
        ? collectRow({ source: sourceNameOf(input.display), kbFile: input.display, recordedAt, taken })
        : collectRow({ source: flags.source, kbFile: `${LAYOUT.kb}/${flags.source}${JSONL}`, recordedAt, taken });
  },
};

/** The source name of a `_kb` file (`data/_kb/<source>.jsonl`): its name without the `.jsonl`. */
export const sourceNameOf = (kbFile: string): string => kbFile.slice(kbFile.lastIndexOf('/') + 1, -JSONL.length);

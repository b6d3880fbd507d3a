/** What the run report page is made from (docs/report.md describes each section). */
import type { QuarantineReason } from '../../records.js';
import type { FileDigest } from '../../receipts.js';
import type { RunStage } from '../../receipts.js';
import type { RunReports } from '../drift.js';
import type { BaselineEntry, DriftReport, RunSummary, StageReceipt } from '../../receipts.js';

/**
 * One shard of a sharded run, as the sharding layer reports it. The page shows a per-shard table
 * only when `ReportData.shards` is given; the loader never guesses shards.
 */
export interface ShardReport {
  /** 0-based shard number. */
  shard: number;
  /** The run-all stage it ran, for a run planned phase by phase (one report per shard and stage). */
  stage?: RunStage;
  /** `missing`: the shard never reported back (its rows are not in this run's outputs). */
  status: 'done' | 'missing';
  rows_in: number;
  /** Rows it kept (a pairing stage: rows that passed its gates; the merge makes the pairs). */
  rows_out: number;
  /** The files the shard wrote, each named by the output it is a part of (paths relative to the root as in receipts). */
  outputs: FileDigest[];
}

/** One quarantined row, cut to what a person needs to find and judge it. */
export interface QuarantineExample {
  /** Where the input row was (file relative to the root, 0-based line). */
  source_file: string;
  line_offset: number;
  /** The first few `errors`, each cut; `errors_omitted` says how many more the row had. */
  errors: string[];
  errors_omitted: number;
  /** The start of `JSON.stringify(source_record)`; `record_cut` when there was more. */
  record_start: string;
  record_cut: boolean;
}

export interface QuarantineReasonExamples {
  reason: QuarantineReason;
  /** At most `QUARANTINE_EXAMPLES_PER_REASON`, in file order. */
  rows: QuarantineExample[];
}

/**
 * How a stage's quarantine file was read. Examples are shown only from the bytes the receipt
 * hashed: a file another run has rewritten since is not this run's quarantine.
 * - `read`: streamed whole, its sha256 and size match the receipt.
 * - `changed`: the file is not the one the receipt describes (`detail` says how); no examples.
 * - `missing`: the receipt lists the file but it is gone.
 * - `not_in_receipt`: the stage's receipt lists no quarantine file (a stage that ran no rows' worth).
 */
export type QuarantineFileStatus = 'read' | 'changed' | 'missing' | 'not_in_receipt';

export interface QuarantineSample {
  stage: RunStage;
  /** `exports/quarantine/<stage>.jsonl`, relative to the root. */
  file: string;
  status: QuarantineFileStatus;
  detail: string;
  /** Reasons in the closed set's order, only those with a row in the file. */
  reasons: QuarantineReasonExamples[];
  /** Lines that were no quarantine row: too long to parse, not JSON, or not the record's shape. */
  unreadable_lines: number;
}

/** Problems met while reading the baselines file: shown on the page, never silently skipped. */
export interface LineProblem {
  /** 0-based line number, as everywhere in this project. */
  line: number;
  message: string;
}

export interface BaselineHistory {
  /** `data/_kb/audit_baselines.jsonl`, relative to the root. */
  file: string;
  /**
   * Oldest first: the last `limit` entries up to and including this run's (its last entry, should
   * the id repeat). Runs appended after it are not shown, so a run's page does not change when
   * later runs happen. When the run has no entry, the last `limit` entries of the file.
   */
  entries: BaselineEntry[];
  /** Entries before the kept window's end, the shown ones included. */
  total_entries: number;
  limit: number;
  this_run_found: boolean;
  /** Whether the file exists at all (a first run-all creates it). */
  exists: boolean;
  /** The first few problem lines, and how many there were in all. */
  problems: LineProblem[];
  problem_count: number;
}

export interface ReportData {
  summary: RunSummary;
  /** The receipts of the stages that ran, in stage order (skipped stages have none). */
  receipts: StageReceipt[];
  drift: DriftReport;
  /** The run drift.json compared against (its summary and receipts), when it still exists. */
  prior: RunReports | undefined;
  baselines: BaselineHistory;
  /** One entry per stage that ran, in stage order. */
  quarantine: QuarantineSample[];
  /** The tool version the receipts name, or null when no stage ran. */
  tool_version: string | null;
  /** Per-shard status of a sharded run; the section appears only when this is given. */
  shards?: ShardReport[];
}

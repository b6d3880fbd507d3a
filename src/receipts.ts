/**
 * Receipt and report shapes of a run (StageReceipt, RunSummary, DriftReport, audit baselines). Field
 * order in these types is the order written to disk.
 */
import type { Category, QuarantineReason } from './records.js';

/** A file a stage read or wrote, hashed while it streamed through. */
export interface FileDigest {
  path: string;
  bytes: number;
  sha256: string;
}

/** A stage's name in receipts and summaries (`collect`, `score`, `export-sft`, …), from the stage registry. */
export type RunStage = string;

/** Whether a stage kept its own promises; quarantined rows are warnings, never errors. */
export interface StageValidation {
  passed: boolean;
  errors: string[];
  warnings: string[];
}

export interface RecordCounts {
  in: number;
  out: number;
  quarantined: number;
  /** Preference only. */
  unpaired?: number;
  by_reason: Partial<Record<QuarantineReason, number>>;
  by_category: Partial<Record<Category, number>>;
  /** Rows written to each split of `--split`, in the order given; absent when the output is not split. */
  by_split?: Record<string, number>;
}

export interface StageReceipt {
  schema_version: 1;
  run_id: string;
  stage: RunStage;
  tool_version: string;
  git_sha: string | null;
  recorded_at: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  inputs: FileDigest[];
  outputs: FileDigest[];
  input_hash: string;
  output_hash: string;
  record_counts: RecordCounts;
  validation: StageValidation;
  /** metric name → the values of the SmallestHashSample (core/sample.ts). */
  samples: Record<string, number[]>;
}

export interface StageSummary {
  stage: RunStage;
  passed: boolean;
  skipped: boolean;
  in: number;
  out: number;
  quarantined: number;
}

export interface RunSummary {
  schema_version: 1;
  run_id: string;
  recorded_at: string;
  started_at: string;
  finished_at: string;
  stages: StageSummary[];
  total_records_in: number;
  total_records_out: number;
  datasets: { sft: number; rag: number; preference: number };
  total_quarantined: number;
  overall_passed: boolean;
  run_hash: string;
}

export type DriftSeverity = 'ok' | 'warn' | 'alert';
export type MetricFlag = 'ok' | 'warn' | 'first_run';
export type PsiVerdict = 'stable' | 'minor' | 'major';

export interface DriftMetric {
  metric: string;
  /** null when there is no prior run. */
  prior: number | null;
  current: number;
  /** null when there is no prior run or the prior is 0. */
  pct_change: number | null;
  flag: MetricFlag;
}

export interface PsiBucket {
  lower: number;
  upper: number;
  /** Proportions of each side's sample, before the ε clamp. */
  prior: number;
  current: number;
}

export interface DriftDistribution {
  metric: string;
  psi: number;
  verdict: PsiVerdict;
  buckets: PsiBucket[];
}

export interface DriftReport {
  schema_version: 1;
  run_id: string;
  prior_run_id: string | null;
  severity: DriftSeverity;
  flags: string[];
  metrics: DriftMetric[];
  distributions: DriftDistribution[];
  deterministic_violation: boolean;
}

/** One line of data/_kb/audit_baselines.jsonl. */
export interface BaselineEntry {
  run_id: string;
  recorded_at: string;
  metrics: Record<string, number>;
}

/**
 * One thing an audit (verify) found that does not hold: the file it is about (root-relative, as
 * receipts name files), the 1-based line when it is about one row, what was checked, what the
 * receipts or the stage's promises say, and what is there.
 */
export interface Mismatch {
  file: string;
  line: number | null;
  check: string;
  expected: string;
  found: string;
}

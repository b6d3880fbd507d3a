import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { DistillError, ioError } from '../src/errors.js';
import { LAYOUT } from '../src/layout.js';
import type { DriftSeverity, Mismatch, RunSummary, StageReceipt } from '../src/receipts.js';
import { readReport } from '../src/report/drift.js';
import { runHash } from '../src/report/hashes.js';
import { validators } from '../src/schemas/validators.js';
import { datasetRows, EXPORT_STAGES, STAGES } from '../src/stages/registry.js';
import { placeOf } from './plan.js';

/**
 * What a run's folder says of it: `passed` or `failed` as its summary says, when its reports agree;
 * `incomplete` when run-all did not finish writing them (no summary.json, or a receipt the summary
 * names is missing); `inconsistent` when they disagree or cannot be read (receipts of another run
 * under the same id, counts or hashes the summary does not share).
 */
export type RunState = 'passed' | 'failed' | 'incomplete' | 'inconsistent';

/** A receipt in a run's folder, with its file named relative to the root. */
export interface ReceiptFile {
  file: string;
  receipt: StageReceipt;
}

/** A run's folder read: its summary and receipts, and whatever keeps them from describing one finished run. */
export interface RunFolder {
  /** The folder's name. */
  runId: string;
  dir: string;
  /** The folder relative to the root, as messages name it. */
  display: string;
  summary: RunSummary | undefined;
  /** The receipts found, in the summary's stage order (the registry's without a summary). */
  receipts: ReceiptFile[];
  /** Reports that exist but could not be read or are not what they claim to be. */
  unreadable: DistillError[];
  /** Where the reports disagree or are missing; empty for a run that finished and agrees with itself. */
  problems: Mismatch[];
  state: RunState;
}

const SUMMARY_FILE = 'summary.json';

const problem = (file: string, check: string, expected: string, found: string): Mismatch => ({ file, line: null, check, expected, found });

/** Reads a report, keeping a damaged one as `unreadable` rather than throwing. */
async function readKept<T>(file: string, validate: ValidateFunction<T>, unreadable: DistillError[]): Promise<T | undefined> {
  try {
    return await readReport(file, validate);
  } catch (error) {
    if (!(error instanceof DistillError)) throw error;
    unreadable.push(error);
    return undefined;
  }
}

/**
 * Reads `reports/distillation/<runId>/` under `root`: the summary, and the receipt of every stage the
 * summary says ran (without a summary, of every registry stage). Damaged reports are collected, not
 * thrown: listing runs must go on past one bad folder.
 */
export async function readRunFolder(root: string, runId: string): Promise<RunFolder> {
  const dir = path.join(root, LAYOUT.reports, runId);
  const display = `${LAYOUT.reports}/${runId}`;
  const { runSummary, openStageReceipt } = validators();
  const unreadable: DistillError[] = [];
  const summary = await readKept(path.join(dir, SUMMARY_FILE), runSummary, unreadable);
  const summaryDamaged = unreadable.length > 0;
  const names = summary === undefined ? STAGES.map((stage) => stage.receipt) : summary.stages.filter((stage) => !stage.skipped).map((stage) => stage.stage);
  const receipts: ReceiptFile[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const receipt = await readKept(path.join(dir, `${name}.json`), openStageReceipt, unreadable);
    if (receipt !== undefined) receipts.push({ file: `${display}/${name}.json`, receipt });
    else if (unreadable.every((error) => error.path !== path.join(dir, `${name}.json`))) missing.push(name);
  }
  const incomplete: Mismatch[] = [];
  const inconsistent: Mismatch[] = [];
  for (const { file, receipt } of receipts) {
    const named = path.posix.basename(file, '.json');
    if (receipt.stage !== named) inconsistent.push(problem(file, 'stage', named, receipt.stage));
  }
  if (summary === undefined) {
    if (!summaryDamaged) incomplete.push(problem(`${display}/${SUMMARY_FILE}`, 'summary', 'the summary run-all writes after the last stage', 'no such file (the run was killed, or is still running)'));
    inconsistent.push(...receiptsDisagree(receipts, runId));
  } else {
    for (const name of missing) incomplete.push(problem(`${display}/${name}.json`, 'receipt', `the receipt of ${name} (the summary says it ran)`, 'no such file'));
    inconsistent.push(...summaryDisagrees(display, runId, summary, receipts, receipts.length === names.length));
  }
  const state: RunState =
    inconsistent.length > 0 || unreadable.length > 0 ? 'inconsistent' : incomplete.length > 0 ? 'incomplete' : summary!.overall_passed ? 'passed' : 'failed';
  return { runId, dir, display, summary, receipts, unreadable, problems: [...inconsistent, ...incomplete], state };
}

/** Without a summary, the receipts must at least be of one run: this folder's id and one recorded_at. */
function receiptsDisagree(receipts: readonly ReceiptFile[], runId: string): Mismatch[] {
  const recordedAt = receipts[0]?.receipt.recorded_at;
  const problems: Mismatch[] = [];
  for (const { file, receipt } of receipts) {
    if (receipt.run_id !== runId) problems.push(problem(file, 'run_id', runId, receipt.run_id));
    if (receipt.recorded_at !== recordedAt) problems.push(problem(file, 'recorded_at', `${recordedAt} (as the first receipt)`, receipt.recorded_at));
  }
  return problems;
}

/**
 * Where the summary and the receipts it names do not describe the same run: another run id or
 * recorded_at, a receipt written after the summary (a later run under the same id stopped before
 * its own summary), counts, datasets, totals, the verdict or run_hash that do not follow from the
 * receipts. Expected is what the summary says; found is what the receipts give.
 */
function summaryDisagrees(display: string, runId: string, summary: RunSummary, receipts: readonly ReceiptFile[], allPresent: boolean): Mismatch[] {
  const file = `${display}/${SUMMARY_FILE}`;
  const problems: Mismatch[] = [];
  if (summary.run_id !== runId) problems.push(problem(file, 'run_id', runId, summary.run_id));
  const finished = Date.parse(summary.finished_at);
  const byStage = new Map(receipts.map((entry) => [path.posix.basename(entry.file, '.json'), entry]));
  for (const entry of receipts) {
    const { receipt } = entry;
    if (receipt.run_id !== summary.run_id) problems.push(problem(entry.file, 'run_id', summary.run_id, receipt.run_id));
    if (receipt.recorded_at !== summary.recorded_at) problems.push(problem(entry.file, 'recorded_at', summary.recorded_at, receipt.recorded_at));
    if (Date.parse(receipt.started_at) > finished) {
      problems.push(problem(entry.file, 'started_at', `at most ${summary.finished_at}, when summary.json was written`, `${receipt.started_at} (a later run under this id wrote it)`));
    }
  }
  for (const stage of summary.stages) {
    const entry = stage.skipped ? undefined : byStage.get(stage.stage);
    if (entry === undefined) continue;
    const counts = entry.receipt.record_counts;
    const name = path.posix.basename(entry.file);
    for (const [field, value] of [['in', counts.in], ['out', counts.out], ['quarantined', counts.quarantined]] as const) {
      if (stage[field] !== value) problems.push(problem(file, `${stage.stage}.${field}`, String(stage[field]), `${value} (${name})`));
    }
    if (stage.passed !== entry.receipt.validation.passed) problems.push(problem(file, `${stage.stage}.passed`, String(stage.passed), `${entry.receipt.validation.passed} (${name})`));
  }
  if (!allPresent) return problems;
  const ran = summary.stages.filter((stage) => !stage.skipped).map((stage) => byStage.get(stage.stage)!.receipt);
  for (const dataset of EXPORT_STAGES) {
    const out = byStage.get(dataset.receipt)?.receipt.record_counts.out ?? 0;
    const said = datasetRows(summary, dataset);
    if (said !== out) problems.push(problem(file, `datasets.${dataset.name}`, String(said), `${out} (${dataset.receipt}.json)`));
  }
  const totals = [
    ['total_records_in', ran.reduce((sum, r) => sum + r.record_counts.in, 0)],
    ['total_records_out', ran.reduce((sum, r) => sum + r.record_counts.out, 0)],
    ['total_quarantined', ran.reduce((sum, r) => sum + r.record_counts.quarantined, 0)],
  ] as const;
  for (const [field, value] of totals) if (summary[field] !== value) problems.push(problem(file, field, String(summary[field]), `${value} (the receipts' sum)`));
  const passed = summary.stages.every((stage) => !stage.skipped && stage.passed);
  if (summary.overall_passed !== passed) problems.push(problem(file, 'overall_passed', String(summary.overall_passed), `${passed} (from its stages)`));
  const recomputed = runHash(ran.map((receipt) => receipt.output_hash));
  if (summary.run_hash !== recomputed) problems.push(problem(file, 'run_hash', summary.run_hash, `${recomputed} (from the receipts' output_hash)`));
  return problems;
}

/** One run as `runs` lists it. */
export interface RunListing {
  run_id: string;
  state: RunState;
  /** Only a run that finished, passed and agrees with itself is passed. */
  passed: boolean;
  recorded_at: string | null;
  started_at: string | null;
  /** The summary's; null when there is none. */
  finished_at: string | null;
  /** Rows written per dataset (sft, rag, preference): the summary's, or the receipts' found; null when unknown. */
  datasets: Record<string, number | null>;
  /** drift.json's severity; null when there is none or it cannot be read. */
  drift: DriftSeverity | null;
  /** One line per problem, as verify prints them. */
  problems: string[];
}

/** A problem as one line: `<file>[:<line>]: <check>: expected <expected>, found <found>`. */
export const mismatchLine = (m: Mismatch): string => `${m.file}${m.line === null ? '' : `:${m.line}`}: ${m.check}: expected ${m.expected}, found ${m.found}`;

/** The runs under `<root>/reports/distillation/`, newest first (see RunListing). No reports folder: none. */
export async function listRuns(options: { cwd?: string; root?: string }): Promise<RunListing[]> {
  const { root } = placeOf(options);
  const reports = path.join(root, LAYOUT.reports);
  let names: string[];
  try {
    names = await readdir(reports);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(LAYOUT.reports, error);
  }
  const listed: Array<{ listing: RunListing; at: number }> = [];
  for (const name of names) {
    const info = await stat(path.join(reports, name)).catch((error: unknown) => {
      throw ioError(`${LAYOUT.reports}/${name}`, error);
    });
    if (!info.isDirectory() || name.startsWith('.')) continue; // a stray file, or a hidden temporary folder
    const folder = await readRunFolder(root, name);
    listed.push({ listing: await listingOf(folder), at: lastActivity(folder) ?? info.mtimeMs });
  }
  // Newest first by when the run last wrote a report; equal times in name order.
  listed.sort((a, b) => b.at - a.at || (a.listing.run_id < b.listing.run_id ? -1 : a.listing.run_id > b.listing.run_id ? 1 : 0));
  return listed.map((entry) => entry.listing);
}

/** When a run last finished something: its summary, else its latest receipt. */
function lastActivity(folder: RunFolder): number | undefined {
  if (folder.summary !== undefined) return Date.parse(folder.summary.finished_at);
  const times = folder.receipts.map(({ receipt }) => Date.parse(receipt.finished_at));
  return times.length === 0 ? undefined : Math.max(...times);
}

async function listingOf(folder: RunFolder): Promise<RunListing> {
  const { summary, receipts } = folder;
  const unreadable = [...folder.unreadable];
  const drift = summary === undefined ? undefined : await readKept(path.join(folder.dir, 'drift.json'), validators().driftReport, unreadable);
  const datasets = Object.fromEntries(
    EXPORT_STAGES.map((stage) => [
      stage.name,
      summary !== undefined ? datasetRows(summary, stage) : (receipts.find(({ receipt }) => receipt.stage === stage.receipt)?.receipt.record_counts.out ?? null),
    ]),
  );
  const startedAt = summary?.started_at ?? receipts.map(({ receipt }) => receipt.started_at).sort()[0] ?? null;
  const state = unreadable.length > folder.unreadable.length ? 'inconsistent' : folder.state;
  return {
    run_id: folder.runId,
    state,
    passed: state === 'passed',
    recorded_at: summary?.recorded_at ?? receipts[0]?.receipt.recorded_at ?? null,
    started_at: startedAt,
    finished_at: summary?.finished_at ?? null,
    datasets,
    drift: drift?.severity ?? null,
    problems: [...unreadable.map((error) => error.message), ...folder.problems.map(mismatchLine)],
  };
}

/**
 * Gathers a run's ReportData from the standard layout: the run's receipts, summary and drift report
 * (small JSON files, read whole and validated), the prior run drift compared against, and — streamed
 * line by line in bounded memory — the audit baselines and the stages' quarantine files.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { cutCodePoints } from '../../core/text.js';
import { DistillError, ioError, usageError } from '../../errors.js';
import { DEFAULT_MAX_LINE_BYTES } from '../../io/line-splitter.js';
import { openLines } from '../../io/line-source.js';
import { isRunId, LAYOUT, RUN_ID_RULE } from '../../layout.js';
import { QUARANTINE_REASONS, type QuarantineReason } from '../../records.js';
import { describeErrors, validators } from '../../schemas/validators.js';
import { latestRun, readReport, type RunReports } from '../drift.js';
import type { BaselineEntry, RunSummary, StageReceipt } from '../../receipts.js';
import type { BaselineHistory, QuarantineExample, QuarantineSample, ReportData, ShardReport } from './types.js';

/** Example rows kept per quarantine reason and stage. */
export const QUARANTINE_EXAMPLES_PER_REASON = 5;
/** Baseline entries kept for the history: a bounded window however long the file grows. */
export const BASELINE_HISTORY_LIMIT = 200;
/** Code points kept of an example's source record (as JSON) and of each of its errors. */
const RECORD_START_CHARS = 300;
const ERROR_CHARS = 300;
const ERRORS_PER_EXAMPLE = 5;
/** Problem lines of the baselines file listed on the page (all are counted). */
const LISTED_PROBLEMS = 5;
/** A baseline entry is a few hundred bytes; a longer line is a damaged one, and is never buffered past this. */
const BASELINE_MAX_LINE_BYTES = 1 << 20;
const BASELINES_FILE = 'audit_baselines.jsonl';

/** Which run: by id, or the one that finished last. */
export type RunSelector = { runId: string; latest?: never } | { latest: true; runId?: never };

export type LoadReportOptions = RunSelector & {
  root: string;
  /** Per-shard status from the sharding layer; passed through to the page as given. */
  shards?: ShardReport[];
};

const QUARANTINE_FOLDER = 'exports/quarantine/';


async function findRun(root: string, selector: RunSelector): Promise<{ dir: string; summary: RunSummary }> {
  const reports = path.join(root, LAYOUT.reports);
  if (selector.latest === true) {
    const run = await latestRun(reports);
    if (run === undefined) throw ioError(reports, new Error('no run has finished yet'));
    return run;
  }
  if (!isRunId(selector.runId)) throw usageError(`--run-id ${JSON.stringify(selector.runId)} is not a run id (${RUN_ID_RULE})`);
  const dir = path.join(reports, selector.runId);
  const file = path.join(dir, 'summary.json');
  const summary = await readReport(file, validators().runSummary);
  if (summary === undefined) throw new DistillError('DS_IO', `${file}: no such run (no summary.json)`, { path: file });
  return { dir, summary };
}

/** The receipts of the stages the summary says ran; a missing or foreign one is an error naming it. */
async function readReceipts(dir: string, summary: RunSummary): Promise<StageReceipt[]> {
  const { stageReceipt } = validators();
  const receipts: StageReceipt[] = [];
  for (const stage of summary.stages) {
    if (stage.skipped) continue;
    const file = path.join(dir, `${stage.stage}.json`);
    const receipt = await readReport(file, stageReceipt);
    if (receipt === undefined) throw new DistillError('DS_IO', `${file}: missing, but the summary says ${stage.stage} ran`, { path: file });
    if (receipt.run_id !== summary.run_id) throw new DistillError('DS_IO', `${file}: a receipt of run ${JSON.stringify(receipt.run_id)}, not of ${JSON.stringify(summary.run_id)}`, { path: file });
    receipts.push(receipt);
  }
  return receipts;
}

/** The run drift.json names as its prior, with the receipts it still has; undefined when it is gone. */
async function readPrior(root: string, priorRunId: string | null): Promise<RunReports | undefined> {
  if (priorRunId === null || !isRunId(priorRunId)) return undefined;
  const dir = path.join(root, LAYOUT.reports, priorRunId);
  const { runSummary, stageReceipt } = validators();
  const summary = await readReport(path.join(dir, 'summary.json'), runSummary);
  if (summary === undefined) return undefined;
  const receipts: StageReceipt[] = [];
  for (const stage of summary.stages) {
    const receipt = await readReport(path.join(dir, `${stage.stage}.json`), stageReceipt);
    if (receipt !== undefined) receipts.push(receipt);
  }
  return { summary, receipts };
}

/** Whether `file` exists, and its size; other stat failures are I/O errors naming it. */
async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(file, error);
  }
}

/**
 * The baseline history of `runId`, streamed: a ring of the last `limit` entries, copied out each
 * time an entry of this run passes (rare), so memory stays at `limit` entries for any file length.
 * The whole file is read because the run's last entry can be anywhere in it.
 */
export async function readBaselineHistory(root: string, runId: string, limit: number = BASELINE_HISTORY_LIMIT): Promise<BaselineHistory> {
  const display = `${LAYOUT.kb}/${BASELINES_FILE}`;
  const absolute = path.join(root, LAYOUT.kb, BASELINES_FILE);
  const history: BaselineHistory = { file: display, entries: [], total_entries: 0, limit, this_run_found: false, exists: false, problems: [], problem_count: 0 };
  if ((await sizeOf(absolute)) === undefined) return history;
  history.exists = true;
  const { baselineEntry } = validators();
  const ring: BaselineEntry[] = [];
  let seen = 0;
  const window = (): BaselineEntry[] => (ring.length < limit ? [...ring] : [...ring.slice(seen % limit), ...ring.slice(0, seen % limit)]);
  const problem = (line: number, message: string): void => {
    history.problem_count++;
    if (history.problems.length < LISTED_PROBLEMS) history.problems.push({ line, message });
  };
  for await (const batch of await openLines({ display, absolute }, { maxLineBytes: BASELINE_MAX_LINE_BYTES })) {
    for (const line of batch) {
      if (line.tooLong) {
        problem(line.line, `longer than ${BASELINE_MAX_LINE_BYTES} bytes`);
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(line.text);
      } catch (error) {
        problem(line.line, `not JSON (${(error as Error).message})`);
        continue;
      }
      if (!baselineEntry(value)) {
        problem(line.line, `not a baseline entry: ${describeErrors(baselineEntry.errors).join('; ')}`);
        continue;
      }
      if (ring.length < limit) ring.push(value);
      else ring[seen % limit] = value;
      seen++;
      if (value.run_id === runId) {
        history.entries = window();
        history.total_entries = seen;
        history.this_run_found = true;
      }
    }
  }
  if (!history.this_run_found) {
    history.entries = window();
    history.total_entries = seen;
  }
  return history;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const REASONS: ReadonlySet<string> = new Set(QUARANTINE_REASONS);

/** A quarantine row cut to an example, or undefined when the value is not a quarantine row. */
function exampleOf(value: unknown): { reason: QuarantineReason; example: QuarantineExample } | undefined {
  if (!isObject(value)) return undefined;
  const { reason, errors, source_provenance: where, source_record: record } = value;
  if (typeof reason !== 'string' || !REASONS.has(reason)) return undefined;
  if (!Array.isArray(errors) || !errors.every((e): e is string => typeof e === 'string')) return undefined;
  if (!isObject(where) || typeof where['source_file'] !== 'string' || !Number.isInteger(where['line_offset'])) return undefined;
  if (record === undefined) return undefined;
  const json = JSON.stringify(record);
  const start = cutCodePoints(json, RECORD_START_CHARS);
  return {
    reason: reason as QuarantineReason,
    example: {
      source_file: where['source_file'],
      line_offset: where['line_offset'] as number,
      errors: errors.slice(0, ERRORS_PER_EXAMPLE).map((e) => cutCodePoints(e, ERROR_CHARS)),
      errors_omitted: Math.max(0, errors.length - ERRORS_PER_EXAMPLE),
      record_start: start,
      record_cut: start.length < json.length,
    },
  };
}

/**
 * Up to five examples per reason from a stage's quarantine file, streamed and hashed on the way.
 * Examples are kept only when the bytes are the ones the receipt hashed, since a later run rewrites
 * the file; that proof needs every byte, so the file is read to its end even once every reason has
 * its examples. Memory: five cut examples per reason of the closed set, and one line at a time.
 */
export async function readQuarantineSample(root: string, receipt: StageReceipt): Promise<QuarantineSample> {
  // The receipt names the stage's quarantine among its outputs.
  const digest = receipt.outputs.find((o) => o.path.startsWith(QUARANTINE_FOLDER));
  const display = digest?.path ?? QUARANTINE_FOLDER;
  const absolute = path.join(root, display);
  const sample: QuarantineSample = { stage: receipt.stage, file: display, status: 'read', detail: '', reasons: [], unreadable_lines: 0 };
  if (digest === undefined) return { ...sample, status: 'not_in_receipt', detail: 'the receipt lists no quarantine file.' };
  const size = await sizeOf(absolute);
  if (size === undefined) return { ...sample, status: 'missing', detail: 'the file is gone; no examples.' };
  if (size !== digest.bytes) {
    return { ...sample, status: 'changed', detail: `the file has ${size} bytes now against ${digest.bytes} in the receipt: a later run rewrote it, so no examples are shown.` };
  }
  const hash = createHash('sha256');
  const kept = new Map<QuarantineReason, QuarantineExample[]>();
  let unreadable = 0;
  const lines = await openLines({ display, absolute }, { maxLineBytes: DEFAULT_MAX_LINE_BYTES, onRawChunk: (chunk) => hash.update(chunk) });
  for await (const batch of lines) {
    for (const line of batch) {
      let value: unknown;
      try {
        value = line.tooLong ? undefined : JSON.parse(line.text);
      } catch {
        value = undefined; // counted just below with every other line that is no quarantine row
      }
      const found = exampleOf(value);
      if (found === undefined) {
        unreadable++;
        continue;
      }
      const rows = kept.get(found.reason) ?? [];
      if (rows.length < QUARANTINE_EXAMPLES_PER_REASON) kept.set(found.reason, [...rows, found.example]);
    }
  }
  if (hash.digest('hex') !== digest.sha256) {
    return { ...sample, status: 'changed', detail: 'its sha256 is not the one in the receipt: a later run rewrote it, so no examples are shown.' };
  }
  const reasons = QUARANTINE_REASONS.filter((reason) => kept.has(reason)).map((reason) => ({ reason, rows: kept.get(reason)! }));
  return { ...sample, detail: 'its sha256 matches the receipt.', reasons, unreadable_lines: unreadable };
}

/** Everything the page shows about one run, read from `root`'s standard layout. */
export async function loadReportData(options: LoadReportOptions): Promise<ReportData> {
  return (await loadRun(options)).data;
}

/** loadReportData, plus the folder the run's reports are in (where report.html goes by default). */
export async function loadRun(options: LoadReportOptions): Promise<{ data: ReportData; dir: string }> {
  const { root } = options;
  const { dir, summary } = await findRun(root, options);
  const receipts = await readReceipts(dir, summary);
  const driftFile = path.join(dir, 'drift.json');
  const drift = await readReport(driftFile, validators().driftReport);
  if (drift === undefined) throw new DistillError('DS_IO', `${driftFile}: missing (run-all writes it after summary.json)`, { path: driftFile });
  const prior = await readPrior(root, drift.prior_run_id);
  const baselines = await readBaselineHistory(root, summary.run_id);
  const quarantine: QuarantineSample[] = [];
  for (const receipt of receipts) quarantine.push(await readQuarantineSample(root, receipt));
  const data: ReportData = {
    summary,
    receipts,
    drift,
    prior,
    baselines,
    quarantine,
    tool_version: receipts[0]?.tool_version ?? null,
    ...(options.shards === undefined ? {} : { shards: options.shards }),
  };
  return { data, dir };
}

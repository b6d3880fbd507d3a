import { readdir } from 'node:fs/promises';
import { readWritten } from '../io/small-file.js';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { DistillError, ioError } from '../errors.js';
import { describeErrors, validators } from '../schemas/validators.js';
import { psi } from './psi.js';
import type { DriftDistribution, DriftMetric, DriftReport, RunSummary, StageReceipt } from '../receipts.js';
import { byCodeUnits } from '../core/text.js';

/** Default of --drift-threshold / DISTILL_DRIFT_THRESHOLD (docs/receipts.md). */
export const DEFAULT_DRIFT_THRESHOLD = 0.2;

/** What drift compares: a run's summary and the receipts of the stages that ran (skipped ones have none). */
export interface RunReports {
  summary: RunSummary;
  receipts: StageReceipt[];
}

/**
 * The counts drift compares, by metric name: `<stage>.in|out|quarantined` from the summary (the
 * same numbers as the audit baselines; a skipped stage counts 0), `category.<name>` from the score
 * receipt, `reason.<name>` summed over the stages, `dataset.<name>`.
 */
function countMetrics({ summary, receipts }: RunReports): Map<string, number> {
  const metrics = new Map<string, number>();
  const add = (name: string, n: number): void => {
    metrics.set(name, (metrics.get(name) ?? 0) + n);
  };
  for (const stage of summary.stages) {
    add(`${stage.stage}.in`, stage.in);
    add(`${stage.stage}.out`, stage.out);
    add(`${stage.stage}.quarantined`, stage.quarantined);
  }
  for (const receipt of receipts) {
    for (const [reason, n] of Object.entries(receipt.record_counts.by_reason)) add(`reason.${reason}`, n);
    if (receipt.stage !== 'score') continue;
    for (const [category, n] of Object.entries(receipt.record_counts.by_category)) add(`category.${category}`, n);
  }
  for (const [dataset, n] of Object.entries(summary.datasets)) add(`dataset.${dataset}`, n);
  return metrics;
}

/** Sample values by metric name; a metric belongs to one stage, and the first in stage order wins. */
function sampleMetrics(receipts: readonly StageReceipt[]): Map<string, number[]> {
  const samples = new Map<string, number[]>();
  for (const receipt of receipts) {
    for (const [metric, values] of Object.entries(receipt.samples)) if (!samples.has(metric)) samples.set(metric, values);
  }
  return samples;
}

/**
 * DriftReport v1 of `current` against `prior` (docs/receipts.md).
 *
 * - No prior run: every count metric is `first_run` (prior and pct_change null) and nothing warns;
 *   distributions compare against an empty sample, so they read psi 0, stable, no buckets. Only a
 *   failed run raises the severity.
 * - Metrics are the union of both runs' names, a name missing on one side counting 0 (counts by
 *   reason and category only list what occurred), sorted by name. A reason with no prior count
 *   flags `new_reason:<name>` instead of `count:reason.<name>`; any other warned metric flags
 *   `count:<metric>`.
 * - A validation error string a stage's prior receipt did not have flags `new_validation_error:<stage>`.
 * - Distributions cover every sample metric of either run, sorted by name; a side without the
 *   metric is an empty sample.
 * - Flags, alerts first: run_failed, deterministic_violation:<stage> (stage order), then
 *   new_validation_error:<stage> (stage order), count:/new_reason: (metric order), psi:<metric>.
 */
export function driftReport(current: RunReports, prior: RunReports | undefined, threshold: number = DEFAULT_DRIFT_THRESHOLD): DriftReport {
  const alerts: string[] = [];
  const warnings: string[] = [];
  if (!current.summary.overall_passed) alerts.push('run_failed');

  let deterministicViolation = false;
  if (prior !== undefined) {
    for (const receipt of current.receipts) {
      const before = prior.receipts.find((r) => r.stage === receipt.stage);
      if (before === undefined) continue;
      const sameInputs = before.input_hash === receipt.input_hash && before.recorded_at === receipt.recorded_at && before.tool_version === receipt.tool_version;
      if (sameInputs && before.output_hash !== receipt.output_hash) {
        deterministicViolation = true;
        alerts.push(`deterministic_violation:${receipt.stage}`);
      }
      const known = new Set(before.validation.errors);
      if (receipt.validation.errors.some((error) => !known.has(error))) warnings.push(`new_validation_error:${receipt.stage}`);
    }
  }

  const currentCounts = countMetrics(current);
  const priorCounts = prior === undefined ? undefined : countMetrics(prior);
  const names = [...new Set([...currentCounts.keys(), ...(priorCounts?.keys() ?? [])])].sort(byCodeUnits);
  const metrics = names.map((metric): DriftMetric => {
    const now = currentCounts.get(metric) ?? 0;
    if (priorCounts === undefined) return { metric, prior: null, current: now, pct_change: null, flag: 'first_run' };
    const before = priorCounts.get(metric) ?? 0;
    const pct = before === 0 ? null : (now - before) / before;
    const warn = pct === null ? now > 0 : Math.abs(pct) > threshold;
    if (warn) warnings.push(before === 0 && metric.startsWith('reason.') ? `new_reason:${metric.slice('reason.'.length)}` : `count:${metric}`);
    return { metric, prior: before, current: now, pct_change: pct, flag: warn ? 'warn' : 'ok' };
  });

  const currentSamples = sampleMetrics(current.receipts);
  const priorSamples = sampleMetrics(prior?.receipts ?? []);
  const sampleNames = [...new Set([...currentSamples.keys(), ...priorSamples.keys()])].sort(byCodeUnits);
  const distributions = sampleNames.map((metric): DriftDistribution => {
    const result = psi(priorSamples.get(metric) ?? [], currentSamples.get(metric) ?? []);
    if (result.verdict === 'major') warnings.push(`psi:${metric}`);
    return { metric, psi: result.psi, verdict: result.verdict, buckets: result.buckets };
  });

  return {
    schema_version: 1,
    run_id: current.summary.run_id,
    prior_run_id: prior?.summary.run_id ?? null,
    severity: alerts.length > 0 ? 'alert' : warnings.length > 0 ? 'warn' : 'ok',
    flags: [...alerts, ...warnings],
    metrics,
    distributions,
    deterministic_violation: deterministicViolation,
  };
}

/** A report this tool wrote: a receipt holds at most 10,000 samples a metric, a few MB; a larger file is not one. */
const MAX_REPORT_BYTES = 64 << 20;

/**
 * One report file's text, undefined when there is none; a FIFO, a device or an oversized file in
 * its place is an I/O error naming it, never waited on or read whole.
 */
export async function readReportText(file: string): Promise<string | undefined> {
  const bytes = await readWritten(file, MAX_REPORT_BYTES, (why) => new DistillError('DS_IO', `${file}: not a valid report: ${why}`, { path: file }));
  return bytes?.toString('utf8');
}

/** Reads and validates one report file; a file that is not what it claims is an I/O error naming it. */
export async function readReport<T>(file: string, validate: ValidateFunction<T>): Promise<T | undefined> {
  const text = await readReportText(file);
  // No such report: a skipped stage, a run still going, or a stray file beside the run folders.
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw ioError(file, error);
  }
  if (!validate(value)) throw new DistillError('DS_IO', `${file}: not a valid report: ${describeErrors(validate.errors).join('; ')}`, { path: file });
  return value;
}

/**
 * The run that finished last among `reportsDir/<run_id>/summary.json`, counting only runs that
 * finished strictly before `before` (ms) when given. Folders without a summary (a run still going,
 * or one that crashed) are passed over; a summary that does not parse or validate is an error, not
 * silence. On equal finished_at the first folder in name order wins. No reports folder: no run.
 */
export async function latestRun(reportsDir: string, before = Number.POSITIVE_INFINITY): Promise<{ dir: string; summary: RunSummary } | undefined> {
  const { runSummary } = validators();
  let names: string[];
  try {
    names = await readdir(reportsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(reportsDir, error);
  }
  let best: { dir: string; summary: RunSummary; finishedAt: number } | undefined;
  for (const name of names.sort(byCodeUnits)) {
    const dir = path.join(reportsDir, name);
    const summary = await readReport(path.join(dir, 'summary.json'), runSummary);
    if (summary === undefined) continue;
    const finishedAt = Date.parse(summary.finished_at);
    if (finishedAt < before && (best === undefined || finishedAt > best.finishedAt)) best = { dir, summary, finishedAt };
  }
  return best === undefined ? undefined : { dir: best.dir, summary: best.summary };
}

/** The prior run (docs/receipts.md): the latest to finish before `currentStartedAt`, with the receipts of its stages that ran. */
export async function findPriorRun(reportsDir: string, currentStartedAt: string): Promise<RunReports | undefined> {
  const prior = await latestRun(reportsDir, Date.parse(currentStartedAt));
  if (prior === undefined) return undefined;
  const { stageReceipt } = validators();
  const receipts: StageReceipt[] = [];
  for (const { stage } of prior.summary.stages) {
    const receipt = await readReport(path.join(prior.dir, `${stage}.json`), stageReceipt);
    if (receipt !== undefined) receipts.push(receipt);
  }
  return { summary: prior.summary, receipts };
}

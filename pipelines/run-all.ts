import { execFileSync } from 'node:child_process';
import { mkdir, realpath, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DistillError, ioError } from '../src/errors.js';
import { resolveInputs } from '../src/io/inputs.js';
import { displayPath } from '../src/io/paths.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantinePath } from '../src/layout.js';
import { sortedCounts, StageStats } from '../src/stages/stats.js';
import { RUN_STAGES, validateStage, type RunStage, type StageValidation } from '../src/stages/validation.js';
import { runCollect } from './collect.js';
import { runRag, runSft, type ExportRun } from './export.js';
import { runPreference } from './preference.js';
import { runScore } from './score.js';
import { combinedHash, runHash } from '../src/report/hashes.js';
import type { DriftReport, RunSummary, StageReceipt } from '../src/report/types.js';
import { appendBaseline, baselineMetrics, baselineTable, readLastBaseline } from '../src/report/baselines.js';
import { DEFAULT_DRIFT_THRESHOLD, driftReport, findPriorRun } from '../src/report/drift.js';
import { validators } from '../src/schemas/validators.js';

export interface RunAllOptions {
  root: string;
  runId: string;
  recordedAt: string;
  toolVersion: string;
  maxLineBytes: number;
  includePartial: boolean;
  includeReview: boolean;
  repoRoot: string | undefined;
  continueOnFailure: boolean;
  /** |pct_change| past which a count drifts (SPEC §6); default 0.20. */
  driftThreshold: number | undefined;
  /** Test seam: this stage's validation fails, to exercise skipping and --continue-on-failure. */
  failValidation?: RunStage | undefined;
  onStage?: (stage: RunStage) => void;
  onBytes?: (bytes: number) => void;
}

export interface StageRecord {
  stage: RunStage;
  skipped: boolean;
  receipt: StageReceipt | undefined;
  stats: StageStats;
}

export interface RunAllResult {
  summary: RunSummary;
  drift: DriftReport;
  /** The audit-baseline drift table (SPEC §6), for stderr. */
  baselineTable: string;
  stages: StageRecord[];
  reportDir: string;
}

const BASELINES_FILE = 'audit_baselines.jsonl';

function fileTarget(root: string, absolute: string): OutputTarget {
  return { kind: 'file', path: absolute, display: displayPath(root, absolute) };
}

function exportRun(options: RunAllOptions, stage: 'sft' | 'rag' | 'preference'): ExportRun & { recordedAt: string; repoRoot: string | undefined } {
  const { root } = options;
  return {
    root,
    evidence: path.join(root, LAYOUT.evidence),
    inputs: resolveInputs([path.join(root, LAYOUT.scoredRuns)], root),
    output: fileTarget(root, path.join(root, LAYOUT[stage])),
    quarantine: fileTarget(root, quarantinePath(root, stage)),
    recordedAt: options.recordedAt,
    maxLineBytes: options.maxLineBytes,
    repoRoot: options.repoRoot,
    ...(options.onBytes ? { onBytes: options.onBytes } : {}),
  };
}

/** How run-all runs each stage on the standard layout. */
const RUNNERS: Record<RunStage, (options: RunAllOptions) => Promise<StageStats>> = {
  collect: (o) => runCollect({ root: o.root, quarantine: fileTarget(o.root, quarantinePath(o.root, 'collect')), recordedAt: o.recordedAt, maxLineBytes: o.maxLineBytes, ...(o.onBytes ? { onBytes: o.onBytes } : {}) }),
  score: (o) => runScore({ root: o.root, quarantine: fileTarget(o.root, quarantinePath(o.root, 'score')), recordedAt: o.recordedAt, maxLineBytes: o.maxLineBytes, ...(o.onBytes ? { onBytes: o.onBytes } : {}) }),
  'export-rag': async (o) => (await runRag({ ...exportRun(o, 'rag'), includeReview: o.includeReview })).stats,
  'export-sft': async (o) => (await runSft({ ...exportRun(o, 'sft'), includePartial: o.includePartial })).stats,
  'export-preference': async (o) => (await runPreference(exportRun(o, 'preference'))).stats,
};

/** The git commit of `root` when it is the top of a git work tree, else null. */
function gitShaOf(root: string, realRoot: string): string | null {
  try {
    const git = (...args: string[]): string => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return git('rev-parse', '--show-toplevel') === realRoot ? git('rev-parse', 'HEAD') : null;
  } catch {
    return null; // not a work tree, or no git: the receipt says so with null
  }
}

const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

function buildReceipt(options: RunAllOptions, stage: RunStage, stats: StageStats, validation: StageValidation, timing: { started: Date; finished: Date; durationMs: number }, gitSha: string | null): StageReceipt {
  const inputs = [...stats.inputs].sort(byPath);
  const outputs = [...stats.outputs].sort(byPath);
  const recordCounts: StageReceipt['record_counts'] = {
    in: stats.in,
    out: stats.out,
    quarantined: stats.quarantined,
    ...(stats.unpaired === undefined ? {} : { unpaired: stats.unpaired }),
    by_reason: sortedCounts(stats.byReason),
    by_category: sortedCounts(stats.byCategory),
  };
  return {
    schema_version: 1,
    run_id: options.runId,
    stage,
    tool_version: options.toolVersion,
    git_sha: gitSha,
    recorded_at: options.recordedAt,
    started_at: timing.started.toISOString(),
    finished_at: timing.finished.toISOString(),
    duration_ms: Math.round(timing.durationMs),
    inputs,
    outputs,
    input_hash: combinedHash(inputs),
    output_hash: combinedHash(outputs),
    record_counts: recordCounts,
    validation,
    samples: stats.sampleValues(),
  };
}

/** Writes a JSON report file atomically (temp + rename) after validating it against its schema. */
async function writeReport(file: string, value: unknown, validate: (value: unknown) => boolean, describe: () => string): Promise<void> {
  if (!validate(value)) throw new DistillError('DS_VALIDATION', `${path.basename(file)} would not match its schema: ${describe()}`, { path: file });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temp, file);
}

/**
 * collect → score → export-rag → export-sft → export-preference under one run_id (SPEC §6), a
 * receipt per stage. A stage whose validation fails fails the run, and later stages are skipped
 * unless continueOnFailure.
 */
export async function runAll(options: RunAllOptions): Promise<RunAllResult> {
  const runStarted = new Date();
  const threshold = options.driftThreshold ?? DEFAULT_DRIFT_THRESHOLD;
  const baselinesFile = path.join(options.root, LAYOUT.kb, BASELINES_FILE);
  const priorBaseline = await readLastBaseline(baselinesFile); // a truncated lineage fails before any work
  const realRoot = await realpath(options.root).catch((cause: unknown) => {
    throw ioError(options.root, cause);
  });
  const gitSha = gitShaOf(options.root, realRoot);
  const reportDir = path.join(options.root, LAYOUT.reports, options.runId);
  await mkdir(reportDir, { recursive: true });
  const { stageReceipt, runSummary, driftReport: driftSchema } = validators();
  const records: StageRecord[] = [];
  let failed = false;
  for (const stage of RUN_STAGES) {
    if (failed && !options.continueOnFailure) {
      records.push({ stage, skipped: true, receipt: undefined, stats: new StageStats() });
      continue;
    }
    options.onStage?.(stage);
    const started = new Date();
    const t0 = performance.now();
    let stats: StageStats;
    let validation: StageValidation;
    try {
      stats = await RUNNERS[stage](options);
      validation = validateStage(stage, stats);
    } catch (error) {
      if (!(error instanceof DistillError) || error.code !== 'DS_IO') throw error;
      stats = new StageStats();
      validation = { passed: false, errors: [error.message], warnings: [] };
    }
    if (options.failValidation === stage) validation = { ...validation, passed: false, errors: [...validation.errors, 'validation failed on request (test seam)'] };
    const receipt = buildReceipt(options, stage, stats, validation, { started, finished: new Date(), durationMs: performance.now() - t0 }, gitSha);
    await writeReport(path.join(reportDir, `${stage}.json`), receipt, stageReceipt, () => JSON.stringify(stageReceipt.errors));
    records.push({ stage, skipped: false, receipt, stats });
    if (!validation.passed) failed = true;
  }
  const summary = buildSummary(options, records, runStarted, new Date());
  await writeReport(path.join(reportDir, 'summary.json'), summary, runSummary, () => JSON.stringify(runSummary.errors));
  await writeFile(path.join(reportDir, 'summary.md'), summaryMarkdown(summary));
  const receipts = records.flatMap((r) => (r.receipt ? [r.receipt] : []));
  const prior = await findPriorRun(path.join(options.root, LAYOUT.reports), summary.started_at);
  const drift = driftReport({ summary, receipts }, prior, threshold);
  await writeReport(path.join(reportDir, 'drift.json'), drift, driftSchema, () => JSON.stringify(driftSchema.errors));
  const metrics = baselineMetrics(summary);
  await appendBaseline(baselinesFile, { run_id: summary.run_id, recorded_at: summary.recorded_at, metrics });
  return { summary, drift, baselineTable: baselineTable(priorBaseline?.metrics, metrics, threshold), stages: records, reportDir };
}

const DATASET_STAGE = { sft: 'export-sft', rag: 'export-rag', preference: 'export-preference' } as const;

function buildSummary(options: RunAllOptions, records: StageRecord[], started: Date, finished: Date): RunSummary {
  const ran = records.filter((r) => r.receipt !== undefined);
  const outOf = (stage: RunStage): number => records.find((r) => r.stage === stage)?.receipt?.record_counts.out ?? 0;
  return {
    schema_version: 1,
    run_id: options.runId,
    recorded_at: options.recordedAt,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    stages: records.map((r) => ({
      stage: r.stage,
      passed: r.receipt?.validation.passed ?? false,
      skipped: r.skipped,
      in: r.receipt?.record_counts.in ?? 0,
      out: r.receipt?.record_counts.out ?? 0,
      quarantined: r.receipt?.record_counts.quarantined ?? 0,
    })),
    total_records_in: ran.reduce((sum, r) => sum + r.receipt!.record_counts.in, 0),
    total_records_out: ran.reduce((sum, r) => sum + r.receipt!.record_counts.out, 0),
    datasets: { sft: outOf(DATASET_STAGE.sft), rag: outOf(DATASET_STAGE.rag), preference: outOf(DATASET_STAGE.preference) },
    total_quarantined: ran.reduce((sum, r) => sum + r.receipt!.record_counts.quarantined, 0),
    overall_passed: records.every((r) => !r.skipped && r.receipt!.validation.passed),
    run_hash: runHash(ran.map((r) => r.receipt!.output_hash)),
  };
}

/** A human-readable summary.md of a run. */
export function summaryMarkdown(summary: RunSummary): string {
  const rows = summary.stages.map((s) => `| ${s.stage} | ${s.skipped ? 'skipped' : s.passed ? 'passed' : 'FAILED'} | ${s.in} | ${s.out} | ${s.quarantined} |`);
  return [
    `# distill-stream run ${summary.run_id}`,
    '',
    `${summary.overall_passed ? 'Passed' : 'FAILED'} — recorded_at ${summary.recorded_at}, started ${summary.started_at}, finished ${summary.finished_at}.`,
    '',
    '| stage | result | in | out | quarantined |',
    '| --- | --- | ---: | ---: | ---: |',
    ...rows,
    '',
    `Datasets: sft ${summary.datasets.sft}, rag ${summary.datasets.rag}, preference ${summary.datasets.preference}. ` +
      `Records in ${summary.total_records_in}, out ${summary.total_records_out}, quarantined ${summary.total_quarantined}.`,
    '',
    `run_hash \`${summary.run_hash}\``,
    '',
  ].join('\n');
}

import type { ProgressSink } from '../src/progress.js';
import { execFileSync } from 'node:child_process';
import { readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { StageCounts } from '../src/engine/counts.js';
import type { StageDefinition } from '../src/engine/stage.js';
import { validateStage } from '../src/engine/validate.js';
import { DistillError, ioError, usageError } from '../src/errors.js';
import { isRunId, LAYOUT, RUN_ID_RULE } from '../src/layout.js';
import type { DriftReport, RunSummary, StageReceipt, StageValidation } from '../src/receipts.js';
import { appendBaseline, baselineMetrics, baselineTable, readLastBaseline } from '../src/report/baselines.js';
import { DEFAULT_DRIFT_THRESHOLD, driftReport, findPriorRun } from '../src/report/drift.js';
import { runHash } from '../src/report/hashes.js';
import { writeRunReport } from '../src/report/page/write.js';
import { buildReceipt, type ReceiptContext } from '../src/report/receipt.js';
import type { ShardReport } from '../src/report/page/types.js';
import { validators } from '../src/schemas/validators.js';
import { datasetsLine, EXPORT_STAGES, STAGES } from '../src/stages/registry.js';
import { requireFolder } from './plan.js';
import { emptyExportError, type StageNotes } from './hints.js';
import { rulesetOf, runStage, type StageCommandOptions } from './stage.js';
import type { Ruleset } from '../src/core/ruleset.js';
import { settleAbandoned } from '../src/io/commit.js';
import { ensureFolder } from '../src/io/folders.js';
import { writeWhole } from '../src/io/small-file.js';
import { withRootLock } from '../src/io/lock.js';

export interface RunAllOptions {
  /** The standard layout's root (absolute). */
  root: string;
  /** --root and --rules as the user typed them, for messages (the options above are absolute). */
  typed?: { root?: string | undefined; rules?: string | undefined } | undefined;
  runId: string;
  recordedAt: string;
  toolVersion: string;
  maxLineBytes?: number | undefined;
  /** Every stage's gate flags by camelCased name (`includePartial`, `includeReview`, `repoRoot`, …). */
  flags: Readonly<Record<string, unknown>>;
  /** A rules file (absolute) for the stages the rules decide; the built-in rules by default. */
  rules?: string | undefined;
  continueOnFailure: boolean;
  /** An export that writes no row fails its validation (its receipt says so). */
  failIfEmpty?: boolean | undefined;
  /** |pct_change| past which a count drifts; default 0.20. */
  driftThreshold: number | undefined;
  /** Test seam: this stage's validation fails, to exercise skipping and --continue-on-failure. */
  failValidation?: string | undefined;
  onStage?: (stage: StageDefinition) => void;
  progress?: ProgressSink;
}

export interface StageRecord {
  stage: StageDefinition;
  skipped: boolean;
  receipt: StageReceipt | undefined;
  /** Sources scored without a rule, and hints when the stage's input looks wrong; none for a skipped stage. */
  notes: StageNotes;
}

export interface RunAllResult {
  summary: RunSummary;
  drift: DriftReport;
  /** The audit-baseline drift table (docs/receipts.md), for stderr. */
  baselineTable: string;
  stages: StageRecord[];
  reportDir: string;
}

const BASELINES_FILE = 'audit_baselines.jsonl';

const NO_NOTES: StageNotes = { unruled: [], hints: [] };

/** One stage's options on the standard layout under the run's: its flags, the rules when it uses them, the pinned recorded_at. */
export function layoutOptions(options: RunAllOptions, stage: StageDefinition, rules: string | Ruleset | undefined): StageCommandOptions {
  return {
    ...options.flags,
    rules: stage.usesRules ? rules : undefined,
    cwd: options.root,
    root: options.root,
    recordedAt: options.recordedAt,
    ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
  };
}

/** The git commit of `root` when it is the top of a git work tree, else null. */
export function gitShaOf(root: string, realRoot: string): string | null {
  try {
    const git = (...args: string[]): string => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return git('rev-parse', '--show-toplevel') === realRoot ? git('rev-parse', 'HEAD') : null;
  } catch {
    return null; // not a work tree, or no git: the receipt says so with null
  }
}

/** Writes a JSON report file atomically (temp + rename) after validating it against its schema. */
async function writeReport(file: string, value: unknown, validate: (value: unknown) => boolean, describe: () => string): Promise<void> {
  if (!validate(value)) throw new DistillError('DS_VALIDATION', `${path.basename(file)} would not match its schema: ${describe()}`, { path: file });
  await writeWhole(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** A run id that is one plain name and a root that exists with its data/_kb (a mistyped --root is named, and nothing is made in it): the root's real path. */
export async function checkRoot(options: RunAllOptions): Promise<string> {
  if (!isRunId(options.runId)) throw usageError(`--run-id ${JSON.stringify(options.runId)} is not a run id (${RUN_ID_RULE})`);
  const typedRoot = options.typed?.root ?? options.root;
  const realRoot = await realpath(options.root).catch((cause: unknown) => {
    throw ioError(typedRoot, cause, '--root');
  });
  await requireFolder(options.root, LAYOUT.kb, typedRoot);
  return realRoot;
}

/** What fails a run before any work: an audit-baseline lineage whose last line does not read, a rules file that does not load. The run's ruleset. */
export async function checkBeforeWork(options: RunAllOptions): Promise<Ruleset> {
  await readLastBaseline(baselinesFileOf(options));
  return rulesetOf(options.rules, { cwd: options.root, root: options.root }, options.typed?.rules);
}

const baselinesFileOf = (options: RunAllOptions): string => path.join(options.root, LAYOUT.kb, BASELINES_FILE);

/** Where a run writes its reports, and who writes its receipts: the same for a run in one process and one merged phase by phase. */
export interface RunReports {
  options: RunAllOptions;
  reportDir: string;
  context: ReceiptContext;
}

/**
 * The run's report folder, made when missing. What killed runs left in every run's folder is settled
 * first: a run under a new id never writes an old one's files again, which would sweep them.
 */
export async function openReports(options: RunAllOptions, gitSha: string | null): Promise<RunReports> {
  const reports = path.join(options.root, LAYOUT.reports);
  const reportDir = path.join(reports, options.runId);
  try {
    const runs = await readdir(reports, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    for (const run of runs) if (run.isDirectory()) await settleAbandoned(path.join(reports, run.name));
    await ensureFolder(reportDir);
  } catch (cause) {
    throw ioError(reportDir, cause);
  }
  return { options, reportDir, context: { runId: options.runId, toolVersion: options.toolVersion, gitSha, recordedAt: options.recordedAt } };
}

/** What one stage came to: its counts and notes, or the I/O error that stopped it. */
export type StageOutcome = { counts: StageCounts; notes: StageNotes } | { error: DistillError };

/** An I/O error fails the stage it stopped (its receipt says why), not the run; any other error ends the run. */
export function stageFailure(error: unknown): StageOutcome {
  if (!(error instanceof DistillError) || error.code !== 'DS_IO') throw error;
  return { error };
}

/** Whether the next stage runs after these: not after a failed one, unless continueOnFailure. */
export const runGoesOn = (options: RunAllOptions, records: readonly StageRecord[]): boolean => options.continueOnFailure || records.every((r) => r.skipped || r.receipt!.validation.passed);

export const skippedStage = (stage: StageDefinition): StageRecord => ({ stage, skipped: true, receipt: undefined, notes: NO_NOTES });

/**
 * A stage's outcome checked — its own promises, --fail-if-empty for an export, the test seam — and
 * its receipt written into the run's report folder. `started` is when the stage began, in this
 * process or another (a phase planned by the previous merge).
 */
export async function recordStage(run: RunReports, stage: StageDefinition, outcome: StageOutcome, started: Date): Promise<StageRecord> {
  const { stageReceipt } = validators();
  const failed = 'error' in outcome;
  const counts = failed ? new StageCounts() : outcome.counts;
  let validation: StageValidation = failed ? { passed: false, errors: [outcome.error.message], warnings: [] } : validateStage(stage, counts);
  const empty = run.options.failIfEmpty === true && stage.kind !== 'tree' ? emptyExportError(stage.name, counts) : undefined;
  if (empty !== undefined) validation = { ...validation, passed: false, errors: [...validation.errors, empty] };
  if (run.options.failValidation === stage.receipt) validation = { ...validation, passed: false, errors: [...validation.errors, 'validation failed on request (test seam)'] };
  const finished = new Date();
  // Wall-clock time, not a monotonic clock: a phase's start was taken by another process.
  const receipt = buildReceipt(run.context, stage.receipt, counts, validation, { started, finished, durationMs: finished.getTime() - started.getTime() });
  await writeReport(path.join(run.reportDir, `${stage.receipt}.json`), receipt, stageReceipt, () => JSON.stringify(stageReceipt.errors));
  return { stage, skipped: false, receipt, notes: failed ? NO_NOTES : outcome.notes };
}

/**
 * The end of a run, after its last stage (or the failed one that skipped the rest): summary.json,
 * summary.md, drift.json against the prior run, the audit-baseline line and the report page —
 * with a section per shard when the stages ran as shards.
 */
export async function finishRun(run: RunReports, records: StageRecord[], started: Date, shards?: ShardReport[]): Promise<RunAllResult> {
  const { options, reportDir } = run;
  const { runSummary, driftReport: driftSchema } = validators();
  const baselinesFile = baselinesFileOf(options);
  const priorBaseline = await readLastBaseline(baselinesFile);
  const summary = buildSummary(options, records, started, new Date());
  await writeReport(path.join(reportDir, 'summary.json'), summary, runSummary, () => JSON.stringify(runSummary.errors));
  await writeWhole(path.join(reportDir, 'summary.md'), summaryMarkdown(summary));
  const receipts = records.flatMap((r) => (r.receipt ? [r.receipt] : []));
  const threshold = options.driftThreshold ?? DEFAULT_DRIFT_THRESHOLD;
  const prior = await findPriorRun(path.join(options.root, LAYOUT.reports), summary.started_at);
  const drift = driftReport({ summary, receipts }, prior, threshold);
  await writeReport(path.join(reportDir, 'drift.json'), drift, driftSchema, () => JSON.stringify(driftSchema.errors));
  const metrics = baselineMetrics(summary);
  await appendBaseline(baselinesFile, { run_id: summary.run_id, recorded_at: summary.recorded_at, metrics });
  await writeRunReport({ root: options.root, runId: options.runId, ...(shards === undefined ? {} : { shards }) }); // after the baseline: the page shows this run's entry
  return { summary, drift, baselineTable: baselineTable(priorBaseline?.metrics, metrics, threshold), stages: records, reportDir };
}

/**
 * Every stage of the registry, in order, under one run_id, a receipt per stage. A stage whose validation fails fails the run, and later stages are skipped
 * unless continueOnFailure.
 */
export async function runAll(options: RunAllOptions): Promise<RunAllResult> {
  const realRoot = await checkRoot(options);
  // One lock for the whole run: another run-all can neither feed its exports its own scored runs nor swap a tree they read.
  return withRootLock(options.root, `run-all --run-id ${options.runId}`, () => runAllLocked(options, realRoot));
}

async function runAllLocked(options: RunAllOptions, realRoot: string): Promise<RunAllResult> {
  const runStarted = new Date();
  const ruleset = await checkBeforeWork(options);
  const run = await openReports(options, gitShaOf(options.root, realRoot));
  const records: StageRecord[] = [];
  for (const stage of STAGES) {
    if (!runGoesOn(options, records)) {
      records.push(skippedStage(stage));
      continue;
    }
    options.onStage?.(stage);
    const started = new Date();
    const outcome = await runStage(stage, { ...layoutOptions(options, stage, ruleset), ...(options.progress ? { progress: options.progress } : {}) }).catch(stageFailure);
    records.push(await recordStage(run, stage, outcome, started));
  }
  return finishRun(run, records, runStarted);
}

function buildSummary(options: RunAllOptions, records: StageRecord[], started: Date, finished: Date): RunSummary {
  const ran = records.filter((r) => r.receipt !== undefined);
  const outOf = (stage: StageDefinition): number => records.find((r) => r.stage === stage)?.receipt?.record_counts.out ?? 0;
  return {
    schema_version: 1,
    run_id: options.runId,
    recorded_at: options.recordedAt,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    stages: records.map((r) => ({
      stage: r.stage.receipt,
      passed: r.receipt?.validation.passed ?? false,
      skipped: r.skipped,
      in: r.receipt?.record_counts.in ?? 0,
      out: r.receipt?.record_counts.out ?? 0,
      quarantined: r.receipt?.record_counts.quarantined ?? 0,
    })),
    total_records_in: ran.reduce((sum, r) => sum + r.receipt!.record_counts.in, 0),
    total_records_out: ran.reduce((sum, r) => sum + r.receipt!.record_counts.out, 0),
    datasets: Object.fromEntries(EXPORT_STAGES.map((stage) => [stage.name, outOf(stage)])) as RunSummary['datasets'],
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
    `Datasets: ${datasetsLine(summary)}. ` +
      `Records in ${summary.total_records_in}, out ${summary.total_records_out}, quarantined ${summary.total_quarantined}.`,
    '',
    `run_hash \`${summary.run_hash}\``,
    '',
  ].join('\n');
}

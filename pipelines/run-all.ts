import type { ProgressSink } from '../src/progress.js';
import { execFileSync } from 'node:child_process';
import { realpath, rename, rm, writeFile } from 'node:fs/promises';
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
import { buildReceipt } from '../src/report/receipt.js';
import { validators } from '../src/schemas/validators.js';
import { EXPORT_STAGES, STAGES } from '../src/stages/registry.js';
import { requireFolder } from './plan.js';
import { emptyExportError, type StageNotes } from './hints.js';
import { rulesetOf, runStage } from './stage.js';
import type { Ruleset } from '../src/core/ruleset.js';
import { ensureFolder } from '../src/io/folders.js';
import { withRootLock } from '../src/io/lock.js';

export interface RunAllOptions {
  /** The standard layout's root (absolute). */
  root: string;
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
  counts: StageCounts;
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

/** Runs one stage on the standard layout under the run's options. */
async function runOnLayout(stage: StageDefinition, options: RunAllOptions, ruleset: Ruleset): Promise<{ counts: StageCounts; notes: StageNotes }> {
  return runStage(stage, {
    ...options.flags,
    rules: stage.usesRules ? ruleset : undefined,
    cwd: options.root,
    root: options.root,
    recordedAt: options.recordedAt,
    ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
    ...(options.progress ? { progress: options.progress } : {}),
  });
}

/** The git commit of `root` when it is the top of a git work tree, else null. */
function gitShaOf(root: string, realRoot: string): string | null {
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

/** Writes a small report file whole (temp + rename); a failure (a full disk) names the file and leaves no temp. */
async function writeWhole(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, text);
    await rename(temp, file);
  } catch (cause) {
    await rm(temp, { force: true });
    throw ioError(file, cause);
  }
}

/**
 * Every stage of the registry, in order, under one run_id, a receipt per stage. A stage whose validation fails fails the run, and later stages are skipped
 * unless continueOnFailure.
 */
export async function runAll(options: RunAllOptions): Promise<RunAllResult> {
  if (!isRunId(options.runId)) throw usageError(`--run-id ${JSON.stringify(options.runId)} is not a run id (${RUN_ID_RULE})`);
  const realRoot = await realpath(options.root).catch((cause: unknown) => {
    throw ioError(options.root, cause, '--root');
  });
  await requireFolder(options.root, LAYOUT.kb); // a mistyped --root is named, and nothing is made in it
  // One lock for the whole run: another run-all can neither feed its exports its own scored runs nor swap a tree they read.
  return withRootLock(options.root, `run-all --run-id ${options.runId}`, () => runAllLocked(options, realRoot));
}

async function runAllLocked(options: RunAllOptions, realRoot: string): Promise<RunAllResult> {
  const runStarted = new Date();
  const threshold = options.driftThreshold ?? DEFAULT_DRIFT_THRESHOLD;
  const baselinesFile = path.join(options.root, LAYOUT.kb, BASELINES_FILE);
  const priorBaseline = await readLastBaseline(baselinesFile); // a truncated lineage fails before any work
  const gitSha = gitShaOf(options.root, realRoot);
  const ruleset = await rulesetOf(options.rules, { cwd: options.root, root: options.root }); // a bad rules file fails before any work
  const reportDir = path.join(options.root, LAYOUT.reports, options.runId);
  await ensureFolder(reportDir).catch((cause: unknown) => {
    throw ioError(reportDir, cause);
  });
  const { stageReceipt, runSummary, driftReport: driftSchema } = validators();
  const records: StageRecord[] = [];
  let failed = false;
  const context = { runId: options.runId, toolVersion: options.toolVersion, gitSha, recordedAt: options.recordedAt };
  for (const stage of STAGES) {
    if (failed && !options.continueOnFailure) {
      records.push({ stage, skipped: true, receipt: undefined, counts: new StageCounts(), notes: NO_NOTES });
      continue;
    }
    options.onStage?.(stage);
    const started = new Date();
    const t0 = performance.now();
    let counts: StageCounts;
    let notes = NO_NOTES;
    let validation: StageValidation;
    try {
      ({ counts, notes } = await runOnLayout(stage, options, ruleset));
      validation = validateStage(stage, counts);
    } catch (error) {
      if (!(error instanceof DistillError) || error.code !== 'DS_IO') throw error;
      counts = new StageCounts();
      validation = { passed: false, errors: [error.message], warnings: [] };
    }
    const empty = options.failIfEmpty === true && stage.kind !== 'tree' ? emptyExportError(stage.name, counts) : undefined;
    if (empty !== undefined) validation = { ...validation, passed: false, errors: [...validation.errors, empty] };
    if (options.failValidation === stage.receipt) validation = { ...validation, passed: false, errors: [...validation.errors, 'validation failed on request (test seam)'] };
    const receipt = buildReceipt(context, stage.receipt, counts, validation, { started, finished: new Date(), durationMs: performance.now() - t0 });
    await writeReport(path.join(reportDir, `${stage.receipt}.json`), receipt, stageReceipt, () => JSON.stringify(stageReceipt.errors));
    records.push({ stage, skipped: false, receipt, counts, notes });
    if (!validation.passed) failed = true;
  }
  const summary = buildSummary(options, records, runStarted, new Date());
  await writeReport(path.join(reportDir, 'summary.json'), summary, runSummary, () => JSON.stringify(runSummary.errors));
  await writeWhole(path.join(reportDir, 'summary.md'), summaryMarkdown(summary));
  const receipts = records.flatMap((r) => (r.receipt ? [r.receipt] : []));
  const prior = await findPriorRun(path.join(options.root, LAYOUT.reports), summary.started_at);
  const drift = driftReport({ summary, receipts }, prior, threshold);
  await writeReport(path.join(reportDir, 'drift.json'), drift, driftSchema, () => JSON.stringify(driftSchema.errors));
  const metrics = baselineMetrics(summary);
  await appendBaseline(baselinesFile, { run_id: summary.run_id, recorded_at: summary.recorded_at, metrics });
  await writeRunReport({ root: options.root, runId: options.runId }); // after the baseline: the page shows this run's entry
  return { summary, drift, baselineTable: baselineTable(priorBaseline?.metrics, metrics, threshold), stages: records, reportDir };
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
    `Datasets: ${EXPORT_STAGES.map((stage) => `${stage.name} ${summary.datasets[stage.name as keyof RunSummary['datasets']]}`).join(', ')}. ` +
      `Records in ${summary.total_records_in}, out ${summary.total_records_out}, quarantined ${summary.total_quarantined}.`,
    '',
    `run_hash \`${summary.run_hash}\``,
    '',
  ].join('\n');
}

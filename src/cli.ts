#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runCollect, runCollectFilter } from '../pipelines/collect.js';
import { runScore, runScoreFilter } from '../pipelines/score.js';
import { runRag, runSft } from '../pipelines/export.js';
import { runPreference } from '../pipelines/preference.js';
import { runExportAll } from '../pipelines/export-all.js';
import { checkHealth, readRunSummary } from '../pipelines/inspect.js';
import { runAll } from '../pipelines/run-all.js';
import { RUN_STAGES, type RunStage } from './stages/validation.js';
import { parseCommandLine, USAGE, type CliOptions } from './cli-args.js';
import { DistillError, EXIT_CODE, usageError } from './errors.js';
import { EvidenceIndex, type IndexReport } from './io/evidence-index.js';
import { resolveInputs } from './io/inputs.js';
import type { InputSource } from './io/line-source.js';
import { displayPath, STDIN_PATH } from './io/paths.js';
import type { OutputTarget } from './io/sink.js';
import { LAYOUT, quarantinePath } from './layout.js';
import type { StageName } from './records.js';
import { PREFERENCE_FORMATS } from './stages/preference.js';
import { SFT_FORMATS } from './stages/sft.js';
import { sortedCounts, type StageStats } from './stages/stats.js';
import { ProgressLine } from './progress.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

type ExportStage = Extract<StageName, 'sft' | 'rag' | 'preference'>;

/** Where a row stage reads and writes, decided once from the options (SPEC §7). */
interface StagePlan {
  root: string;
  /** Inputs on the command line or stdin: the stage runs as a filter; else on the standard layout. */
  filter: boolean;
  inputs: string[];
  output: OutputTarget | undefined;
  quarantine: OutputTarget;
  recordedAt: string;
}

function planStage(options: CliOptions, stage: StageName): StagePlan {
  const root = path.resolve(options.root ?? '.');
  const fileTarget = (file: string): OutputTarget => {
    const absolute = path.resolve(file);
    return { kind: 'file', path: absolute, display: displayPath(root, absolute) };
  };
  const filter = options.inputs.length > 0 || options.root === undefined;
  if (filter && options.inputs.length === 0 && process.stdin.isTTY) {
    throw usageError('no inputs: pass files or folders, pipe rows on stdin, or give --root');
  }
  const discard: OutputTarget = { kind: 'discard' };
  const output = options.out !== undefined ? fileTarget(options.out) : filter ? ({ kind: 'stdout' } as const) : undefined;
  return {
    root,
    filter,
    inputs: options.inputs.length > 0 ? options.inputs : [STDIN_PATH],
    output: options.dryRun ? discard : output,
    quarantine: options.dryRun ? discard : fileTarget(options.quarantine ?? quarantinePath(root, stage)),
    recordedAt: options.recordedAt ?? new Date().toISOString(),
  };
}

/** An export reads the scored runs given, or `data/scored-runs`, and writes the dataset's standard path by default. */
function planExport(options: CliOptions, stage: ExportStage): StagePlan & { inputSources: AsyncIterable<InputSource>; output: OutputTarget; evidence: string } {
  const plan = planStage(options, stage);
  const inputs = plan.filter ? plan.inputs : [path.join(plan.root, LAYOUT.scoredRuns)];
  const standard = path.join(plan.root, LAYOUT[stage]);
  return {
    ...plan,
    inputSources: resolveInputs(inputs, plan.root),
    output: plan.output ?? { kind: 'file', path: standard, display: displayPath(plan.root, standard) },
    evidence: options.evidence ?? path.join(plan.root, LAYOUT.evidence),
  };
}

function report(options: CliOptions, stage: string, stats: StageStats, extra: Record<string, unknown> = {}): void {
  const byReason = sortedCounts(stats.byReason);
  if (options.json) {
    const pairs = stats.unpaired === undefined ? {} : { unpaired: stats.unpaired, quarantined_pairs: stats.quarantinedPairs };
    process.stderr.write(`${JSON.stringify({ stage, read: stats.in, exported: stats.out, quarantined: stats.quarantined, ...pairs, by_reason: byReason, ...extra })}\n`);
    return;
  }
  const reasons = Object.entries(byReason).map(([reason, n]) => `${reason}: ${n}`).join(', ');
  const pairs = stats.unpaired === undefined ? '' : ` unpaired=${stats.unpaired} quarantined_pairs=${stats.quarantinedPairs}`;
  process.stderr.write(`[${stage}] read=${stats.in} exported=${stats.out} quarantined=${stats.quarantined}${pairs} {${reasons}}\n`);
}

function reportIndex(options: CliOptions, index: IndexReport): void {
  if (options.json) return;
  process.stderr.write(
    `[index] files=${index.files} read=${index.filesRead} rows=${index.rows} unjoinable=${index.unjoinable} ${Math.round(index.durationMs)}ms\n`,
  );
}

async function run(options: CliOptions): Promise<number> {
  const progress = ProgressLine.forTerminal(options.command);
  try {
    return await runCommand(options, progress?.add);
  } finally {
    progress?.done();
  }
}

async function runCommand(options: CliOptions, onBytes: ((bytes: number) => void) | undefined): Promise<number> {
  switch (options.command) {
    case 'sft':
    case 'rag': {
      const plan = planExport(options, options.command);
      const run = {
        ...plan,
        inputs: plan.inputSources,
        maxLineBytes: options.maxLineBytes,
        repoRoot: options.repoRoot === undefined ? undefined : path.resolve(options.repoRoot),
        onIndexReady: (indexReport: IndexReport) => reportIndex(options, indexReport),
        onBytes,
      };
      const { stats, index } =
        options.command === 'sft'
          ? await runSft({ ...run, includePartial: options.includePartial, format: viewOf(options.format, 'sft', SFT_FORMATS) })
          : await runRag({ ...run, includeReview: options.includeReview });
      report(options, options.command, stats, { index: { files: index.files, rows: index.rows, unjoinable: index.unjoinable } });
      return 0;
    }
    case 'preference': {
      const plan = planExport(options, 'preference');
      const { stats, index } = await runPreference({
        ...plan,
        inputs: plan.inputSources,
        maxLineBytes: options.maxLineBytes,
        format: viewOf(options.format, 'preference', PREFERENCE_FORMATS),
        onIndexReady: (indexReport: IndexReport) => reportIndex(options, indexReport),
        onBytes,
      });
      report(options, 'preference', stats, { index: { files: index.files, rows: index.rows, unjoinable: index.unjoinable } });
      return 0;
    }
    case 'export-all': {
      const plan = planExport(options, 'sft');
      if (options.dryRun) throw usageError('export-all does not take --dry-run; run the single exports with --dry-run');
      const stats = await runExportAll({
        ...plan,
        inputs: plan.inputSources,
        maxLineBytes: options.maxLineBytes,
        includePartial: options.includePartial,
        includeReview: options.includeReview,
        repoRoot: options.repoRoot === undefined ? undefined : path.resolve(options.repoRoot),
        onIndexReady: (indexReport: IndexReport) => reportIndex(options, indexReport),
        onBytes,
      });
      for (const stage of ['sft', 'rag', 'preference'] as const) report(options, stage, stats[stage]);
      return 0;
    }
    case 'collect': {
      const plan = planStage(options, 'collect');
      const common = { root: plan.root, quarantine: plan.quarantine, recordedAt: plan.recordedAt, maxLineBytes: options.maxLineBytes, onBytes };
      let stats: StageStats;
      if (plan.filter) {
        if (options.source === undefined) throw usageError('collect as a filter needs --source NAME (the _kb source the rows come from)');
        stats = await runCollectFilter({ ...common, source: options.source, inputs: resolveInputs(plan.inputs, plan.root), output: plan.output! });
      } else stats = await runCollect(common);
      report(options, 'collect', stats);
      return 0;
    }
    case 'score': {
      const plan = planStage(options, 'score');
      const common = { root: plan.root, quarantine: plan.quarantine, recordedAt: plan.recordedAt, maxLineBytes: options.maxLineBytes, onBytes };
      const stats = plan.filter
        ? await runScoreFilter({ ...common, inputs: resolveInputs(plan.inputs, plan.root), output: plan.output! })
        : await runScore(common);
      report(options, 'score', stats);
      return 0;
    }
    case 'run-all': {
      const root = path.resolve(options.root ?? '.');
      const { summary, drift, baselineTable } = await runAll({
        root,
        runId: options.runId ?? randomUUID(),
        recordedAt: options.recordedAt ?? new Date().toISOString(),
        toolVersion: version,
        maxLineBytes: options.maxLineBytes,
        includePartial: options.includePartial,
        includeReview: options.includeReview,
        repoRoot: options.repoRoot === undefined ? undefined : path.resolve(options.repoRoot),
        continueOnFailure: options.continueOnFailure,
        driftThreshold: options.driftThreshold ?? thresholdFromEnv(),
        failValidation: failValidationSeam(),
        onBytes,
      });
      for (const stage of summary.stages) {
        process.stderr.write(`[run-all] ${stage.stage} ${stage.skipped ? 'skipped' : stage.passed ? 'passed' : 'FAILED'} in=${stage.in} out=${stage.out} quarantined=${stage.quarantined}\n`);
      }
      process.stderr.write(`${baselineTable}\n`);
      process.stderr.write(`[run-all] ${summary.run_id} ${summary.overall_passed ? 'passed' : 'FAILED'}; drift ${drift.severity}${drift.flags.length > 0 ? ` (${drift.flags.join(', ')})` : ''}\n`);
      if (options.json) process.stderr.write(`${JSON.stringify(summary)}\n`);
      return summary.overall_passed ? 0 : EXIT_CODE.DS_VALIDATION;
    }
    case 'read': {
      if ((options.runId === undefined) === !options.latest) throw usageError('read needs exactly one of --run-id ID and --latest');
      const { summary, markdown } = await readRunSummary(path.resolve(options.root ?? '.'), options.runId ?? 'latest');
      process.stdout.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : markdown);
      return 0;
    }
    case 'health': {
      const checks = await checkHealth(path.resolve(options.root ?? '.'));
      for (const check of checks) process.stdout.write(`${check.status.padEnd(4)}  ${check.check}: ${check.detail}\n`);
      return checks.some((check) => check.status === 'fail') ? EXIT_CODE.DS_VALIDATION : 0;
    }
    case 'index': {
      const root = path.resolve(options.root ?? '.');
      const { index, report: indexReport } = await EvidenceIndex.open(options.evidence ?? path.join(root, LAYOUT.evidence), {
        root,
        maxLineBytes: options.maxLineBytes,
      });
      await index.close();
      if (options.json) process.stderr.write(`${JSON.stringify(indexReport)}\n`);
      else reportIndex(options, indexReport);
      return 0;
    }
    default:
      throw usageError(`command '${options.command}' is not available yet`);
  }
}

/** The --format view for a command, checked once at start-up. */
function viewOf<F extends string>(format: string | undefined, command: string, formats: readonly F[]): F {
  if (format === undefined) return formats[0]!;
  if (!(formats as readonly string[]).includes(format)) throw usageError(`--format '${format}' is not one of ${formats.join(', ')} for ${command}`);
  return format as F;
}

/** DISTILL_DRIFT_THRESHOLD when --drift-threshold is not given (SPEC §6). */
function thresholdFromEnv(): number | undefined {
  const value = process.env['DISTILL_DRIFT_THRESHOLD'];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usageError(`DISTILL_DRIFT_THRESHOLD '${value}' is not a non-negative number`);
  return n;
}

/** Test seam: DISTILL_STREAM_FAIL_VALIDATION=<stage> makes that run-all stage fail its validation. */
function failValidationSeam(): RunStage | undefined {
  const stage = process.env['DISTILL_STREAM_FAIL_VALIDATION'];
  if (stage === undefined || stage === '') return undefined;
  if (!(RUN_STAGES as readonly string[]).includes(stage)) throw usageError(`DISTILL_STREAM_FAIL_VALIDATION '${stage}' is not a run-all stage`);
  return stage as RunStage;
}

const isBrokenPipe = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'EPIPE';

export async function main(argv: readonly string[]): Promise<number> {
  // A reader that stops early (`| head`) ends the run quietly (SPEC §7).
  process.stdout.on('error', (error) => {
    if (isBrokenPipe(error)) process.exit(0);
  });
  try {
    const parsed = parseCommandLine(argv);
    if ('help' in parsed) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if ('version' in parsed) {
      process.stdout.write(`${version}\n`);
      return 0;
    }
    return await run(parsed.options);
  } catch (error) {
    if (isBrokenPipe(error)) return 0;
    if (error instanceof DistillError) {
      process.stderr.write(`distill-stream: ${error.message}\n`);
      if (error.code === 'DS_USAGE') process.stderr.write(`\n${USAGE}\n`);
      return EXIT_CODE[error.code];
    }
    process.stderr.write(`distill-stream: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODE.DS_INTERNAL;
  }
}

process.exitCode = await main(process.argv.slice(2));

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { isJsonObject } from '../src/core/gates.js';
import type { StageDefinition } from '../src/engine/stage.js';
import { DistillError, usageError } from '../src/errors.js';
import { exists } from '../src/io/folders.js';
import { withRootLock } from '../src/io/lock.js';
import { readJson, writeWhole } from '../src/io/small-file.js';
import { LAYOUT_INPUT } from '../src/layout.js';
import type { ProgressSink } from '../src/progress.js';
import type { StageReceipt } from '../src/receipts.js';
import type { StageName } from '../src/records.js';
import type { ShardReport } from '../src/report/page/types.js';
import { STAGES, stageNamed } from '../src/stages/registry.js';
import { stageNotes, type StageNotes } from './hints.js';
import { requireFolder } from './plan.js';
import {
  checkBeforeWork,
  checkRoot,
  finishRun,
  gitShaOf,
  layoutOptions,
  openReports,
  recordStage,
  runGoesOn,
  skippedStage,
  stageFailure,
  type RunAllOptions,
  type RunAllResult,
  type RunReports,
  type StageOutcome,
  type StageRecord,
} from './run-all.js';
import { runShardOf } from './cluster.js';
import { checkInputs, ensurePlanFolder, MAX_PLAN_FILE_BYTES, missingShards, PLAN_FORMAT, planHash, readPlan, readPlanFile, refuseChangedRules, refuseShardIndex, rulesSha256Of, shardReports, writePlan, writePlanFile, type ShardPlan } from './shards.js';
import { mergePlan, planOptionsOf, stageFlags } from './stage.js';

/** run-all's options as a plan pins them: every one a value, paths absolute, the run id and recorded_at fixed. */
export type PinnedRunAllOptions = Omit<RunAllOptions, 'onStage' | 'progress'>;

/**
 * run-all cut into phases, one per stage in run order, each a shard plan of `shardCount` shards
 * written when the phase before it has merged (score's inputs are what collect's merge wrote).
 * The phases' state is on disk in the work folder, so `shard` runs the current phase wherever and
 * whenever it starts, and `merge` merges it, writes its receipt and plans the next.
 */
export interface RunAllPlan {
  format: typeof PLAN_FORMAT;
  command: 'run-all';
  options: PinnedRunAllOptions;
  /** How many shards every phase has (a phase with less input has empty ones: each index is valid). */
  shardCount: number;
  /** Where each phase's plan and shards go (phase-<n>-<stage>/) and the run's state (run-all.json). */
  work: string;
  /** When the plan was written: the run's started_at. */
  startedAt: string;
  gitSha: string | null;
  /** The sha256 of the rules file (options.rules): a phase planned with other bytes there is refused. */
  rulesSha256?: string;
}

/** One stage's record as the run's state keeps it between processes. */
interface StoredRecord {
  stage: StageName;
  skipped: boolean;
  receipt?: StageReceipt;
  notes: StageNotes;
}

/** Where a run-all plan stands: the stages done so far, in run order (merged, failed or skipped). */
interface RunState {
  /** The plan this state is of (sha256 of its content). */
  plan: string;
  records: StoredRecord[];
  /** When the current phase's plan was written: its stage's started_at. */
  phaseStartedAt: string;
  /** Once the summary, drift report, baseline line and page are written. */
  finished?: { passed: boolean };
}

const STATE_FILE = 'run-all.json';

export const isRunAllPlan = (plan: { command?: unknown }): plan is RunAllPlan => plan.command === 'run-all';

/** A plan file: a command's shard plan, or a run-all plan; named in messages as `typed`. */
export async function readAnyPlan(file: string, typed = file): Promise<ShardPlan | RunAllPlan> {
  return (await readPlanFile(file, typed)) as unknown as ShardPlan | RunAllPlan;
}

const phaseFolder = (plan: RunAllPlan, phase: number): string => path.join(plan.work, `phase-${phase + 1}-${STAGES[phase]!.name}`);
const phasePlanFile = (plan: RunAllPlan, phase: number): string => path.join(phaseFolder(plan, phase), 'plan.json');
const stateFile = (plan: RunAllPlan): string => path.join(plan.work, STATE_FILE);

async function readState(plan: RunAllPlan): Promise<RunState> {
  const file = stateFile(plan);
  const state = await readJson(file, MAX_PLAN_FILE_BYTES, (why) => new DistillError('DS_IO', `${file} is damaged (${why}); write a new plan`, { path: file }));
  if (!isJsonObject(state) || state['plan'] !== planHash(plan)) throw new DistillError('DS_IO', `${file} is of another plan; remove the work folder ${plan.work} or use a new one`, { path: file });
  return state as unknown as RunState;
}

const writeState = (plan: RunAllPlan, state: Omit<RunState, 'plan'>): Promise<void> => writeWhole(stateFile(plan), `${JSON.stringify({ plan: planHash(plan), ...state })}\n`);

const stored = (records: readonly StageRecord[]): StoredRecord[] =>
  records.map((r) => ({ stage: r.stage.name, skipped: r.skipped, ...(r.receipt === undefined ? {} : { receipt: r.receipt }), notes: r.notes }));

const restored = (records: readonly StoredRecord[]): StageRecord[] => records.map((r) => ({ stage: stageNamed(r.stage)!, skipped: r.skipped, receipt: r.receipt, notes: r.notes }));

/** A phase that reads the rules file would score or instruct with other rules than the earlier phases: refused, never mixed. */
async function refusePhaseRulesChanged(plan: RunAllPlan, stage: StageDefinition): Promise<void> {
  const rules = plan.options.rules;
  if (stage.usesRules && rules !== undefined) refuseChangedRules(plan.rulesSha256, rules, await rulesSha256Of(rules));
}

/**
 * Writes phase `phase`'s shard plan: its stage on the standard layout as one-process run-all runs
 * it, its input folder required as runStage requires it (so a missing one fails the stage with the
 * same words). Whatever an earlier, unfinished attempt left in the phase's folder goes first.
 */
async function writePhase(plan: RunAllPlan, phase: number, progress: ProgressSink | undefined): Promise<ShardPlan> {
  const stage = STAGES[phase]!;
  const options = layoutOptions(plan.options, stage, plan.options.rules);
  const folder = phaseFolder(plan, phase);
  await rm(folder, { recursive: true, force: true });
  await requireFolder(plan.options.root, LAYOUT_INPUT[stage.reads]);
  return writePlan(stage.name, planOptionsOf(stage.name, options), plan.shardCount, phasePlanFile(plan, phase), folder, { progress });
}

/** A plan is read on other machines, from other folders: its messages name the absolute paths it pins, not what was typed here. */
const withoutTyped = ({ typed: _typed, ...options }: PinnedRunAllOptions): PinnedRunAllOptions => options;

/**
 * `plan --shards N --out PLAN.json -- run-all …`: run-all's options pinned, checked as run-all
 * checks them before any work, and the first phase (collect over the raw logs) planned. `typed` is
 * the plan file as the user typed it (`--out`), for messages.
 */
export async function planRunAll(options: PinnedRunAllOptions, shards: number, planFile: string, work: string, progress?: ProgressSink, typed?: string): Promise<{ plan: RunAllPlan; phase: ShardPlan }> {
  const realRoot = await checkRoot(options);
  const ruleset = await checkBeforeWork(options);
  await ensurePlanFolder(planFile, typed);
  if (await exists(path.join(work, STATE_FILE))) throw usageError(`${work} holds the phases of a run-all plan already: remove it, or give another --work`);
  const flags = Object.assign({}, ...STAGES.map((stage) => stageFlags(stage, options.flags))) as Record<string, unknown>;
  const plan: RunAllPlan = {
    format: PLAN_FORMAT,
    command: 'run-all',
    options: { ...withoutTyped(options), flags },
    shardCount: shards,
    work,
    startedAt: new Date().toISOString(),
    gitSha: gitShaOf(options.root, realRoot),
    ...(ruleset.source === null ? {} : { rulesSha256: ruleset.source.sha256 }),
  };
  const phase = await writePhase(plan, 0, progress);
  await writeState(plan, { records: [], phaseStartedAt: plan.startedAt });
  await writePlanFile(planFile, plan, typed);
  return { plan, phase };
}

/** The phase a shard or merge works on: the first stage not done, with its plan. */
export interface Phase {
  /** 0-based, in STAGES order. */
  index: number;
  stage: StageDefinition;
  plan: ShardPlan;
}

async function currentPhase(plan: RunAllPlan, state: RunState): Promise<Phase> {
  const index = state.records.length;
  return { index, stage: STAGES[index]!, plan: await readPlan(phasePlanFile(plan, index)) };
}

export type RunAllShardOutcome = { kind: 'ran'; phase: Phase; result: 'ran' | 'done already' } | { kind: 'finished'; passed: boolean };

/**
 * `shard PLAN.json --shard i` on a run-all plan: shard i of the current phase (the first stage not
 * merged), whichever array task started it. Once the run has finished there is nothing to run.
 */
export async function runRunAllShard(plan: RunAllPlan, index: number, progress?: ProgressSink): Promise<RunAllShardOutcome> {
  refuseShardIndex(index, plan.shardCount);
  const state = await readState(plan);
  if (state.finished !== undefined) return { kind: 'finished', passed: state.finished.passed };
  const phase = await currentPhase(plan, state);
  return { kind: 'ran', phase, result: await runShardOf(phase.plan, index, progress) };
}

export type RunAllMergeOutcome =
  /** Shards of the current phase are not done: nothing was written. */
  | { kind: 'missing'; phase: Phase; missing: number[] }
  /** The run had finished before this merge: nothing to merge. */
  | { kind: 'finished already'; passed: boolean }
  /** Another merge merged this phase between this one's first look and its taking the root's lock: nothing to merge. */
  | { kind: 'merged meanwhile'; phase: Phase }
  /** The phase merged; `records` are every stage's so far, `from` the first this merge recorded; the next phase is planned. */
  | { kind: 'next'; records: StageRecord[]; from: number; next: Phase }
  /** The phase merged and the run finished: its summary, drift, baseline and page are written. */
  | { kind: 'finished'; result: RunAllResult; from: number };

/**
 * `merge PLAN.json` on a run-all plan: the current phase's shards merged into the stage's outputs,
 * its receipt written as one-process run-all writes it, then the next phase planned — or, after the
 * last stage or a failed one without continueOnFailure (the later stages skipped), the run
 * finished as run-all finishes it, with the shards on its page. The root's lock is held throughout.
 */
export async function mergeRunAllPhase(plan: RunAllPlan, progress?: ProgressSink): Promise<RunAllMergeOutcome> {
  const state = await readState(plan);
  if (state.finished !== undefined) return { kind: 'finished already', passed: state.finished.passed };
  const phase = await currentPhase(plan, state);
  const missing = await missingShards(phase.plan);
  if (missing.length > 0) return { kind: 'missing', phase, missing };
  const { options } = plan;
  return withRootLock(options.root, `merge run-all --run-id ${options.runId}`, async () => {
    const now = await readState(plan);
    if (now.finished !== undefined || now.records.length !== phase.index) return { kind: 'merged meanwhile', phase };
    const run = await openReports(options, plan.gitSha);
    const { stage } = phase;
    // A phase whose inputs or rules changed is refused (a new plan runs it); any other I/O error fails the stage, as in one process.
    await refusePhaseRulesChanged(plan, stage);
    await checkInputs(phase.plan, phase.plan.inputs.keys());
    const outcome = await mergePlan(phase.plan).then(({ counts }): StageOutcome => {
      const stageCounts = counts.get(stage.name)!;
      return { counts: stageCounts, notes: stageNotes(stageCounts, { stage: stage.name, reads: stage.reads, readStdin: false }) };
    }, stageFailure);
    const records = [...restored(now.records), await recordStage(run, stage, outcome, new Date(now.phaseStartedAt))];
    return advance(plan, run, records, progress);
  });
}

/**
 * After a stage's record: the next phase planned — a stage whose plan cannot be written (its input
 * folder is gone) fails as one process fails it, and the run goes on or ends as run-all decides —
 * or the run finished.
 */
async function advance(plan: RunAllPlan, run: RunReports, records: StageRecord[], progress: ProgressSink | undefined): Promise<RunAllMergeOutcome> {
  const from = records.length - 1;
  while (records.length < STAGES.length) {
    const index = records.length;
    const stage = STAGES[index]!;
    if (!runGoesOn(plan.options, records)) {
      records.push(skippedStage(stage));
      continue;
    }
    const started = new Date();
    await refusePhaseRulesChanged(plan, stage);
    const planned = await writePhase(plan, index, progress).then((phasePlan) => ({ phasePlan }), stageFailure);
    if ('phasePlan' in planned) {
      await writeState(plan, { records: stored(records), phaseStartedAt: started.toISOString() });
      return { kind: 'next', records, from, next: { index, stage, plan: planned.phasePlan } };
    }
    records.push(await recordStage(run, stage, planned, started));
  }
  const result = await finishRun(run, records, new Date(plan.startedAt), await phaseShardReports(plan, records));
  await writeState(plan, { records: stored(records), phaseStartedAt: result.summary.finished_at, finished: { passed: result.summary.overall_passed } });
  return { kind: 'finished', result, from };
}

/** Every shard of every phase that ran, for the run's page: one report per shard and stage. */
async function phaseShardReports(plan: RunAllPlan, records: readonly StageRecord[]): Promise<ShardReport[]> {
  const reports: ShardReport[] = [];
  for (const [index, record] of records.entries()) {
    const file = phasePlanFile(plan, index);
    if (!record.skipped && (await exists(file))) reports.push(...(await shardReports(await readPlan(file))));
  }
  return reports;
}

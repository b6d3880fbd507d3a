import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PairCounts, StageCounts } from '../src/engine/counts.js';
import { runDataset, runPairs, runTree, runTreeFilter, type StageRunOptions } from '../src/engine/run.js';
import type { DatasetStage, PairStage, StageDefinition, TreeStage } from '../src/engine/stage.js';
import { usageError } from '../src/errors.js';
import type { RunningDigest } from '../src/io/digest.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import { AtomicTree } from '../src/io/atomic-tree.js';
import { inputBytes, oneVersionOf, resolveInputs, singleInput } from '../src/io/inputs.js';
import { withRootLock } from '../src/io/lock.js';
import { kbSourceFiles } from '../src/io/kb.js';
import type { InputSource } from '../src/io/line-source.js';
import { displayPath } from '../src/io/paths.js';
import { camelCase } from '../src/options.js';
import { builtinRuleset, type Ruleset } from '../src/core/ruleset.js';
import { collectStage } from '../src/stages/collect.js';
import { preferenceStage } from '../src/stages/preference.js';
import { ragStage } from '../src/stages/rag.js';
import { scoreStage } from '../src/stages/score.js';
import { llamaFactoryEntry, sftStage, type ContextPlacement, type SftFormat } from '../src/stages/sft.js';
import { extensionOf } from '../src/io/output-format.js';
import { withEvidence } from './evidence.js';
import { pairInProcesses } from './pair-ranges.js';
import { stageNotes, type StageNotes } from './hints.js';
import { evidenceLabel, evidencePath, planInputs, placeOf, planReads, planStage, requireFolder, skippedInto, type CommonOptions, type StagePlan } from './plan.js';
import { loadRulesFile, localWork, mergeShards, MIN_SHARD_BYTES, refuseChangedRules, runShard, runShardsLocally, typedPathsOf, writePlan, type MergeTargets, type ShardPlan, type ShardRunContext, type TypedPaths } from './shards.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { resolveOutput } from '../src/io/output-target.js';
import { STDIN_PATH } from '../src/io/paths.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT_INPUT, quarantineFile } from '../src/layout.js';
import { EXPORT_STAGES, stageNamed } from '../src/stages/registry.js';

/**
 * A stage command's options: the shared ones, its view, and the stage's own flags by camelCased
 * name (`includePartial`, `repoRoot`, `source`…), as its definition declares them.
 */
export interface StageCommandOptions extends CommonOptions {
  /** A rules file (scoring rules and instruction templates), or one already loaded, for the stages they decide; the built-in rules by default. */
  rules?: string | Ruleset;
  /** The written view (`--format`); default the stage's first (the record itself). */
  format?: string;
  /** The evidence file or folder for a joining stage; default `<root>/data/evidence`. */
  evidence?: string;
  /** Told the index build's report before the export starts. */
  onIndexReady?: (report: IndexReport) => void;
  /** Whether stdin is a terminal (then reading it is a usage error); the CLI says. */
  stdinIsTerminal?: boolean;
}

export interface StageResult<C extends StageCounts = StageCounts> {
  counts: C;
  /** The evidence index a joining stage used. */
  index?: IndexReport;
  /** For a sharegpt or alpaca file: the entries LLaMA-Factory's dataset_info.json needs to read it, by dataset name. */
  datasetInfo?: Record<string, Record<string, unknown>>;
  /** Sources scored without a rule, and hints when the input looks wrong (see stageNotes). */
  notes: StageNotes;
}

function viewOf(stage: StageDefinition, format: string | undefined): string {
  if (stage.kind === 'tree') {
    if (format !== undefined) throw usageError(`${stage.name} takes no --format`);
    return 'spec';
  }
  if (format === undefined) return stage.views[0]!;
  if (!stage.views.includes(format)) throw usageError(`--format '${format}' is not one of ${stage.views.join(', ')} for ${stage.name}`);
  return format;
}

/** The stage's own flags (and its view's, when it has some) picked out of the options by their camelCased names. */
export function stageFlags(stage: StageDefinition, options: object): Record<string, unknown> {
  const values = options as Record<string, unknown>;
  const names = [...Object.keys(stage.flags), ...Object.keys(stage.kind === 'tree' ? {} : (stage.viewFlags ?? {}))];
  return Object.fromEntries(names.map((name) => [camelCase(name), values[camelCase(name)]]));
}

function runOptions(stage: StageDefinition, options: StageCommandOptions, plan: StagePlan, inputs: AsyncIterable<InputSource>, ruleset: Ruleset, flags = stageFlags(stage, options)): StageRunOptions {
  return { flags, ruleset, recordedAt: plan.recordedAt, view: viewOf(stage, options.format), inputs, maxLineBytes: plan.maxLineBytes, progress: options.progress };
}

/** The ruleset a run uses: the rules file given (loaded and checked once), else the built-in one. */
export async function rulesetOf(rules: string | Ruleset | undefined, place: { cwd: string; root: string }, typed = rules): Promise<Ruleset> {
  if (rules === undefined) return builtinRuleset();
  if (typeof rules !== 'string') return rules;
  return loadRulesFile(path.resolve(place.cwd, rules), { root: place.root, typed: typeof typed === 'string' ? typed : rules });
}

/** Whether a command's options make it read stdin: a filter with no inputs named, or `-` among them. */
export function readsStdin(options: CommonOptions): boolean {
  const inputs = options.inputs ?? [];
  return inputs.includes(STDIN_PATH) || (inputs.length === 0 && options.root === undefined);
}

/**
 * Runs one stage as its command does: on the standard layout under `root` (holding the root's
 * lock, unless it is a dry run), or as a filter on inputs or stdin; with the notes of what it saw.
 */
export async function runStage(stage: StageDefinition, options: StageCommandOptions): Promise<StageResult> {
  const { root, filter } = planReads(options, options.stdinIsTerminal ?? false);
  const run = (): Promise<Omit<StageResult, 'notes'>> => runStageAsPlanned(stage, options);
  let result: Omit<StageResult, 'notes'>;
  if (filter || options.dryRun) result = await run();
  else {
    await requireFolder(root, LAYOUT_INPUT[stage.reads], options.root); // a mistyped --root is named before a lock is made in it
    result = await withRootLock(root, stage.name, run);
  }
  return { ...result, notes: stageNotes(result.counts, { stage: stage.name, reads: stage.reads, readStdin: readsStdin(options) }) };
}

async function runStageAsPlanned(stage: StageDefinition, options: StageCommandOptions): Promise<Omit<StageResult, 'notes'>> {
  const place = placeOf(options);
  const sharded = await shardCount(stage, options);
  if (sharded > 1) return runStageSharded(stage, options, sharded);
  if (options.rules !== undefined && !stage.usesRules) throw usageError(`${stage.name} takes no rules file: the rules decide scores and instructions`);
  const ruleset = await rulesetOf(options.rules, place);
  const evidence = stage.kind === 'tree' ? undefined : evidencePath(place, options.evidence);
  const plan = await planStage(options, stage.name, {
    stdinIsTerminal: options.stdinIsTerminal ?? false,
    layoutInput: LAYOUT_INPUT[stage.reads],
    layoutOutput: stage.kind === 'tree' ? undefined : stage.writes,
    reads: evidence === undefined ? [] : [{ path: evidence, option: '--evidence' }],
    columns: stage.kind === 'tree' ? undefined : stage.columns[viewOf(stage, options.format)],
  });
  switch (stage.kind) {
    case 'dataset':
    case 'pairs':
      return runExport(stage, options, plan, evidence!, ruleset);
    case 'tree':
      return runTreeStage(stage, options, plan, ruleset);
  }
}

/**
 * How many local shards a run takes: as many as --jobs allows while each gets at least
 * MIN_SHARD_BYTES of input (a process and a merge cost more than a small input saves), and one
 * for stdin, a dry run, a tree stage used as a filter, or evidence from a pipe.
 */
export async function shardCount(stage: StageDefinition, options: StageCommandOptions): Promise<number> {
  const jobs = options.jobs ?? 1;
  if (jobs <= 1 || options.dryRun) return 1;
  const { root, filter, inputs } = planReads(options, options.stdinIsTerminal ?? false);
  if (filter && (inputs.length === 0 || inputs.includes(STDIN_PATH) || stage.kind === 'tree')) return 1;
  if (stage.kind !== 'tree') {
    // Evidence from a pipe (`<(…)`) can be read by one process only: it copies it once and joins.
    const evidence = await stat(evidencePath(placeOf(options), options.evidence)).catch(() => undefined);
    if (evidence !== undefined && !evidence.isFile() && !evidence.isDirectory()) return 1;
  }
  const reads = filter ? inputs : stage.reads === 'kb' ? await kbSourceFiles(root).catch(() => []) : [path.join(root, LAYOUT_INPUT[stage.reads])];
  const bytes = (await inputBytes(reads).catch(() => undefined)) ?? 0;
  return Math.max(1, Math.min(jobs, Math.floor(bytes / MIN_SHARD_BYTES)));
}

/** A command's options as a plan pins them: serialisable, every path absolute, recorded_at fixed. */
export function planOptionsOf(command: string, options: StageCommandOptions): Record<string, unknown> {
  const { cwd, root } = placeOf(options);
  const absolute = (file: unknown): string | undefined => (typeof file === 'string' ? path.resolve(cwd, file) : undefined);
  const stages = command === 'export-all' ? EXPORT_STAGES : [stageNamed(command)!];
  return {
    ...Object.assign({}, ...stages.map((stage) => stageFlags(stage, options))),
    cwd,
    root,
    inputs: (options.inputs ?? []).map((input) => (input === STDIN_PATH ? input : path.resolve(cwd, input))),
    ...(options.root === undefined ? { rootGiven: false } : {}),
    out: options.out,
    quarantine: options.quarantine,
    maxRowsPerFile: options.maxRowsPerFile,
    maxBytesPerFile: options.maxBytesPerFile,
    split: options.split,
    followSymlinks: options.followSymlinks,
    evidence: stages[0]!.kind === 'tree' ? undefined : evidencePath({ cwd, root }, options.evidence),
    rules: typeof options.rules === 'string' ? absolute(options.rules) : undefined,
    format: options.format,
    recordedAt: options.recordedAt ?? new Date().toISOString(),
    maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
    typed: { rules: typeof options.rules === 'string' ? options.rules : undefined, evidence: options.evidence } satisfies TypedPaths,
  };
}

/** The command options a plan pinned, as runStage takes them. */
export function commandOptionsOf(plan: ShardPlan): StageCommandOptions {
  const { rootGiven, typed: _typed, ...options } = plan.options;
  return { ...(options as StageCommandOptions), ...(rootGiven === false ? { root: undefined } : {}) };
}

/**
 * The ruleset a plan's shard or merge runs with: its rules file loaded again, refused when its bytes
 * are not those the plan pinned (shards scored by different rules would merge into a mix).
 */
export async function planRuleset(plan: ShardPlan, options: StageCommandOptions): Promise<Ruleset> {
  const typed = typedPathsOf(plan.options).rules ?? options.rules;
  const ruleset = await rulesetOf(options.rules, placeOf(options), typed);
  refuseChangedRules(plan.rulesSha256, typed, ruleset.source?.sha256);
  return ruleset;
}

/** How a shard of a plan runs its stage: the pinned options' ruleset, flags, view and tree paths. */
export async function shardContextOf(plan: ShardPlan): Promise<ShardRunContext> {
  const options = commandOptionsOf(plan);
  const place = placeOf(options);
  const ruleset = await planRuleset(plan, options);
  return {
    ruleset,
    flagsOf: (stage) => stageFlags(stage, options),
    viewOf: (stage) => viewOf(stage, options.format),
    relativeOf: (stage, input) => displayPath(path.join(place.root, LAYOUT_INPUT[stage.reads]), input.absolute!),
  };
}

/** How a plan's merge, and each of its pairing processes, makes a pairing stage's pairer: with the pinned options' flags, view and rules. */
export async function planPairerMaker(plan: ShardPlan): Promise<MergeTargets['pairerOf']> {
  const options = commandOptionsOf(plan);
  const ruleset = await planRuleset(plan, options);
  return (stage, lookup) => stage.pairer({ flags: stageFlags(stage, options) as never, recordedAt: options.recordedAt!, ruleset, view: viewOf(stage, options.format), lookup });
}

/** What a merge wrote: each stage's counts, and a single export's dataset_info.json entries. */
export interface MergeResult extends Pick<StageResult, 'datasetInfo'> {
  counts: Map<string, StageCounts>;
}

/**
 * Merges a plan's shards into the outputs its command writes (and the index it joined); `partDigests` from shards run in this
 * process. A pairing stage pairs its groups in up to `processes` processes (a local run's --jobs; the machine's cores).
 */
export async function mergePlan(plan: ShardPlan, wholeFiles: MergeTargets['wholeFiles'] = 'copy', partDigests?: MergeTargets['partDigests'], processes = os.availableParallelism()): Promise<MergeResult> {
  const options = commandOptionsOf(plan);
  const place = placeOf(options);
  const outputs = new Map<string, { output: OutputTarget; quarantine: OutputTarget }>();
  let tree: { path: string; display: string } | undefined;
  for (const stage of plan.command === 'export-all' ? EXPORT_STAGES : [stageNamed(plan.command)!]) {
    if (plan.command === 'export-all') {
      outputs.set(stage.name, { output: await resolveOutput({ given: stage.writes, option: `the ${stage.name} dataset` }, { cwd: place.root, root: place.root, followSymlinks: options.followSymlinks ?? false }), quarantine: await resolveOutput({ given: quarantineFile(stage.name), option: `the ${stage.name} quarantine` }, { cwd: place.root, root: place.root, followSymlinks: options.followSymlinks ?? false }) });
      continue;
    }
    const stagePlan = await planStage(options, stage.name, {
      stdinIsTerminal: false,
      layoutInput: LAYOUT_INPUT[stage.reads],
      layoutOutput: stage.kind === 'tree' ? undefined : stage.writes,
      reads: options.evidence === undefined ? [] : [{ path: options.evidence, option: '--evidence' }],
      columns: stage.kind === 'tree' ? undefined : stage.columns[viewOf(stage, options.format)],
    });
    outputs.set(stage.name, { output: stagePlan.output, quarantine: stagePlan.quarantine });
    if (stage.kind === 'tree') tree = { path: path.join(place.root, stage.writes), display: stage.writes };
  }
  const counts = await mergeShards(plan, {
    outputs,
    ...(tree === undefined ? {} : { tree }),
    pairerOf: await planPairerMaker(plan),
    pairElsewhere: pairInProcesses(plan, processes),
    wholeFiles,
    partDigests,
  });
  const single = plan.command === 'export-all' ? undefined : stageNamed(plan.command)!;
  const info = single === undefined || single.kind === 'tree' ? {} : datasetInfoOf(viewOf(single, options.format), outputs.get(single.name)!.output, counts.get(single.name)!, options);
  return { counts, ...info };
}

/** A stage run as local shards: planned, each shard a process (--jobs at a time), merged — the same bytes as one process. */
async function runStageSharded(stage: StageDefinition, options: StageCommandOptions, shards: number): Promise<Omit<StageResult, 'notes'>> {
  const { counts, datasetInfo } = await runCommandSharded(stage.name, options, shards);
  return { counts: counts.get(stage.name)!, ...(datasetInfo === undefined ? {} : { datasetInfo }) };
}

/** A command (a stage or export-all) run as local shards; the index report of its plan, when it joins. */
export async function runCommandSharded(command: string, options: StageCommandOptions, shards: number): Promise<MergeResult & { index?: IndexReport }> {
  const { planFile, work, remove } = await localWork();
  try {
    let index: IndexReport | undefined;
    const plan = await writePlan(command, planOptionsOf(command, options), shards, planFile, work, {
      progress: options.progress,
      onIndexReady: (report) => {
        index = report;
        options.onIndexReady?.(report);
      },
    });
    options.progress?.begin(command, plan.inputs.reduce((sum, file) => sum + file.size, 0));
    const progress = options.progress;
    // The shard run here feeds the progress line directly; its phases are the command's, begun above.
    const shardProgress = progress === undefined ? undefined : { begin: () => undefined, bytes: (n: number) => progress.bytes(n), rows: (n: number) => progress.rows(n) };
    // Shard 0 runs here: the merge continues the digests of its parts instead of reading them again.
    const partDigests = new Map<string, RunningDigest>();
    const context = { ...(await shardContextOf(plan)), progress: shardProgress, partDigests };
    await runShardsLocally(planFile, plan, options.jobs ?? 1, (shard, stop) => runShard(plan, shard, { ...context, signal: stop }), progress);
    return { ...(await mergePlan(plan, 'link', partDigests, options.jobs ?? 1)), ...(index === undefined ? {} : { index }) }; // the work goes right after: its files may be linked
  } finally {
    await remove();
  }
}

/** Starts the progress line of a stage with the bytes it will read, when they are known. */
async function beginProgress(stage: StageDefinition, options: StageCommandOptions, plan: StagePlan): Promise<void> {
  if (options.progress === undefined) return;
  const reads = plan.filter ? plan.inputs : stage.reads === 'kb' ? await kbSourceFiles(plan.root).catch(() => []) : [path.join(plan.root, LAYOUT_INPUT[stage.reads])];
  options.progress.begin(stage.name, await inputBytes(reads).catch(() => undefined));
}

async function runExport(stage: DatasetStage | PairStage, options: StageCommandOptions, plan: StagePlan, evidencePath: string, ruleset: Ruleset): Promise<Omit<StageResult, 'notes'>> {
  const skipped: string[] = [];
  const run = runOptions(stage, options, plan, planInputs(plan, LAYOUT_INPUT[stage.reads], skipped), ruleset);
  const targets = { output: plan.output, quarantine: plan.quarantine };
  const evidence = { evidence: evidencePath, root: plan.root, label: evidenceLabel(options.evidence), maxLineBytes: plan.maxLineBytes, onIndexReady: options.onIndexReady, progress: options.progress };
  const sameVersion = await oneVersionOf([...planFolders(plan, stage), evidencePath], plan.root);
  return withEvidence(evidence, async (lookup, index, unchanged) => {
    await beginProgress(stage, options, plan);
    const joined = {
      ...run,
      beforeCommit: async () => {
        unchanged();
        await sameVersion();
      },
    };
    const counts = stage.kind === 'pairs' ? await runPairs(stage, joined, targets, lookup) : await runDataset(stage, joined, targets, lookup);
    counts.skipped.push(...skipped);
    return { counts, index, ...datasetInfoOf(run.view, plan.output, counts, options) };
  });
}

/**
 * LLaMA-Factory's dataset_info.json entries for the files written, one per file named after it
 * (`NAME`, or `NAME-train` and `NAME-validation`), with dataset_dir the folder they are in; none for
 * a view it has no entry for, for stdout, or for a set of parts (which need a folder of their own).
 * sharegpt maps a `system` column only when rows may have one.
 */
function datasetInfoOf(view: string, output: OutputTarget, counts: StageCounts, options: StageCommandOptions): Pick<StageResult, 'datasetInfo'> {
  if (output.kind !== 'file' && output.kind !== 'parts') return {};
  if (output.kind === 'parts' && (output.maxRows !== undefined || output.maxBytes !== undefined)) return {};
  const chat = options as SftCommandOptions;
  const withSystem = chat.systemPrompt !== undefined || chat.context === 'system';
  const folder = path.posix.dirname(output.display);
  const stem = path.posix.basename(output.display).slice(0, -extensionOf(output.display).length || undefined);
  const written = output.kind === 'file' ? [output.display] : counts.outputs.map((digest) => digest.path).filter((file) => path.posix.dirname(file) === folder && path.posix.basename(file).startsWith(`${stem}-`));
  const entries: Record<string, Record<string, unknown>> = {};
  for (const file of written) {
    const name = path.posix.basename(file);
    const entry = llamaFactoryEntry(view, name, withSystem);
    if (entry === undefined) return {};
    entries[name.slice(0, name.length - extensionOf(name).length)] = entry;
  }
  return { datasetInfo: entries };
}

async function runTreeStage(stage: TreeStage, options: StageCommandOptions, plan: StagePlan, ruleset: Ruleset): Promise<Omit<StageResult, 'notes'>> {
  if (plan.output.kind === 'parts') throw usageError(`${stage.name} writes no dataset: --max-rows-per-file, --max-bytes-per-file and --split apply to sft, rag and preference`);
  await beginProgress(stage, options, plan);
  const beforeCommit = await oneVersionOf(planFolders(plan, stage), plan.root);
  const skipped: string[] = [];
  if (plan.filter) {
    if (stage.name === 'collect' && (options as CollectCommandOptions).source === undefined) throw usageError('collect as a filter needs --source NAME (the _kb source the rows come from)');
    const counts = await runTreeFilter(stage, { ...runOptions(stage, options, plan, planInputs(plan, LAYOUT_INPUT[stage.reads], skipped), ruleset), beforeCommit }, { output: plan.output, quarantine: plan.quarantine });
    counts.skipped.push(...skipped);
    return { counts };
  }
  if (stage.name === 'collect' && (options as CollectCommandOptions).source !== undefined) {
    throw usageError('--source names the source of rows collect reads as a filter (inputs or stdin); on the standard layout each data/_kb file names its own');
  }
  if (options.out !== undefined) throw usageError(`${stage.name} on the standard layout rebuilds ${stage.writes}; --out applies when it reads rows from inputs or stdin`);
  const inputRoot = path.join(plan.root, LAYOUT_INPUT[stage.reads]);
  const inputs = stage.reads === 'kb' ? kbInputs(plan.root) : resolveInputs([inputRoot], plan.root, plan.root, skippedInto(skipped));
  const atomic = options.dryRun ? undefined : await AtomicTree.create(path.join(plan.root, stage.writes), stage.writes);
  const tree = atomic === undefined ? undefined : { folder: atomic.tempPath, display: stage.writes, commit: atomic };
  const relativeOf = (input: InputSource): string => displayPath(inputRoot, input.absolute!);
  const counts = await runTree(stage, { ...runOptions(stage, options, plan, inputs, ruleset), beforeCommit }, { quarantine: plan.quarantine, tree, relativeOf });
  counts.skipped.push(...skipped);
  return { counts };
}

/** The folders (and files) a plan reads: those named, or its layout folder. */
const planFolders = (plan: StagePlan, stage: StageDefinition): readonly string[] => (plan.filter ? plan.inputs : [path.join(plan.root, LAYOUT_INPUT[stage.reads])]);

/** The `_kb` source files as inputs, in name order. */
async function* kbInputs(root: string): AsyncGenerator<InputSource> {
  for (const absolute of await kbSourceFiles(root)) yield* singleInput({ display: displayPath(root, absolute), absolute });
}

// ---------------------------------------------------------------------------------------------
// Typed library entry points, one per stage command.

export interface SftCommandOptions extends StageCommandOptions {
  includePartial?: boolean;
  repoRoot?: string;
  format?: SftFormat;
  /** Chat views: where the context goes (default: system for messages, none for the newer chat views). */
  context?: ContextPlacement;
  /** Chat views: the system turn's text. */
  systemPrompt?: string;
}
export interface RagCommandOptions extends StageCommandOptions {
  includeReview?: boolean;
  repoRoot?: string;
}
export interface PreferenceCommandOptions extends StageCommandOptions {
  format?: 'spec' | 'dpo' | 'openai-dpo';
}
export interface CollectCommandOptions extends StageCommandOptions {
  /** As a filter: the _kb source the rows come from. */
  source?: string;
}

/** sft: scored runs joined with their evidence → SFT samples. */
export const runSft = (options: SftCommandOptions): Promise<StageResult> => runStage(sftStage, options);
/** rag: scored runs joined with their evidence → RAG playbooks. */
export const runRag = (options: RagCommandOptions): Promise<StageResult> => runStage(ragStage, options);
/** preference: scored runs → chosen/rejected pairs per task. */
export const runPreference = (options: PreferenceCommandOptions): Promise<StageResult<PairCounts>> => runStage(preferenceStage, options) as Promise<StageResult<PairCounts>>;
/** collect: raw `_kb` logs → the evidence tree (or evidence lines, as a filter with `source`). */
export const runCollect = (options: CollectCommandOptions): Promise<StageResult> => runStage(collectStage, options);
/** score: the evidence tree → the scored-runs tree (or scored lines, as a filter). */
export const runScore = (options: StageCommandOptions): Promise<StageResult> => runStage(scoreStage, options);

import path from 'node:path';
import type { PairCounts, StageCounts } from '../src/engine/counts.js';
import { runDataset, runPairs, runTree, runTreeFilter, type StageRunOptions } from '../src/engine/run.js';
import type { DatasetStage, PairStage, StageDefinition, TreeStage } from '../src/engine/stage.js';
import { usageError } from '../src/errors.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import { inputBytes, resolveInputs, singleInput } from '../src/io/inputs.js';
import { kbSourceFiles } from '../src/io/kb.js';
import type { InputSource } from '../src/io/line-source.js';
import { displayPath } from '../src/io/paths.js';
import { LAYOUT } from '../src/layout.js';
import { camelCase } from '../src/options.js';
import { builtinRuleset, type Ruleset } from '../src/core/ruleset.js';
import { loadRuleset } from '../src/io/rules-file.js';
import { collectStage } from '../src/stages/collect.js';
import { preferenceStage } from '../src/stages/preference.js';
import { ragStage } from '../src/stages/rag.js';
import { scoreStage } from '../src/stages/score.js';
import { llamaFactoryEntry, sftStage, type ContextPlacement, type SftFormat } from '../src/stages/sft.js';
import { extensionOf } from '../src/io/output-format.js';
import { withEvidence } from './evidence.js';
import { evidencePath, planInputs, placeOf, planStage, type CommonOptions, type StagePlan } from './plan.js';

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
}

/** The layout folder each kind of input lives in. */
const LAYOUT_INPUT: Record<StageDefinition['reads'], string> = { kb: LAYOUT.kb, evidence: LAYOUT.evidence, 'scored-runs': LAYOUT.scoredRuns };

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

/** Runs one stage as its command does: on the standard layout under `root`, or as a filter on inputs or stdin. */
/** The ruleset a run uses: the rules file given (loaded and checked once), else the built-in one. */
export async function rulesetOf(rules: string | Ruleset | undefined, place: { cwd: string; root: string }): Promise<Ruleset> {
  if (rules === undefined) return builtinRuleset();
  if (typeof rules !== 'string') return rules;
  const absolute = path.resolve(place.cwd, rules);
  return loadRuleset(absolute, { display: displayPath(place.root, absolute) });
}

export async function runStage(stage: StageDefinition, options: StageCommandOptions): Promise<StageResult> {
  const place = placeOf(options);
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

/** Starts the progress line of a stage with the bytes it will read, when they are known. */
async function beginProgress(stage: StageDefinition, options: StageCommandOptions, plan: StagePlan): Promise<void> {
  if (options.progress === undefined) return;
  const reads = plan.filter ? plan.inputs : stage.reads === 'kb' ? await kbSourceFiles(plan.root).catch(() => []) : [path.join(plan.root, LAYOUT_INPUT[stage.reads])];
  options.progress.begin(stage.name, await inputBytes(reads).catch(() => undefined));
}

async function runExport(stage: DatasetStage | PairStage, options: StageCommandOptions, plan: StagePlan, evidencePath: string, ruleset: Ruleset): Promise<StageResult> {
  const run = runOptions(stage, options, plan, planInputs(plan, LAYOUT_INPUT[stage.reads]), ruleset);
  const targets = { output: plan.output, quarantine: plan.quarantine };
  const evidence = { evidence: evidencePath, root: plan.root, maxLineBytes: plan.maxLineBytes, onIndexReady: options.onIndexReady, progress: options.progress };
  return withEvidence(evidence, async (lookup, index) => {
    await beginProgress(stage, options, plan);
    const counts = stage.kind === 'pairs' ? await runPairs(stage, run, targets, lookup) : await runDataset(stage, run, targets, lookup);
    const withSystem = (options as SftCommandOptions).systemPrompt !== undefined || (options as SftCommandOptions).context === 'system';
    const datasetInfo = datasetInfoOf(run.view, plan.output, counts, withSystem);
    return { counts, index, ...(datasetInfo === undefined ? {} : { datasetInfo }) };
  });
}

/**
 * LLaMA-Factory's dataset_info.json entries for the files written, one per file named after it
 * (`NAME`, or `NAME-train` and `NAME-validation`), with dataset_dir the folder they are in; none for
 * a view it has no entry for, for stdout, or for a set of parts (which need a folder of their own).
 */
function datasetInfoOf(view: string, output: StagePlan['output'], counts: StageCounts, withSystem: boolean): Record<string, Record<string, unknown>> | undefined {
  if (output.kind !== 'file' && output.kind !== 'parts') return undefined;
  if (output.kind === 'parts' && (output.maxRows !== undefined || output.maxBytes !== undefined)) return undefined;
  const entries: Record<string, Record<string, unknown>> = {};
  const written = output.kind === 'file' ? [output.display] : counts.outputs.map((digest) => digest.path).filter((file) => path.posix.dirname(file) === path.posix.dirname(output.display));
  for (const file of written) {
    const name = path.posix.basename(file);
    const entry = llamaFactoryEntry(view, name, withSystem);
    if (entry === undefined) return undefined;
    entries[name.slice(0, name.length - extensionOf(name).length)] = entry;
  }
  return entries;
}

async function runTreeStage(stage: TreeStage, options: StageCommandOptions, plan: StagePlan, ruleset: Ruleset): Promise<StageResult> {
  if (plan.output.kind === 'parts') throw usageError(`${stage.name} writes no dataset: --max-rows-per-file, --max-bytes-per-file and --split apply to sft, rag and preference`);
  await beginProgress(stage, options, plan);
  if (plan.filter) {
    if (stage.name === 'collect' && (options as CollectCommandOptions).source === undefined) throw usageError('collect as a filter needs --source NAME (the _kb source the rows come from)');
    const counts = await runTreeFilter(stage, runOptions(stage, options, plan, planInputs(plan, LAYOUT_INPUT[stage.reads]), ruleset), { output: plan.output, quarantine: plan.quarantine });
    return { counts };
  }
  const inputRoot = path.join(plan.root, LAYOUT_INPUT[stage.reads]);
  const inputs = stage.reads === 'kb' ? kbInputs(plan.root) : resolveInputs([inputRoot], plan.root);
  const tree = options.dryRun ? undefined : { path: path.join(plan.root, stage.writes), display: stage.writes };
  const relativeOf = (input: InputSource): string => displayPath(inputRoot, input.absolute!);
  if (stage.name === 'collect' && (options as CollectCommandOptions).source !== undefined) {
    throw usageError('--source names the source of rows collect reads as a filter (inputs or stdin); on the standard layout each data/_kb file names its own');
  }
  if (options.out !== undefined) throw usageError(`${stage.name} on the standard layout rebuilds ${stage.writes}; --out applies when it reads rows from inputs or stdin`);
  const counts = await runTree(stage, runOptions(stage, options, plan, inputs, ruleset), { quarantine: plan.quarantine, tree, relativeOf });
  return { counts };
}

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

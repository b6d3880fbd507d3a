import { createHash, randomBytes } from 'node:crypto';
import { constants, copyFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { isJsonObject, parseJson } from '../src/core/gates.js';
import type { Ruleset } from '../src/core/ruleset.js';
import { PairCounts, StageCounts } from '../src/engine/counts.js';
import { withOutputs } from '../src/engine/outputs.js';
import { runDataset, runFanOut, runPairs, runTree, type StageRunOptions } from '../src/engine/run.js';
import { abandonPairs, beginPairs, mergePairs, type PairElsewhere, type PairsBegun } from '../src/engine/pair-merge.js';
import { copyInto, copyParts, DUPLICATE_KEYS, firstParts, mergeCounts, mergeDataset, mergePartitioned, ShardRecorder, shardCountsOf, treeFiles, type ShardCounts, type SourceRecords, type TreePart, type WriteTreeFile } from '../src/engine/shards.js';
import type { DatasetStage, PairStage, StageDefinition, TreeStage } from '../src/engine/stage.js';
import { DistillError, ioError, usageError } from '../src/errors.js';
import { loadRuleset } from '../src/io/rules-file.js';
import { AtomicTree } from '../src/io/atomic-tree.js';
import { ensureFolder, exists, hardLink } from '../src/io/folders.js';
import { fileDigest, fileState, type RunningDigest } from '../src/io/digest.js';
import { trackTemp, untrackTemp } from '../src/io/temp-path.js';
import { readJson, readOwnFile, readOwnJson, writeWhole } from '../src/io/small-file.js';
import type { InputSource } from '../src/io/line-source.js';
import { openLines } from '../src/io/line-source.js';
import type { RawLine } from '../src/io/line-splitter.js';
import { rawExcerpt } from '../src/engine/quarantine.js';
import { cutIntoPieces, type Piece, type PlannedFile } from '../src/io/pieces.js';
import { displayPath, STDIN_PATH } from '../src/io/paths.js';
import { removeAbandonedFolders } from '../src/io/temp-path.js';
import { openSink, type OutputTarget } from '../src/io/sink.js';
import { walkInputFiles } from '../src/io/walk.js';
import { kbSourceFiles } from '../src/io/kb.js';
import { LAYOUT, quarantineFile } from '../src/layout.js';
import type { FileDigest } from '../src/receipts.js';
import type { EvidenceLookup, SourceLocation, StageName } from '../src/records.js';
import type { ProgressSink } from '../src/progress.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import type { ShardReport } from '../src/report/page/types.js';
import { EXPORT_STAGES, STAGES, stageNamed } from '../src/stages/registry.js';
import { lastAnswerCached, withEvidence, type EvidenceOptions } from './evidence.js';
import { evidenceLabel } from './plan.js';
import { runChild, type ChildFailure } from './child.js';

/**
 * One command's work cut into shards: the command and its options pinned, its inputs in walk order
 * with what tells that they changed, and each shard's pieces. Written by `plan`, read by every
 * `shard` and by the `merge`; the same contract serves local `--jobs N` runs.
 */
export interface ShardPlan {
  format: typeof PLAN_FORMAT;
  /** sft, rag, preference, export-all, collect or score. */
  command: string;
  /** The command's options (camelCased, paths absolute, `typed` as given: see TypedPaths), recorded_at pinned. */
  options: Record<string, unknown>;
  inputs: PlannedFile[];
  /** Files cut across shards, hashed by the plan (no shard reads all of one). */
  hashed: Record<string, FileDigest>;
  shards: Piece[][];
  /** Where shards write their results (shard-<i>/ and shard-<i>.done). */
  work: string;
  /** The evidence index generation the plan built (exports): every shard and the merge join it, or refuse. */
  evidenceIndex?: string;
  /** The sha256 of the rules file (options.rules) when the plan was written: a shard or merge given other rules refuses. */
  rulesSha256?: string;
}

export const PLAN_FORMAT = 'distill-stream-plan/1';
/** Commands a plan can shard: each dataset export, export-all, then each tree stage. */
export const SHARDABLE: readonly string[] = [...EXPORT_STAGES.map((stage) => stage.name), 'export-all', ...STAGES.filter((stage) => stage.kind === 'tree').map((stage) => stage.name)];
/**
 * Below this many input bytes a shard costs more (a process, a merge) than it saves. Test seam:
 * DISTILL_STREAM_MIN_SHARD_BYTES lets small inputs run as local shards.
 */
export const MIN_SHARD_BYTES = Number(process.env['DISTILL_STREAM_MIN_SHARD_BYTES'] ?? 32 << 20);

const CLI_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.js');

/** The stages a command runs: one, or every export for export-all. */
function stagesOf(command: string): StageDefinition[] {
  if (command === 'export-all') return [...EXPORT_STAGES];
  const stage = stageNamed(command);
  if (stage === undefined) throw usageError(`${command} cannot be sharded (one of ${SHARDABLE.join(', ')})`);
  return [stage];
}

/** The files a command reads, in walk order: its named inputs, or its layout folder. */
async function inputFilesOf(command: string, options: Record<string, unknown>): Promise<PlannedFile[]> {
  const root = options['root'] as string;
  const named = (options['inputs'] as string[] | undefined) ?? [];
  if (named.includes(STDIN_PATH)) throw usageError('rows on stdin cannot be cut into shards: name files or folders');
  const stage = stagesOf(command)[0]!;
  const files: PlannedFile[] = [];
  const take = async (target: string): Promise<void> => {
    for await (const file of walkInputFiles(target)) files.push({ path: file.absolute, display: displayPath(root, file.absolute), size: file.size, mtimeMs: file.mtimeMs });
  };
  if (named.length > 0) for (const input of named) await take(input);
  else if (stage.reads === 'kb') for (const file of await kbSourceFiles(root)) await take(file);
  else await take(path.join(root, stage.reads === 'evidence' ? LAYOUT.evidence : LAYOUT.scoredRuns));
  return files;
}

/** The sha256 of a plan's content: a shard's done marker names the plan it ran. */
export const planHash = (plan: object): string => createHash('sha256').update(JSON.stringify(plan)).digest('hex');

/**
 * The rules file and evidence as they were given to the command planned (a plan pins them absolute):
 * the plan, its shards and its merge name them so, as the command in one process does.
 */
export interface TypedPaths {
  rules?: string | undefined;
  evidence?: string | undefined;
}

export const typedPathsOf = (options: Record<string, unknown>): TypedPaths => (options['typed'] as TypedPaths | undefined) ?? {};

/** How messages name a rules file: its problems relative to `root`, an I/O error by `--rules` and `typed` (default its path). */
export interface RulesNaming {
  root?: string | undefined;
  typed?: string | undefined;
}

/**
 * A rules file loaded as every command loads one (at most MAX_RULES_FILE_BYTES, checked), named as
 * `naming` says (its receipt digest names it relative to the root too).
 */
export function loadRulesFile(absolute: string, naming: RulesNaming = {}): Promise<Ruleset> {
  return loadRuleset(absolute, { ...(naming.root === undefined ? {} : { display: displayPath(naming.root, absolute) }), label: `--rules ${naming.typed ?? absolute}` });
}

/** The sha256 of a rules file: a plan pins it, and a shard or merge given other bytes refuses. A bad file fails the plan. */
export async function rulesSha256Of(rules: string, naming?: RulesNaming): Promise<string> {
  return (await loadRulesFile(rules, naming)).source!.sha256;
}

/** Refuses rules whose sha256 (`now`) is not the one a plan pinned: shards scored by different rules would merge into a mix. */
export function refuseChangedRules(pinned: string | undefined, rules: unknown, now: string | undefined): void {
  if (pinned === undefined || now === pinned) return;
  throw new DistillError('DS_IO', `--rules ${String(rules)}: the rules file changed since the plan was written; write a new plan`, { path: String(rules), option: '--rules' });
}

/**
 * Writes a plan for `command` run with `options` (already resolved: absolute paths, root): the
 * inputs cut into `shards` pieces balanced by bytes, recorded_at pinned, and — for the exports —
 * the evidence index built now, so shards only read it.
 */
export async function writePlan(command: string, options: Record<string, unknown>, shards: number, file: string, work: string, more: PlanExtras = {}): Promise<ShardPlan> {
  const { progress, minPieceBytes, onIndexReady } = more;
  await ensurePlanFolder(file, more.typed);
  const stages = stagesOf(command);
  const pinned: Record<string, unknown> = { ...options, recordedAt: options['recordedAt'] ?? new Date().toISOString() };
  const inputs = await inputFilesOf(command, pinned);
  const { shards: pieces, hashed } = await cutIntoPieces(inputs, shards, minPieceBytes);
  // The rules before the index, as one process loads them: a bad file fails before the index is built.
  const rules = pinned['rules'] as string | undefined;
  const rulesSha256 = rules === undefined ? undefined : await rulesSha256Of(rules, { root: pinned['root'] as string, typed: typedPathsOf(pinned).rules });
  let evidenceIndex: string | undefined;
  if (stages.some((stage) => stage.kind !== 'tree')) {
    evidenceIndex = await withEvidence({ ...planEvidence(pinned), progress }, async (_lookup, report) => {
      onIndexReady?.(report);
      return report.generation;
    });
  }
  const plan: ShardPlan = {
    format: PLAN_FORMAT,
    command,
    options: pinned,
    inputs,
    hashed: Object.fromEntries([...hashed].map(([n, digest]) => [String(n), digest])),
    shards: pieces,
    work,
    ...(evidenceIndex === undefined ? {} : { evidenceIndex }),
    ...(rulesSha256 === undefined ? {} : { rulesSha256 }),
  };
  await writePlanFile(file, plan, more.typed);
  return plan;
}

export interface PlanExtras {
  progress?: ProgressSink | undefined;
  /** A cut this close to a file's start or end snaps to its edge (default: cutIntoPieces'). */
  minPieceBytes?: number | undefined;
  /** Told the evidence index the plan built (exports), as soon as it is ready. */
  onIndexReady?: ((report: IndexReport) => void) | undefined;
  /** The plan file as the user typed it (`--out`), for messages. */
  typed?: string | undefined;
}

/**
 * Makes a plan file's folder, before any work is done for it (an index built, a phase planned). A
 * failure is named by the path as the user typed it with `--out`, when they did: a plan may be
 * written where no folder can be.
 */
export async function ensurePlanFolder(file: string, typed?: string): Promise<void> {
  await ensureFolder(path.dirname(file)).catch((cause: unknown) => {
    throw typed === undefined ? ioError(file, cause) : ioError(typed, cause, '--out');
  });
}

/** Writes a plan file (a command's or run-all's) whole, its folder made first. */
export async function writePlanFile(file: string, plan: object, typed?: string): Promise<void> {
  await ensurePlanFolder(file, typed);
  await writeWhole(file, `${JSON.stringify(plan, null, 2)}\n`, typed ?? file, typed === undefined ? undefined : '--out');
}

/** The evidence a plan joins, named in messages as it was given to the command planned. */
export const planEvidence = (options: Record<string, unknown>): EvidenceOptions => ({
  evidence: options['evidence'] as string,
  root: options['root'] as string,
  label: evidenceLabel(typedPathsOf(options).evidence),
  maxLineBytes: options['maxLineBytes'] as number,
});

/** Works with the evidence index a plan pinned (the generation its plan step built), as each shard, a merge and a pairing process does. */
export const withPlanEvidence = <R>(plan: ShardPlan, work: Parameters<typeof withEvidence<R>>[1]): Promise<R> =>
  withEvidence({ ...planEvidence(plan.options), generation: plan.evidenceIndex }, work);

/** A plan lists every input file (a few hundred bytes each): this holds about a million; a larger file is not one of ours. */
export const MAX_PLAN_FILE_BYTES = 256 << 20;

/**
 * A plan file of this version, as written: a command's shard plan, or a run-all plan
 * (pipelines/run-all-plan.ts) by its `command`. Messages name it as `typed` (the path as the user gave it).
 */
export async function readPlanFile(file: string, typed = file): Promise<Record<string, unknown>> {
  const plan = await readJson(file, MAX_PLAN_FILE_BYTES, (why) => new DistillError('DS_USAGE', `${typed} is not a shard plan (${why})`, { path: typed }), typed);
  if (!isJsonObject(plan) || plan['format'] !== PLAN_FORMAT) throw new DistillError('DS_USAGE', `${typed} is not a shard plan of this version`, { path: typed });
  return plan;
}

/** A command's shard plan; a run-all plan is refused (its phases are plans of their own). Named as readPlanFile names it. */
export async function readPlan(file: string, typed = file): Promise<ShardPlan> {
  const plan = await readPlanFile(file, typed);
  if (plan['command'] === 'run-all') throw new DistillError('DS_USAGE', `${typed} is a run-all plan: \`distill-stream shard\` and \`merge\` run its phases`, { path: typed });
  return plan as unknown as ShardPlan;
}

/** Refuses a plan whose inputs (these, by index) changed since it was written, naming the first that did. */
export async function checkInputs(plan: ShardPlan, files: Iterable<number>): Promise<void> {
  for (const n of files) {
    const file = plan.inputs[n]!;
    const now = await stat(file.path).catch(() => undefined);
    if (now === undefined) throw new DistillError('DS_IO', `${file.display} is gone since the plan was written; write a new plan`, { path: file.display });
    if (now.size !== file.size || now.mtimeMs !== file.mtimeMs) {
      throw new DistillError('DS_IO', `${file.display} changed since the plan was written (${file.size} → ${now.size} bytes, mtime ${new Date(file.mtimeMs).toISOString()} → ${new Date(now.mtimeMs).toISOString()}); write a new plan`, { path: file.display });
    }
  }
}

const shardFolder = (plan: ShardPlan, index: number): string => path.join(plan.work, `shard-${String(index).padStart(5, '0')}`);
const doneMarker = (plan: ShardPlan, index: number): string => `${shardFolder(plan, index)}.done`;
/** A done marker holds its plan's hash (65 bytes). */
const MAX_MARKER_BYTES = 4 << 10;

/** A shard's input pieces as inputs (a whole file is read whole: hashed, and gunzipped when it is gzip). */
function piecesOf(plan: ShardPlan, index: number): InputSource[] {
  return plan.shards[index]!.map((piece) => {
    const file = plan.inputs[piece.file]!;
    const whole = piece.start === 0 && piece.end === file.size;
    return { display: file.display, absolute: file.path, ...(whole ? {} : { range: { start: piece.start, end: piece.end, firstLine: piece.firstLine } }) };
  });
}

async function* listed(sources: readonly InputSource[]): AsyncGenerator<InputSource> {
  yield* sources;
}

/**
 * A shard's part of an output: written to `file`, named in its digests as the output it is a part of. With `digests`, its
 * running digest is kept there: only a dataset's parts are ever an output's beginning, which continues that digest.
 */
const part = (file: string, of: string, digests?: Map<string, RunningDigest>): OutputTarget => ({ kind: 'direct', path: file, display: of, label: file, ...(digests === undefined ? {} : { runningDigests: digests }) });

export interface ShardRunContext {
  /** Told the bytes and rows the shard reads (a local run's child forwards them to the parent's progress line). */
  progress?: ProgressSink | undefined;
  ruleset: Ruleset;
  flagsOf: (stage: StageDefinition) => Record<string, unknown>;
  viewOf: (stage: StageDefinition) => string;
  relativeOf: (stage: StageDefinition, input: InputSource) => string;
  /** Aborted to stop the shard (a local run's other shard failed): it fails, leaving no part, marker or temp. */
  signal?: AbortSignal | undefined;
  /**
   * Given, when the merge runs in this process: filled with the running digest of each part the
   * shard writes, by its path in the shard's folder, so the merge continues them rather than reading
   * the parts again. A shard done already adds nothing.
   */
  partDigests?: Map<string, RunningDigest> | undefined;
}

/** Refuses a `--shard` index that is not one of a plan's `count` shards. */
export function refuseShardIndex(index: number, count: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) throw usageError(`--shard ${index} is not a shard of this plan (0…${count - 1})`);
}

/**
 * Runs shard `index` of a plan: its pieces through the command's stages into its own folder,
 * committed whole by a rename, then the done marker. A done shard is not run again; a killed one
 * leaves only a hidden temp folder, never a part or marker that looks complete.
 */
export async function runShard(plan: ShardPlan, index: number, context: ShardRunContext): Promise<'ran' | 'done already'> {
  refuseShardIndex(index, plan.shards.length);
  const marker = doneMarker(plan, index);
  const hash = planHash(plan);
  const done = (await readOwnFile(marker, MAX_MARKER_BYTES))?.toString('utf8');
  if (done !== undefined) {
    if (done.trim() === hash) return 'done already';
    throw new DistillError('DS_IO', `${marker} was written for another plan; remove the work folder ${plan.work} or use a new one`, { path: marker });
  }
  await checkInputs(plan, plan.shards[index]!.map((piece) => piece.file));
  const folder = shardFolder(plan, index);
  const temp = path.join(plan.work, `.shard-${index}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await ensureFolder(temp);
  try {
    // A shard with no pieces (fewer cut points than shards) reads nothing, joins nothing: an empty result and its marker, so every index of the plan is valid.
    const digests = new Map<string, RunningDigest>();
    const results = plan.shards[index]!.length === 0 ? [] : await runPieces(plan, index, context, temp, digests);
    await writeFile(path.join(temp, 'result.json'), JSON.stringify(results));
    await rm(folder, { recursive: true, force: true }); // a part of a killed earlier attempt: never done, never trusted
    await rename(temp, folder);
    await writeWhole(marker, `${hash}\n`);
    for (const [file, digest] of digests) context.partDigests?.set(path.join(folder, path.relative(temp, file)), digest);
    return 'ran';
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** Runs a shard's pieces through the command's stages into `temp`: each stage's results as the merge needs them, each part's running digest in `digests`. */
async function runPieces(plan: ShardPlan, index: number, context: ShardRunContext, temp: string, digests: Map<string, RunningDigest>): Promise<ShardCounts[]> {
  const stages = stagesOf(plan.command);
  const ordinal = new Map(plan.inputs.map((file, n) => [file.display, n]));
  const ordinalOf = (display: string): number => ordinal.get(display) ?? 0;
  const sources = piecesOf(plan, index);
  const options = plan.options;
  const base = { recordedAt: options['recordedAt'] as string, ruleset: context.ruleset, maxLineBytes: options['maxLineBytes'] as number, progress: context.progress, signal: context.signal };
  const results: ShardCounts[] = [];
  if (stages.every((stage) => stage.kind === 'tree')) {
    const stage = stages[0] as TreeStage;
    const recorder = new ShardRecorder(temp, ordinalOf, stage.split.by === 'rows' && stage.split.duplicatesBy !== 'none' ? DUPLICATE_KEYS[stage.split.duplicatesBy] : undefined);
    const run: StageRunOptions = { ...base, flags: context.flagsOf(stage), view: 'spec', inputs: listed(sources), recorder };
    const counts = await runTree(stage, run, { quarantine: part(path.join(temp, 'quarantine'), quarantineFile(stage.name)), tree: { folder: path.join(temp, 'tree'), display: stage.writes }, relativeOf: (input) => context.relativeOf(stage, input) });
    await recorder.close();
    results.push(shardCountsOf(stage.name, counts, recorder.partitions));
  } else {
    await withPlanEvidence(plan, async (lookup, _index, unchanged) => {
      const exports = stages as Array<DatasetStage | PairStage>;
      const folders = exports.map((stage) => (exports.length === 1 ? temp : path.join(temp, stage.name)));
      for (const folder of folders) await ensureFolder(folder);
      const recorders = exports.map((stage, n) => new ShardRecorder(folders[n]!, ordinalOf, stage.split.by === 'rows' && stage.split.duplicatesBy !== 'none' ? DUPLICATE_KEYS[stage.split.duplicatesBy] : undefined));
      const targetsOf = (n: number) => {
        const kept = exports[n]!.kind === 'dataset' ? digests : undefined; // a pairing stage's parts are copied or re-read, never begun with
        return { output: part(path.join(folders[n]!, 'out'), exports[n]!.writes, kept), quarantine: part(path.join(folders[n]!, 'quarantine'), quarantineFile(exports[n]!.name), kept) };
      };
      let counts: StageCounts[];
      if (exports.length === 1) {
        const stage = exports[0]!;
        const run: StageRunOptions = { ...base, flags: context.flagsOf(stage), view: context.viewOf(stage), inputs: listed(sources), recorder: recorders[0], passOneOnly: true, beforeCommit: unchanged };
        counts = [stage.kind === 'pairs' ? await runPairs(stage, run, targetsOf(0), lookup) : await runDataset(stage, run, targetsOf(0), lookup)];
      } else {
        const fanOut = exports.map((stage, n) => ({ stage, flags: context.flagsOf(stage), targets: targetsOf(n), recorder: recorders[n] }));
        counts = await runFanOut(fanOut, { ...base, inputs: listed(sources), passOneOnly: true, beforeCommit: unchanged }, lastAnswerCached(lookup));
      }
      for (const recorder of recorders) await recorder.close();
      exports.forEach((stage, n) => results.push(shardCountsOf(stage.name, counts[n]!)));
    });
  }
  return results;
}


/** `--array=1,3-4`: the indexes as Slurm ranges. */
export function arrayExpression(indexes: readonly number[]): string {
  const parts: string[] = [];
  for (let n = 0; n < indexes.length; ) {
    let end = n;
    while (end + 1 < indexes.length && indexes[end + 1] === indexes[end]! + 1) end++;
    parts.push(end === n ? String(indexes[n]) : `${indexes[n]}-${indexes[end]}`);
    n = end + 1;
  }
  return parts.join(',');
}

/** The shards a plan still needs: no done marker for this plan. */
export async function missingShards(plan: ShardPlan): Promise<number[]> {
  const hash = planHash(plan);
  const missing: number[] = [];
  for (let n = 0; n < plan.shards.length; n++) {
    const done = await readOwnFile(doneMarker(plan, n), MAX_MARKER_BYTES);
    if (done?.toString('utf8').trim() !== hash) missing.push(n);
  }
  return missing;
}

/** The shards that read something, by index: an empty one has nothing to merge. */
const shardsWithPieces = (plan: ShardPlan): number[] => plan.shards.flatMap((pieces, n) => (pieces.length > 0 ? [n] : []));

/** Shard `index`'s results, as its result.json holds them; one that is gone or damaged is run again. */
async function shardResult(plan: ShardPlan, index: number): Promise<ShardCounts[]> {
  const file = path.join(shardFolder(plan, index), 'result.json');
  const result = await readOwnJson(file, MAX_PLAN_FILE_BYTES);
  if (Array.isArray(result)) return result as ShardCounts[];
  throw new DistillError('DS_IO', `${file}: shard ${index}'s result is missing or damaged; remove ${doneMarker(plan, index)} and run shard ${index} again`, { path: file });
}

/**
 * What each shard of a done plan did, for the run's page: per shard and stage, the rows it read and
 * kept and its parts of the outputs (a pairing stage's part is the rows it spilled for the merge to
 * pair, not output: only its quarantine part is listed).
 */
export async function shardReports(plan: ShardPlan): Promise<ShardReport[]> {
  const stages = stagesOf(plan.command);
  const reports: ShardReport[] = [];
  for (let n = 0; n < plan.shards.length; n++) {
    const results = await shardResult(plan, n);
    for (const stage of stages) {
      const result = results.find((r) => r.stage === stage.name);
      const outputs = (result?.outputs ?? []).filter((digest) => stage.kind !== 'pairs' || digest.path !== stage.writes);
      reports.push({ shard: n, stage: stage.receipt, status: 'done', rows_in: result?.in ?? 0, rows_out: result?.validRows ?? result?.out ?? 0, outputs });
    }
  }
  return reports;
}

/** Where the merge writes each stage, and how a row is read again. */
export interface MergeTargets {
  outputs: Map<string, { output: OutputTarget; quarantine: OutputTarget }>;
  /** A tree stage's tree (collect, score): where it is rebuilt. */
  tree?: { path: string; display: string };
  pairerOf: (stage: PairStage, lookup: EvidenceLookup) => ReturnType<PairStage['pairer']>;
  /**
   * How a tree file one shard wrote whole (most of them: pieces follow walk order) reaches the tree.
   * `link` when the shards' work is removed as soon as the merge is done (a local run): a hard link
   * costs nothing. Otherwise `copy`, in the kernel (a reflink where the filesystem has them): a link
   * would tie the file's ctime to the work folder's, and the evidence index re-reads in full a file
   * whose ctime moved. A 2-shard collect over 1 GB of logs streamed 900 MB through its merge; a
   * kernel copy of 448 MB takes 0.9 s here, a link nothing.
   */
  wholeFiles: 'link' | 'copy';
  /** The running digests of parts a shard run in this process wrote (ShardRunContext.partDigests): an output starting with one continues it. */
  partDigests?: ReadonlyMap<string, RunningDigest> | undefined;
  /** Where a pairing stage's merge pairs ranges of its groups besides this process (in pairingFolder). */
  pairElsewhere?: ((stage: PairStage) => PairElsewhere) | undefined;
}

/** Where the processes of a pairing merge write their ranges; removed when the merge ends. */
export const pairingFolder = (plan: ShardPlan): string => path.join(plan.work, 'pairing');

/** Each input file's digest for the receipt: the plan's for a file cut across shards, else the shard's that read it. */
function inputDigests(plan: ShardPlan, results: readonly ShardCounts[][], stage: StageName, extra: FileDigest[]): FileDigest[] {
  const byPath = new Map<string, FileDigest>();
  for (const shard of results) for (const digest of shard.find((r) => r.stage === stage)?.inputs ?? []) byPath.set(digest.path, digest);
  for (const digest of Object.values(plan.hashed)) byPath.set(digest.path, digest);
  for (const digest of extra) byPath.set(digest.path, digest);
  return [...byPath.values()];
}

/** Reads an input row again by its file and line (a duplicate the merge found), parsed as the stage parsed it. */
/**
 * The merge's reader of input rows by (file, line): one line stream open at a time, read on while
 * the row asked for lies ahead in its file, reopened at the piece holding the row otherwise. Asked
 * in input order, the repeats of a merge cost one pass over the inputs, not one from a piece's start each.
 */
class PlanSourceRecords implements SourceRecords {
  private reading: { file: number; lines: AsyncIterator<RawLine[]>; batch: RawLine[]; next: number; lastLine: number } | undefined;
  /** Each input's pieces, in line order (the shards cut the inputs in walk order): where a row's line can be read from. */
  private readonly piecesOf = new Map<number, Piece[]>();

  constructor(private readonly plan: ShardPlan) {
    for (const piece of plan.shards.flat()) {
      let pieces = this.piecesOf.get(piece.file);
      if (pieces === undefined) this.piecesOf.set(piece.file, (pieces = []));
      pieces.push(piece);
    }
  }

  async at(file: number, line: number): Promise<{ record: unknown; location: SourceLocation }> {
    const planned = this.plan.inputs[file]!;
    const piece = this.piecesOf.get(file)!.findLast((p) => p.firstLine <= line)!;
    let reading = this.reading;
    // Reopened when the row is behind the stream, or in a later piece than the one it reads: read from there, not through.
    if (reading === undefined || reading.file !== file || reading.lastLine >= line || piece.firstLine > reading.lastLine + 1) {
      await this.close();
      const lines = await openLines({ display: planned.display, absolute: planned.path, ...(piece.start === 0 ? {} : { range: { start: piece.start, end: planned.size, firstLine: piece.firstLine } }) }, { maxLineBytes: this.plan.options['maxLineBytes'] as number });
      reading = this.reading = { file, lines: lines[Symbol.asyncIterator](), batch: [], next: 0, lastLine: piece.firstLine - 1 };
    }
    const gone = (): DistillError => new DistillError('DS_IO', `${planned.display}: line ${line} is gone since it was read`, { path: planned.display });
    for (;;) {
      while (reading.next < reading.batch.length) {
        const raw = reading.batch[reading.next++]!;
        reading.lastLine = raw.line;
        if (raw.line === line) return { record: sourceRecord(raw.text), location: { source_file: planned.display, line_offset: line } };
        if (raw.line > line) throw gone();
      }
      const { value, done } = await reading.lines.next();
      if (done === true) throw gone();
      reading.batch = value;
      reading.next = 0;
    }
  }

  async close(): Promise<void> {
    const reading = this.reading;
    this.reading = undefined;
    await reading?.lines.return?.();
  }
}

/** A row's record as its quarantine row quotes it: parsed, or an excerpt of what could not be. */
function sourceRecord(text: string): unknown {
  const parsed = parseJson(text);
  return parsed === undefined ? rawExcerpt(text) : parsed.value;
}

/** The digest of each file a shard wrote into its part of a tree, by the file's path in the shard's folder. */
function writtenByShards(stage: TreeStage, folders: readonly string[], shards: readonly ShardCounts[]): Map<string, FileDigest> {
  const written = new Map<string, FileDigest>();
  const prefix = `${stage.writes}/`;
  shards.forEach((shard, n) => {
    for (const digest of shard.outputs ?? []) if (digest.path.startsWith(prefix)) written.set(path.join(folders[n]!, 'tree', digest.path.slice(prefix.length)), digest);
  });
  return written;
}

/**
 * The digest of a tree file that is one shard's file as it stands: the one the shard took as it
 * wrote it, once its size is seen unchanged (hashing every file again was 1.4 s of a 2-shard
 * collect at 1 GB); hashed when the shard recorded none.
 */
async function wholePartDigest(file: string, display: string, recorded: FileDigest | undefined): Promise<{ bytes: number; sha256: string }> {
  if (recorded === undefined) return fileDigest(file, display);
  const state = await fileState(file, display);
  if (state.kind !== 'file' || state.bytes !== recorded.bytes) {
    throw new DistillError('DS_IO', `${display}: its shard wrote ${recorded.bytes} bytes, ${state.kind === 'file' ? `${state.bytes} are there now` : 'it is gone'}; run the shard again`, { path: display });
  }
  return { bytes: recorded.bytes, sha256: recorded.sha256 };
}

/**
 * Merges a plan's shards into the command's outputs, committed together, with counts equal to one
 * process's. Refuses while a shard is missing, naming the indexes and the `--array=` that resubmits
 * exactly those.
 */
export async function mergeShards(plan: ShardPlan, targets: MergeTargets): Promise<Map<string, StageCounts>> {
  const missing = await missingShards(plan);
  if (missing.length > 0) {
    throw new DistillError('DS_IO', `shards ${missing.join(', ')} of ${plan.shards.length} are not done; resubmit them with --array=${arrayExpression(missing)}`);
  }
  await checkInputs(plan, plan.inputs.keys());
  const read = shardsWithPieces(plan);
  const results: ShardCounts[][] = [];
  for (const n of read) results.push(await shardResult(plan, n));
  const sourceRecords = new PlanSourceRecords(plan);
  try {
    return await mergeResults(plan, targets, read, results, sourceRecords);
  } finally {
    await sourceRecords.close();
    await rm(pairingFolder(plan), { recursive: true, force: true });
  }
}

/** mergeShards once every shard is done: the shards `read` (those with pieces) and their results. */
async function mergeResults(plan: ShardPlan, targets: MergeTargets, read: readonly number[], results: readonly ShardCounts[][], sourceRecords: SourceRecords): Promise<Map<string, StageCounts>> {
  const stages = stagesOf(plan.command);
  const recordedAt = plan.options['recordedAt'] as string;
  const counts = new Map<string, StageCounts>();
  const shardsOf = (stage: StageDefinition): ShardCounts[] => results.map((shard) => shard.find((r) => r.stage === stage.name)!);
  const foldersOf = (stage: StageDefinition): string[] => read.map((n) => (stages.length === 1 ? shardFolder(plan, n) : path.join(shardFolder(plan, n), stage.name)));
  if (stages[0]!.kind === 'tree') {
    const stage = stages[0] as TreeStage;
    const stageCounts = new StageCounts();
    const tree = await AtomicTree.create(targets.tree!.path, targets.tree!.display);
    const { quarantine } = targets.outputs.get(stage.name)!;
    await withOutputs(
      [quarantine],
      stageCounts,
      async ({ writables: [q] }) => {
        const folders = foldersOf(stage);
        const written = writtenByShards(stage, folders, shardsOf(stage));
        const writeFile: WriteTreeFile = async (relative, parts) => {
          const file = path.join(tree.tempPath, relative);
          const display = `${targets.tree!.display}/${relative}`;
          await ensureFolder(path.dirname(file));
          if (parts.length === 1 && parts[0]!.skip.length === 0) {
            const source = parts[0]!.file;
            await (async () => {
              if (targets.wholeFiles === 'link' && (await hardLink(source, file))) return;
              await copyFile(source, file, constants.COPYFILE_FICLONE);
            })().catch((cause: unknown) => {
              throw ioError(display, cause);
            });
            stageCounts.outputs.push({ path: display, ...(await wholePartDigest(file, display, written.get(source))) });
            return;
          }
          const sink = await openSink({ kind: 'direct', path: file, display, label: relative });
          await copyParts(parts, sink.input);
          stageCounts.outputs.push(...(await sink.finish()).digests);
        };
        if (stage.layout === 'partitioned') {
          await mergePartitioned(folders, shardsOf(stage), { stage: stage.name, recordedAt, duplicateError: duplicateErrorOf(stage), sourceRecords }, writeFile, q!, stageCounts);
        } else {
          mergeCounts(shardsOf(stage), stageCounts);
          const relatives = [...new Set((await Promise.all(folders.map(treeFiles))).flat())].sort();
          for (const relative of relatives) {
            const parts: TreePart[] = [];
            for (const folder of folders) {
              const part = path.join(folder, 'tree', relative);
              if (await exists(part)) parts.push({ file: part, skip: [] });
            }
            await writeFile(relative, parts);
          }
          for (const folder of folders) await copyInto(path.join(folder, 'quarantine'), q!);
        }
      },
      { entries: () => [tree.entry()], abort: () => tree.abort() },
    );
    stageCounts.inputs.push(...inputDigests(plan, results, stage.name, []));
    counts.set(stage.name, stageCounts);
    return counts;
  }
  const exports = stages as Array<DatasetStage | PairStage>;
  const keyedOf = (stage: StageDefinition): boolean => targets.outputs.get(stage.name)!.output.kind === 'parts';
  const all = new StageCounts();
  const perStage = exports.map((stage) => (stage.kind === 'pairs' ? new PairCounts() : new StageCounts()));
  // A dataset's JSONL file and its quarantine begin with the first shard's parts as they stand (moved when the work goes
  // right after, else copied by the kernel): rag's 2-shard merge at 1 GB wrote 0.4 of its 0.8 GB through the process again.
  const startable = (target: OutputTarget): boolean => target.kind === 'file' && (target.format === undefined || target.format.kind === 'jsonl');
  const begunWith = exports.map((stage) => {
    const { output, quarantine } = targets.outputs.get(stage.name)!;
    const dataset = stage.kind === 'dataset' && foldersOf(stage).length > 0; // every shard empty: nothing to begin with
    return { output: dataset && startable(output), quarantine: dataset && startable(quarantine) };
  });
  const startingWith = (target: OutputTarget, begun: boolean, file: () => string): OutputTarget =>
    begun && target.kind === 'file' ? { ...target, startWith: { file: file(), move: targets.wholeFiles === 'link', digest: targets.partDigests?.get(file()) } } : target;
  await withPlanEvidence(plan, async (lookup, _index, unchanged) => {
    const list = exports.flatMap((stage, n) => {
      const { output, quarantine } = targets.outputs.get(stage.name)!;
      const first = (): { output: string; quarantine: string } => firstParts(foldersOf(stage)[0]!);
      return [startingWith(output, begunWith[n]!.output, () => first().output), startingWith(quarantine, begunWith[n]!.quarantine, () => first().quarantine)];
    });
    await withOutputs(
      list,
      all,
      async ({ writables }) => {
        // Pairing processes start first: they start up and pair their ranges while the datasets before them are merged here.
        const begun = new Map<number, PairsBegun>();
        try {
          for (const [n, stage] of exports.entries()) {
            if (stage.kind === 'pairs') begun.set(n, await beginPairs(foldersOf(stage), shardsOf(stage), targets.pairerOf(stage, lookup), keyedOf(stage), targets.pairElsewhere?.(stage)));
          }
          for (const [n, stage] of exports.entries()) {
            const [output, quarantine] = [writables[2 * n]!, writables[2 * n + 1]!];
            if (stage.kind === 'pairs') {
              const pairs = begun.get(n)!;
              begun.delete(n); // the merge settles its processes, whatever comes of it
              await mergePairs(pairs, shardsOf(stage), { stage: stage.name, recordedAt }, output, quarantine, perStage[n] as PairCounts);
            } else {
              const duplicateKey = stage.split.by === 'rows' ? stage.split.duplicatesBy : 'none';
              await mergeDataset(foldersOf(stage), shardsOf(stage), { stage: stage.name, recordedAt, duplicateKey, duplicateError: duplicateErrorOf(stage), sourceRecords, keyed: keyedOf(stage), begunWith: begunWith[n]! }, output, quarantine, perStage[n]!);
            }
          }
        } finally {
          for (const pairs of begun.values()) await abandonPairs(pairs);
        }
      },
      undefined,
      unchanged,
    );
  });
  exports.forEach((stage, n) => {
    const stageCounts = perStage[n]!;
    const mine = new Set([targets.outputs.get(stage.name)!.output, targets.outputs.get(stage.name)!.quarantine].map((target) => ('display' in target ? target.display : undefined)));
    // One export owns every file written (a set of parts included) and the rows per split.
    stageCounts.outputs.push(...(exports.length === 1 ? all.outputs : all.outputs.filter((digest) => mine.has(digest.path))));
    if (exports.length === 1) for (const [split, rows] of all.bySplit) stageCounts.bySplit.set(split, rows);
    stageCounts.inputs.push(...inputDigests(plan, results, stage.name, []));
    counts.set(stage.name, stageCounts);
  });
  return counts;
}

/** How a stage words a duplicate the merge finds. */
const duplicateErrorOf = (stage: StageDefinition): ((key: string, record: unknown) => string) =>
  (stage.split.by === 'rows' ? stage.split.duplicateError : undefined) ?? ((key) => `${key} was already written in this run`);

/** What a local shard process sends its parent over the IPC channel: what it read since the last message. */
export interface ShardProgressMessage {
  bytes: number;
  rows: number;
}

/** A shard that failed: its index, the class of its error and the first line of it. */
interface ShardFailure extends ChildFailure {
  index: number;
}

/** Shard `index` as a child process (see runChild); its IPC channel carries progress. */
async function runShardChild(planFile: string, index: number, progress: ProgressSink | undefined, stop: AbortSignal): Promise<ShardFailure | undefined> {
  const onMessage = (message: unknown): void => {
    progress?.bytes((message as ShardProgressMessage).bytes);
    progress?.rows((message as ShardProgressMessage).rows);
  };
  const failure = await runChild([CLI_JS, 'shard', planFile, '--shard', String(index)], 'shard', stop, { onMessage });
  return failure === undefined ? undefined : { index, ...failure };
}

/**
 * Runs a plan's shards locally, at most `jobs` at once (p-limit bounds the pool): shard 0 in this
 * process through `runHere`, the others as child processes. The parent would otherwise wait idle
 * through the shards holding a whole process's memory (~88 MB RSS in a 2-shard sft at 1 GB) and pay
 * one more start-up. With `progress`, each child reports what it read over an IPC channel, so the
 * run has one progress line. The first shard to fail stops the others — the children are sent
 * SIGTERM, the shard here is aborted through the signal `runHere` is given, those not begun never
 * begin — and, once all have ended, fails the run with its own error class and the first line of
 * its error, naming the shard (the lowest index when several failed at once); an error that is not
 * a DistillError in this process is a bug and is thrown as it is, once the children are done.
 */
export async function runShardsLocally(planFile: string, plan: ShardPlan, jobs: number, runHere: (index: number, stop: AbortSignal) => Promise<unknown>, progress?: ProgressSink): Promise<void> {
  const limit = pLimit(jobs);
  const stop = new AbortController();
  let bug: unknown;
  const here = async (): Promise<ShardFailure | undefined> => {
    try {
      await runHere(0, stop.signal);
      return undefined;
    } catch (error) {
      if (stop.signal.aborted) return undefined; // stopped: another shard's failure is the run's
      if (!(error instanceof DistillError)) {
        bug ??= error;
        stop.abort();
        return undefined;
      }
      return { index: 0, code: error.code, why: error.message.split('\n')[0]! };
    }
  };
  const run = async (index: number): Promise<ShardFailure | undefined> => {
    if (stop.signal.aborted) return undefined;
    const failure = index === 0 ? await here() : await runShardChild(planFile, index, progress, stop.signal);
    if (failure !== undefined) stop.abort();
    return failure;
  };
  const outcomes = await Promise.all(plan.shards.map((_, index) => limit(() => run(index))));
  if (bug !== undefined) throw bug;
  const failures = outcomes.filter((outcome) => outcome !== undefined);
  if (failures.length === 0) return;
  const first = failures.reduce((low, failure) => (failure.index < low.index ? failure : low));
  throw new DistillError(first.code, `shard ${first.index} of ${plan.shards.length}: ${first.why}`);
}

/** `distill-shards-<pid>-<random>`: a local run's work folder names its process, so a killed one's can be told apart. */
const LOCAL_WORK_PREFIX = 'distill-shards-';

/** A fresh work folder for a local run's shards, in the temp folder (after removing those of runs killed outright). */
export async function localWork(): Promise<{ planFile: string; work: string; remove: () => Promise<void> }> {
  await removeAbandonedFolders(LOCAL_WORK_PREFIX);
  const work = path.join(os.tmpdir(), `${LOCAL_WORK_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  trackTemp(work); // a run stopped by a signal removes it too
  await ensureFolder(work);
  const remove = async (): Promise<void> => {
    await rm(work, { recursive: true, force: true });
    untrackTemp(work);
  };
  return { planFile: path.join(work, 'plan.json'), work, remove };
}


import { stat } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { ioError } from '../errors.js';
import type { AtomicTree } from '../io/atomic-tree.js';
import { ensureFolder } from '../io/folders.js';
import { drained } from '../io/drain.js';
import { readLineBatches, singleInput, type LineBatch } from '../io/inputs.js';
import type { InputSource } from '../io/line-source.js';
import { PartitionWriter, type PartitionedLine } from '../io/partition-writer.js';
import { openSink, type KeyedLine, type OutputTarget } from '../io/sink.js';
import { Rejection } from '../core/rejection.js';
import type { ProgressSink } from '../progress.js';
import type { EvidenceLookup, StageName } from '../records.js';
import { PairCounts, StageCounts } from './counts.js';
import { withOutputs } from './outputs.js';
import { QuarantineWriter } from './quarantine.js';
import { copyInto } from './shards.js';
import type { RowFunction } from './row.js';
import { BATCH_HIGH_WATER_MARK, FanOutStage, joinLines, RowStage, type FanOutBranch, type RowBranch, type RowRecorder } from './row-stage.js';
import type { Ruleset } from '../core/ruleset.js';
import type { DatasetStage, PairOutcome, PairStage, RunContext, StageDefinition, TreeStage } from './stage.js';

/** How a run reads its inputs. */
export interface ReadOptions {
  maxLineBytes: number;
  /** Told the bytes and rows read as they stream (a progress line). */
  progress?: ProgressSink | undefined;
  /** Once aborted, the rows read are destroyed: the run fails with an AbortError and commits nothing (a local shard stopped when another failed). */
  signal?: AbortSignal | undefined;
}

/**
 * Where a tree stage writes its files: a folder (an atomic tree's temp folder, committed with the
 * quarantine; or a shard's own folder), and the tree's name in receipts.
 */
export interface TreeTarget {
  folder: string;
  display: string;
  commit?: AtomicTree;
}

/** Where one stage run writes. */
export interface StageTargets {
  output: OutputTarget;
  quarantine: OutputTarget;
}

/**
 * What every run of a stage is given: its flags (parsed by the command table against the stage's
 * declaration, by camelCased name), the view it writes, and where its rows come from.
 */
export interface StageRunOptions extends ReadOptions {
  flags: Readonly<Record<string, unknown>>;
  /** A shard's recorder of what it decided, for the merge (none in one process). */
  recorder?: RowRecorder | undefined;
  /** A shard of a pairing stage: pass 1 only, its sorted entries written as JSON lines in place of pairs (the merge pairs). */
  passOneOnly?: boolean | undefined;
  /** Checked before the outputs are committed (the evidence read did not change meanwhile). */
  beforeCommit?: (() => void | Promise<void>) | undefined;
  recordedAt: string;
  ruleset: Ruleset;
  view: string;
  inputs: AsyncIterable<InputSource>;
}

/** The run context a stage's factory sees: the flags as its own declaration types them. */
const contextOf = (run: { flags: Readonly<Record<string, unknown>>; recordedAt: string; ruleset: Ruleset }): RunContext<never> => ({
  flags: run.flags as never,
  recordedAt: run.recordedAt,
  ruleset: run.ruleset,
});

/** A counts object for a stage run: a rules file that decides its output is one of its inputs. */
function countsFor<C extends StageCounts>(stage: StageDefinition, ruleset: Ruleset, counts: C): C {
  if (stage.usesRules && ruleset.source !== null) counts.inputs.push({ ...ruleset.source });
  return counts;
}

/**
 * Line batches of `inputs`, each input's digest recorded into `counts` once read. Ends early, as if
 * the input were over, once `stopped` says so (stdout's reader went away); destroyed once `read.signal` is aborted.
 */
function batchesOf(inputs: AsyncIterable<InputSource>, counts: StageCounts, read: ReadOptions, stopped: () => boolean): Readable {
  const progress = read.progress;
  const batches = readLineBatches(inputs, { maxLineBytes: read.maxLineBytes, onBytes: progress?.bytes, onInput: (digest) => counts.inputs.push(digest) });
  return Readable.from(until(batches, stopped, progress), { objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK, signal: read.signal });
}

async function* until(batches: AsyncGenerator<LineBatch>, stopped: () => boolean, progress: ProgressSink | undefined): AsyncGenerator<LineBatch> {
  for await (const batch of batches) {
    if (stopped()) {
      await batches.return(undefined);
      return;
    }
    progress?.rows(batch.lines.length);
    yield batch;
  }
}

const branchOf = <T>(row: RowFunction<T>, quarantine: QuarantineWriter, counts: StageCounts, sampleMetric: string | undefined, recorder?: RowRecorder): RowBranch<T> => ({
  row,
  quarantine,
  counts,
  sampleMetric,
  recorder,
});

/** A kept line with its sample's id (the key a kept row's length sample is filed under), for a set split by id. */
function keyedRow(row: RowFunction<Uint8Array>): RowFunction<KeyedLine> {
  return (value, location) => {
    const kept = row(value, location);
    return kept instanceof Rejection ? kept : { ...kept, value: { key: kept.sampleKey!, line: kept.value } };
  };
}

/** A dataset export (sft, rag): rows through the gate chain into one output; both outputs committed together, on success only. */
export async function runDataset(stage: DatasetStage, run: StageRunOptions, targets: StageTargets, lookup: EvidenceLookup): Promise<StageCounts> {
  const counts = countsFor(stage, run.ruleset, new StageCounts());
  const row = stage.rows({ ...contextOf(run), view: run.view, lookup });
  // A set of parts takes each row with its id; any other output, a batch's lines as one chunk.
  const rowStage = (quarantine: QuarantineWriter): RowStage<KeyedLine> | RowStage<Uint8Array> =>
    targets.output.kind === 'parts'
      ? new RowStage(branchOf(keyedRow(row), quarantine, counts, stage.sampleMetric, run.recorder), (rows) => rows)
      : new RowStage(branchOf(row, quarantine, counts, stage.sampleMetric, run.recorder), joinLines);
  await withOutputs([targets.output, targets.quarantine], counts, async ({ writables: [output, quarantineSink], stopped }) => {
    const quarantine = new QuarantineWriter(quarantineSink!, stage.name, run.recordedAt);
    await pipeline(batchesOf(run.inputs, counts, run, stopped), rowStage(quarantine), output!, { end: false });
  }, undefined, run.beforeCommit);
  return counts;
}

/** A tree stage as a filter: its rows' lines to one output (partitions are not applied). */
export async function runTreeFilter(stage: TreeStage, run: StageRunOptions, targets: StageTargets): Promise<StageCounts> {
  const counts = countsFor(stage, run.ruleset, new StageCounts());
  const rowFor = stage.rows(contextOf(run));
  const lineOf = (value: string | PartitionedLine): string | Uint8Array => (typeof value === 'string' ? value : value.line);
  await withOutputs([targets.output, targets.quarantine], counts, async ({ writables: [output, quarantineSink], stopped }) => {
    const quarantine = new QuarantineWriter(quarantineSink!, stage.name, run.recordedAt);
    for await (const input of run.inputs) {
      if (stopped()) break;
      const branch = branchOf(rowFor(input), quarantine, counts, stage.sampleMetric);
      await pipeline(batchesOf(singleInput(input), counts, run, stopped), new RowStage(branch, (values) => joinLines(values.map(lineOf))), output!, { end: false });
    }
  }, undefined, run.beforeCommit);
  return counts;
}

/**
 * A tree stage on the standard layout: the whole tree is rebuilt from `run.inputs` and committed
 * with the quarantine. `mirror` writes one file per input at the same path relative to the input
 * folder (even an empty one); `partitioned` routes each kept row to the file its value names.
 * A dry run counts everything and writes nothing.
 */
export async function runTree(
  stage: TreeStage,
  run: StageRunOptions,
  targets: { quarantine: OutputTarget; tree: TreeTarget | undefined; relativeOf: (input: InputSource) => string },
): Promise<StageCounts> {
  const counts = countsFor(stage, run.ruleset, new StageCounts());
  const tree = targets.tree;
  const rowFor = stage.rows(contextOf(run));
  const displayOf = (relative: string): string => `${tree?.display}/${relative}`;
  const pathOf = (relative: string): string => path.join(tree!.folder, relative);
  const treeCommit = tree?.commit === undefined ? undefined : { entries: () => [tree.commit!.entry()], abort: () => tree.commit!.abort() };
  await withOutputs(
    [targets.quarantine],
    counts,
    async ({ writables: [quarantineSink] }) => {
      const quarantine = new QuarantineWriter(quarantineSink!, stage.name, run.recordedAt);
      for await (const input of run.inputs) {
        const branch = branchOf(rowFor(input), quarantine, counts, stage.sampleMetric, run.recorder);
        const batches = batchesOf(singleInput(input), counts, run, () => false);
        if (stage.layout === 'partitioned') {
          const writer = tree === undefined ? undefined : new PartitionWriter(tree.folder, displayOf);
          await pipeline(batches, new RowStage(branch as RowBranch<PartitionedLine>, (values) => values), writer ?? discard());
          if (writer) counts.outputs.push(...writer.digests());
          continue;
        }
        const relative = targets.relativeOf(input);
        const target: OutputTarget = tree === undefined ? { kind: 'discard' } : { kind: 'direct', path: pathOf(relative), display: displayOf(relative), label: displayOf(relative) };
        if (tree !== undefined) await ensureFolder(path.dirname(pathOf(relative))).catch((cause: unknown) => {
          throw ioError(displayOf(relative), cause);
        });
        const sink = await openSink(target);
        try {
          await pipeline(batches, new RowStage(branch as RowBranch<string>, joinLines), sink.input, { end: false });
          counts.outputs.push(...(await sink.finish()).digests);
        } catch (error) {
          await sink.abort();
          throw error;
        }
      }
    },
    treeCommit,
    run.beforeCommit,
  );
  return counts;
}

/** Where a dry run's partitioned rows go: nowhere. */
const discard = (): Writable => new Writable({ objectMode: true, write: (_chunk, _encoding, callback) => callback() });

/**
 * Pass 2 of a pairing stage: each candidate pair is written or quarantined (after the row
 * quarantines), counted here; a written self-pair is a broken promise.
 */
export async function writePairs(outcomes: AsyncIterable<PairOutcome>, output: Writable, quarantine: QuarantineWriter, counts: PairCounts, keyed = false): Promise<void> {
  const chunkOf = keyed ? (pair: { id: string; line: Uint8Array }): unknown => [{ key: pair.id, line: pair.line }] : (pair: { line: Uint8Array }): unknown => pair.line;
  for await (const outcome of outcomes) {
    if (outcome.kind === 'quarantined') {
      counts.quarantinedPairs++;
      counts.countReason(outcome.rejection.reason);
      quarantine.add(outcome.rejection.reason, outcome.rejection.errors, outcome.record, outcome.location);
      await quarantine.flushed();
      continue;
    }
    if (outcome.chosenRunId === outcome.rejectedRunId) counts.violations.push(`self-pair written for ${outcome.chosenRunId}`);
    counts.paired += outcome.newlyPaired;
    counts.out++;
    if (!output.write(chunkOf(outcome))) await drained(output);
  }
}

/** Pass 1 of a pairing stage as a branch: kept rows are valid rows, spilled for pairing. */
function pairBranch(pairer: ReturnType<PairStage['pairer']>, quarantine: QuarantineWriter, counts: PairCounts, recorder?: RowRecorder): FanOutBranch<unknown> {
  return { ...branchOf(pairer.admit, quarantine, counts, undefined, recorder), accept: (entries) => pairer.spill(entries) };
}

/**
 * A shard's pass 1 result: its sorted runs' bytes one after the other, each run's end kept in the
 * counts, for the merge to merge with the other shards' runs and pair. Merging them here too wrote
 * and parsed every entry once more: 1.5 s of each shard of a 2-shard export-all at 1 GB.
 */
async function writeRuns(pairer: ReturnType<PairStage['pairer']>, output: Writable, counts: PairCounts, signal: AbortSignal | undefined): Promise<void> {
  try {
    let end = 0;
    for (const run of await pairer.runs()) {
      signal?.throwIfAborted();
      await copyInto(run, output);
      end += (await stat(run)).size;
      counts.runEnds.push(end);
    }
  } finally {
    await pairer.dispose();
  }
}

/**
 * A pairer's rows in order, ending with the signal's reason once it is aborted (another local shard
 * failed): the sort and the pairing after the read can be most of a preference run's time.
 */
async function* sortedUntilAborted<T>(pairer: { sorted(): AsyncIterable<T> }, signal: AbortSignal | undefined): AsyncGenerator<T> {
  for await (const row of pairer.sorted()) {
    signal?.throwIfAborted();
    yield row;
  }
}

/** Pass 1 counted valid rows as kept; the stage's output is pairs. */
export function startPairing(counts: PairCounts): void {
  counts.validRows = counts.out;
  counts.out = 0;
}

/** A pairing export (preference): rows gated and spilled in one pass, then paired into the output. */
export async function runPairs(stage: PairStage, run: StageRunOptions, targets: StageTargets, lookup: EvidenceLookup): Promise<PairCounts> {
  const counts = countsFor(stage, run.ruleset, new PairCounts());
  const pairer = stage.pairer({ ...contextOf(run), view: run.view, lookup });
  await withOutputs([targets.output, targets.quarantine], counts, async ({ writables: [output, quarantineSink], stopped }) => {
    const quarantine = new QuarantineWriter(quarantineSink!, stage.name, run.recordedAt);
    await pipeline(batchesOf(run.inputs, counts, run, stopped), new FanOutStage([pairBranch(pairer, quarantine, counts, run.recorder)]));
    startPairing(counts);
    if (run.passOneOnly) await writeRuns(pairer, output!, counts, run.signal);
    else await writePairs(pairer.pairs(sortedUntilAborted(pairer, run.signal)), output!, quarantine, counts, targets.output.kind === 'parts');
  }, undefined, run.beforeCommit);
  return counts;
}

/** One export of a fan-out: its definition, options and targets. */
export interface FanOutExport {
  stage: DatasetStage | PairStage;
  flags: Readonly<Record<string, unknown>>;
  targets: StageTargets;
  /** A shard's recorder for this export. */
  recorder?: RowRecorder | undefined;
}

/**
 * Several exports in one pass over the scored runs (export-all): each line is read, split and
 * parsed once and fed to every gate chain; pairing stages then pair from their spilled rows. Every
 * output is committed together, only when all succeeded. Byte-identical to the exports run alone.
 */
export async function runFanOut(
  exports: readonly FanOutExport[],
  run: ReadOptions & { recordedAt: string; ruleset: Ruleset; inputs: AsyncIterable<InputSource>; beforeCommit?: () => void | Promise<void>; passOneOnly?: boolean },
  lookup: EvidenceLookup,
): Promise<StageCounts[]> {
  const counts = exports.map(({ stage }) => countsFor(stage, run.ruleset, stage.kind === 'pairs' ? new PairCounts() : new StageCounts()));
  const targets = exports.flatMap(({ targets: t }) => [t.output, t.quarantine]);
  const all = new StageCounts(); // digests of every output, handed to each export's counts below
  await withOutputs(targets, all, async ({ writables, stopped }) => {
    const pairers = new Map<number, { pairer: ReturnType<PairStage['pairer']>; quarantine: QuarantineWriter }>();
    const branches = exports.map(({ stage, flags, recorder }, n): FanOutBranch<unknown> => {
      const output = writables[2 * n]!;
      const quarantine = new QuarantineWriter(writables[2 * n + 1]!, stage.name as StageName, run.recordedAt);
      const context = { ...contextOf({ flags, recordedAt: run.recordedAt, ruleset: run.ruleset }), view: stage.views[0]!, lookup };
      if (stage.kind === 'pairs') {
        const pairer = stage.pairer(context);
        pairers.set(n, { pairer, quarantine });
        return pairBranch(pairer, quarantine, counts[n] as PairCounts, recorder);
      }
      const accept = async (lines: unknown[]): Promise<void> => {
        if (!output.write(joinLines(lines as string[]))) await drained(output);
      };
      return { ...branchOf(stage.rows(context), quarantine, counts[n]!, stage.sampleMetric, recorder), accept };
    });
    await pipeline(batchesOf(run.inputs, counts[0]!, run, stopped), new FanOutStage(branches));
    const read = counts[0]!.inputs.filter((digest) => digest.path !== run.ruleset.source?.path);
    for (const other of counts.slice(1)) other.inputs.push(...read);
    for (const [n, { pairer, quarantine }] of pairers) {
      startPairing(counts[n] as PairCounts);
      if (run.passOneOnly) await writeRuns(pairer, writables[2 * n]!, counts[n] as PairCounts, run.signal);
      else await writePairs(pairer.pairs(sortedUntilAborted(pairer, run.signal)), writables[2 * n]!, quarantine, counts[n] as PairCounts);
    }
  }, undefined, run.beforeCommit);
  // Each export's receipt lists its own two outputs.
  exports.forEach(({ targets: t }, n) => {
    const mine = new Set([t.output, t.quarantine].map((target) => ('display' in target ? target.display : undefined)));
    counts[n]!.outputs.push(...all.outputs.filter((digest) => mine.has(digest.path)));
  });
  return counts;
}

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AtomicTree } from '../io/atomic-tree.js';
import { drained } from '../io/drain.js';
import { readLineBatches, singleInput, type LineBatch } from '../io/inputs.js';
import type { InputSource } from '../io/line-source.js';
import { PartitionWriter, type PartitionedLine } from '../io/partition-writer.js';
import type { OutputTarget } from '../io/sink.js';
import type { EvidenceLookup, StageName } from '../records.js';
import { PairCounts, StageCounts } from './counts.js';
import { withOutput, withQuarantine } from './outputs.js';
import type { ProgressSink } from '../progress.js';
import type { QuarantineWriter } from './quarantine.js';
import type { RowFunction } from './row.js';
import { BATCH_HIGH_WATER_MARK, FanOutStage, joinLines, RowStage, type FanOutBranch, type RowBranch } from './row-stage.js';
import type { DatasetStage, PairOutcome, PairStage, RunContext, TreeStage } from './stage.js';

/** How a run reads its inputs. */
export interface ReadOptions {
  maxLineBytes: number;
  /** Told the bytes and rows read as they stream (a progress line). */
  progress?: ProgressSink | undefined;
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
  recordedAt: string;
  view: string;
  inputs: AsyncIterable<InputSource>;
}

/** The run context a stage's factory sees: the flags as its own declaration types them. */
const contextOf = (run: { flags: Readonly<Record<string, unknown>>; recordedAt: string }): RunContext<never> => ({ flags: run.flags as never, recordedAt: run.recordedAt });

/** Line batches of `inputs`, each input's digest recorded into `counts` once read. */
function batchesOf(inputs: AsyncIterable<InputSource>, counts: StageCounts, read: ReadOptions): Readable {
  const progress = read.progress;
  const batches = readLineBatches(inputs, { maxLineBytes: read.maxLineBytes, onBytes: progress?.bytes, onInput: (digest) => counts.inputs.push(digest) });
  return Readable.from(progress === undefined ? batches : counted(batches, progress), { objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK });
}

async function* counted(batches: AsyncIterable<LineBatch>, progress: ProgressSink): AsyncGenerator<LineBatch> {
  for await (const batch of batches) {
    progress.rows(batch.lines.length);
    yield batch;
  }
}

const branchOf = <T>(row: RowFunction<T>, quarantine: QuarantineWriter, counts: StageCounts, sampleMetric: string | undefined): RowBranch<T> => ({ row, quarantine, counts, sampleMetric });

/** A dataset export (sft, rag): rows through the gate chain into one output, both outputs committed only on success. */
export async function runDataset(stage: DatasetStage, run: StageRunOptions, targets: StageTargets, lookup: EvidenceLookup): Promise<StageCounts> {
  const counts = new StageCounts();
  const row = stage.rows({ ...contextOf(run), view: run.view, lookup });
  await withQuarantine(targets.quarantine, counts, stage.name, run.recordedAt, (quarantine) =>
    withOutput(targets.output, counts, (output) => pipeline(batchesOf(run.inputs, counts, run), new RowStage(branchOf(row, quarantine, counts, stage.sampleMetric), joinLines), output)),
  );
  return counts;
}

/** A tree stage as a filter: its rows' lines to one output (partitions are not applied). */
export async function runTreeFilter(stage: TreeStage, run: StageRunOptions, targets: StageTargets): Promise<StageCounts> {
  const counts = new StageCounts();
  const rowFor = stage.rows(contextOf(run));
  const lineOf = (value: string | PartitionedLine): string => (typeof value === 'string' ? value : value.line);
  await withQuarantine(targets.quarantine, counts, stage.name, run.recordedAt, async (quarantine) =>
    withOutput(targets.output, counts, async (output) => {
      for await (const input of run.inputs) {
        const branch = branchOf(rowFor(input), quarantine, counts, stage.sampleMetric);
        await pipeline(batchesOf(singleInput(input), counts, run), new RowStage(branch, (values) => values.map(lineOf).join('')), output, { end: false });
      }
    }),
  );
  return counts;
}

/**
 * A tree stage on the standard layout: the whole tree under `tree` is rebuilt atomically from
 * `run.inputs`. `mirror` writes one file per input at the same path relative to `inputRoot` (even
 * an empty one); `partitioned` routes each kept row to the file its value names.
 */
export async function runTree(
  stage: TreeStage,
  run: StageRunOptions,
  targets: { quarantine: OutputTarget; tree: { path: string; display: string }; relativeOf: (input: InputSource) => string },
): Promise<StageCounts> {
  const counts = new StageCounts();
  const tree = await AtomicTree.create(targets.tree.path, targets.tree.display);
  const rowFor = stage.rows(contextOf(run));
  const displayOf = (relative: string): string => `${targets.tree.display}/${relative}`;
  try {
    await withQuarantine(targets.quarantine, counts, stage.name, run.recordedAt, async (quarantine) => {
      for await (const input of run.inputs) {
        const branch = branchOf(rowFor(input), quarantine, counts, stage.sampleMetric);
        const batches = batchesOf(singleInput(input), counts, run);
        if (stage.layout === 'partitioned') {
          const writer = new PartitionWriter(tree.tempPath, displayOf);
          await pipeline(batches, new RowStage(branch as RowBranch<string | PartitionedLine>, (values) => values), writer);
          counts.outputs.push(...writer.digests());
        } else {
          const relative = targets.relativeOf(input);
          const target: OutputTarget = { kind: 'file', path: tree.pathOf(relative), display: displayOf(relative) };
          await withOutput(target, counts, (output) => pipeline(batches, new RowStage(branch as RowBranch<string>, joinLines), output));
        }
      }
    });
    await tree.commit();
  } catch (error) {
    await tree.abort();
    throw error;
  }
  return counts;
}

/**
 * Pass 2 of a pairing stage: each candidate pair is written or quarantined (after the row
 * quarantines), counted here; a written self-pair is a broken promise.
 */
async function writePairs(outcomes: AsyncIterable<PairOutcome>, output: Writable, quarantine: QuarantineWriter, counts: PairCounts): Promise<void> {
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
    if (!output.write(outcome.line)) await drained(output);
  }
}

/** Pass 1 of a pairing stage as a branch: kept rows are valid rows, spilled for pairing. */
function pairBranch(pairer: ReturnType<PairStage['pairer']>, quarantine: QuarantineWriter, counts: PairCounts): FanOutBranch<unknown> {
  return { ...branchOf(pairer.admit, quarantine, counts, undefined), accept: (entries) => pairer.spill(entries) };
}

/** A pairing export (preference): rows gated and spilled in one pass, then paired into the output. */
export async function runPairs(stage: PairStage, run: StageRunOptions, targets: StageTargets, lookup: EvidenceLookup): Promise<PairCounts> {
  const counts = new PairCounts();
  const pairer = stage.pairer({ ...contextOf(run), view: run.view, lookup });
  await withQuarantine(targets.quarantine, counts, stage.name, run.recordedAt, async (quarantine) => {
    await pipeline(batchesOf(run.inputs, counts, run), new FanOutStage([pairBranch(pairer, quarantine, counts)]));
    counts.validRows = counts.out;
    counts.out = 0;
    await withOutput(targets.output, counts, (output) => writePairs(pairer.pairs(), output, quarantine, counts));
  });
  return counts;
}

/** One export of a fan-out: its definition, options and targets. */
export interface FanOutExport {
  stage: DatasetStage | PairStage;
  flags: Record<string, unknown>;
  targets: StageTargets;
}

/**
 * Several exports in one pass over the scored runs (export-all): each line is read, split and
 * parsed once and fed to every gate chain; pairing stages then pair from their spilled rows. Every
 * output is committed only when all succeeded. Byte-identical to the exports run alone.
 */
export async function runFanOut(
  exports: readonly FanOutExport[],
  run: ReadOptions & { recordedAt: string; inputs: AsyncIterable<InputSource> },
  lookup: EvidenceLookup,
): Promise<StageCounts[]> {
  const counts = exports.map(({ stage }) => (stage.kind === 'pairs' ? new PairCounts() : new StageCounts()));
  const opened: Array<{ quarantine: QuarantineWriter; output: Writable }> = [];
  const openAll = async (n: number): Promise<void> => {
    if (n === exports.length) return fanOut();
    const { stage, targets } = exports[n]!;
    await withQuarantine(targets.quarantine, counts[n]!, stage.name as StageName, run.recordedAt, (quarantine) =>
      withOutput(targets.output, counts[n]!, async (output) => {
        opened[n] = { quarantine, output };
        await openAll(n + 1);
      }),
    );
  };
  const fanOut = async (): Promise<void> => {
    const pairers = new Map<number, ReturnType<PairStage['pairer']>>();
    const branches = exports.map(({ stage, flags }, n): FanOutBranch<unknown> => {
      const { quarantine, output } = opened[n]!;
      const context = { ...contextOf({ flags, recordedAt: run.recordedAt }), view: stage.views[0]!, lookup };
      if (stage.kind === 'pairs') {
        const pairer = stage.pairer(context);
        pairers.set(n, pairer);
        return pairBranch(pairer, quarantine, counts[n] as PairCounts);
      }
      const accept = async (lines: unknown[]): Promise<void> => {
        if (!output.write(joinLines(lines as string[]))) await drained(output);
      };
      return { ...branchOf(stage.rows(context), quarantine, counts[n]!, stage.sampleMetric), accept };
    });
    await pipeline(batchesOf(run.inputs, counts[0]!, run), new FanOutStage(branches));
    for (const other of counts.slice(1)) other.inputs.push(...counts[0]!.inputs);
    for (const [n, pairer] of pairers) {
      const pairCounts = counts[n] as PairCounts;
      pairCounts.validRows = pairCounts.out;
      pairCounts.out = 0;
      await writePairs(pairer.pairs(), opened[n]!.output, opened[n]!.quarantine, pairCounts);
    }
  };
  await openAll(0);
  return counts;
}

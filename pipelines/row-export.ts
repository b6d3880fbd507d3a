import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readLineBatches } from '../src/io/inputs.js';
import type { InputSource } from '../src/io/line-source.js';
import { QuarantineWriter } from '../src/io/quarantine.js';
import { openSink, type OutputTarget } from '../src/io/sink.js';
import type { StageName } from '../src/records.js';
import { BATCH_HIGH_WATER_MARK, joinLines, RowStage, type RowFunction } from '../src/stages/row-stage.js';
import { StageStats } from '../src/stages/stats.js';

export interface RowStageRun {
  stage: StageName;
  inputs: AsyncIterable<InputSource>;
  output: OutputTarget;
  quarantine: OutputTarget;
  recordedAt: string;
  maxLineBytes: number;
  /** Told the raw bytes read as they stream (for a progress line). */
  onBytes?: (bytes: number) => void;
}

/** The streaming core of every row stage: inputs → line batches → RowStage → destination. */
export async function streamRows<T>(
  inputs: AsyncIterable<InputSource>,
  stage: RowStage<T>,
  destination: Writable,
  options: { maxLineBytes: number; stats: StageStats; onBytes?: ((bytes: number) => void) | undefined },
): Promise<void> {
  const read = { maxLineBytes: options.maxLineBytes, digests: options.stats.inputs, onBytes: options.onBytes };
  const batches = Readable.from(readLineBatches(inputs, read), {
    objectMode: true,
    highWaterMark: BATCH_HIGH_WATER_MARK,
  });
  await pipeline(batches, stage, destination);
}

/**
 * Runs `work` with an output open; commits it (and records its digest) only when the work
 * succeeded, and leaves no trace otherwise.
 */
export async function withOutput<R>(target: OutputTarget, stats: StageStats, work: (input: Writable) => Promise<R>): Promise<R> {
  const sink = await openSink(target);
  try {
    const result = await work(sink.input);
    if (!sink.input.writableEnded) sink.input.end();
    const digest = await sink.commit();
    if (digest) stats.outputs.push(digest);
    return result;
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

/** Runs `work` with the stage's quarantine open, committed like any output. */
export function withQuarantine<R>(
  target: OutputTarget,
  stats: StageStats,
  stage: StageName,
  recordedAt: string,
  work: (writer: QuarantineWriter) => Promise<R>,
): Promise<R> {
  return withOutput(target, stats, (input) => work(new QuarantineWriter(input, stats, stage, recordedAt)));
}

/** A one-output row stage (sft, rag, score as a filter, …), both outputs committed only on success. */
export async function runRowStage(run: RowStageRun, makeRow: (stats: StageStats) => RowFunction): Promise<StageStats> {
  const stats = new StageStats();
  await withQuarantine(run.quarantine, stats, run.stage, run.recordedAt, (quarantine) =>
    withOutput(run.output, stats, (output) =>
      streamRows(run.inputs, new RowStage(makeRow(stats), quarantine, stats, joinLines), output, { maxLineBytes: run.maxLineBytes, stats, onBytes: run.onBytes }),
    ),
  );
  return stats;
}

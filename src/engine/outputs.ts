import type { Writable } from 'node:stream';
import { openSink, type OutputTarget } from '../io/sink.js';
import type { StageName } from '../records.js';
import type { StageCounts } from './counts.js';
import { QuarantineWriter } from './quarantine.js';

/**
 * Runs `work` with an output open; commits it (and records its digest) only when the work
 * succeeded, and leaves no trace otherwise.
 */
export async function withOutput<R>(target: OutputTarget, counts: StageCounts, work: (input: Writable) => Promise<R>): Promise<R> {
  const sink = await openSink(target);
  try {
    const result = await work(sink.input);
    if (!sink.input.writableEnded) sink.input.end();
    const digest = await sink.commit();
    if (digest) counts.outputs.push(digest);
    return result;
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

/** Runs `work` with the stage's quarantine open, committed like any output. */
export function withQuarantine<R>(target: OutputTarget, counts: StageCounts, stage: StageName, recordedAt: string, work: (writer: QuarantineWriter) => Promise<R>): Promise<R> {
  return withOutput(target, counts, (input) => work(new QuarantineWriter(input, stage, recordedAt)));
}

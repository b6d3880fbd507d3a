import type { Writable } from 'node:stream';
import { DistillError } from '../errors.js';
import { commitTogether } from '../io/commit.js';
import type { OpenSink, OutputTarget } from '../io/sink.js';
import { openOutput } from '../io/split-sink.js';
import type { CommitEntry } from '../io/commit.js';
import type { StageCounts } from './counts.js';

/** The open outputs of a run: where to write, and whether the run should stop early. */
export interface OpenOutputs {
  writables: Writable[];
  /** True once stdout's reader went away (`| head`): stop reading, commit what was done, exit quietly. */
  stopped: () => boolean;
}

/**
 * Runs `work` with every output of a run open, then commits them together — the dataset, its
 * quarantine, and any tree built beside them (`extra`) — and records their digests. When the work
 * fails nothing is committed and no temp is left.
 */
export async function withOutputs<R>(
  targets: readonly OutputTarget[],
  counts: StageCounts,
  work: (outputs: OpenOutputs) => Promise<R>,
  extra: { entries: () => CommitEntry[]; abort: () => Promise<void> } | undefined = undefined,
  /** Last checks before anything becomes visible (the inputs read did not change); a throw commits nothing. Run too when the work fails, to name the change as the cause. */
  beforeCommit: (() => void | Promise<void>) | undefined = undefined,
): Promise<R> {
  const sinks: OpenSink[] = [];
  let checked = false;
  try {
    for (const target of targets) sinks.push(await openOutput(target));
    const result = await work({ writables: sinks.map((sink) => sink.input), stopped: () => sinks.some((sink) => sink.readerClosed) });
    checked = true;
    await beforeCommit?.();
    const finished = [];
    for (const sink of sinks) finished.push(await sink.finish());
    const entries = [...finished.flatMap((f) => f.entries), ...(extra?.entries() ?? [])];
    if (entries.length > 0) await commitTogether(entries);
    for (const f of finished) {
      counts.outputs.push(...f.digests);
      for (const [split, rows] of f.rowsBySplit ?? []) counts.bySplit.set(split, rows);
    }
    return result;
  } catch (error) {
    // A write that failed reaches the run as the system's bare error (ENOSPC…): report it by the output's path.
    const failure = error instanceof DistillError ? undefined : sinks.find((sink) => sink.failure !== undefined)?.failure;
    for (const sink of sinks) await sink.abort();
    await extra?.abort();
    // A read that failed because what was read changed meanwhile (a file listed before another command
    // swapped its folder, opened after): the change is the reason, and it throws here. Not once the
    // checks ran: then they failed themselves, or a write or the commit did.
    if (!checked) {
      try {
        await beforeCommit?.();
      } catch (change) {
        throw Object.assign(change as Error, { cause: error });
      }
    }
    throw failure ?? error;
  }
}

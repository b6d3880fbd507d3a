import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PairedRange, PairElsewhere, PairRange, RangePairing, SortedRun } from '../src/engine/pair-merge.js';
import type { PairStage } from '../src/engine/stage.js';
import { DistillError } from '../src/errors.js';
import { ensureFolder } from '../src/io/folders.js';
import type { StageName } from '../src/records.js';
import { startChild, type ChildFailure } from './child.js';
import { pairingFolder, type ShardPlan } from './shards.js';

/** What a pairing process is sent first: the plan whose merge it helps, the stage and the shards' sorted runs. */
export interface PairingJob {
  plan: ShardPlan;
  stage: StageName;
  runs: readonly SortedRun[];
}

/** What it is sent next, one at a time: a range to pair and the folder for its files, or `end` when none is left. */
export type RangeJob = { range: PairRange; folder: string } | { end: true };

const PAIR_RANGE_JS = fileURLToPath(new URL('./pair-range-process.js', import.meta.url));

/**
 * A pairing process keeps no rows past its task, so a small young generation suffices: in a 2-shard
 * preference merge at 1 GB it peaked at 115-118 MB instead of 139-140 MB, and ended 4.7-5.0 s after
 * the merge began either way (3 runs each, alternated).
 */
const PAIR_RANGE_NODE_FLAGS = ['--max-semi-space-size=2'];

/**
 * How a plan's merge pairs ranges of a pairing stage's groups in other processes, `processes` in
 * all with the merge's own: each a child (pair-range-process.ts) that pairs the ranges it is sent
 * one after the other, each into its own folder under the plan's work, which the merge removes
 * when it ends.
 */
export function pairInProcesses(plan: ShardPlan, processes: number): (stage: PairStage) => PairElsewhere {
  return (stage) => ({
    processes,
    start(runs, signal): RangePairing {
      let waiting: { n: number; resolve: (paired: PairedRange) => void; reject: (error: unknown) => void } | undefined;
      /** Set once the process has ended, with its failure if it failed. */
      let gone: { failure: ChildFailure | undefined } | undefined;
      let failedRange = false;
      const rangeLost = (n: number): unknown => {
        failedRange = true;
        const failure = gone!.failure;
        if (signal.aborted) return signal.reason;
        if (failure === undefined) return new DistillError('DS_INTERNAL', `pairing range ${n} of the ${stage.name} merge ended without its result`);
        return new DistillError(failure.code, `pairing range ${n} of the ${stage.name} merge: ${failure.why}`);
      };
      const child = startChild([...PAIR_RANGE_NODE_FLAGS, PAIR_RANGE_JS], 'pairing', signal, (message) => {
        waiting?.resolve(message as PairedRange);
        waiting = undefined;
      });
      const job: PairingJob = { plan, stage: stage.name, runs };
      child.send(job);
      const ended = child.ended.then((failure) => {
        gone = { failure };
        waiting?.reject(rangeLost(waiting.n));
        waiting = undefined;
      });
      return {
        async pair(range, n): Promise<PairedRange> {
          const folder = path.join(pairingFolder(plan), `${stage.name}-${n}`);
          await rm(folder, { recursive: true, force: true }); // a killed merge's, never read
          await ensureFolder(folder);
          if (gone !== undefined) throw rangeLost(n); // it ended between two ranges
          const paired = new Promise<PairedRange>((resolve, reject) => (waiting = { n, resolve, reject }));
          const next: RangeJob = { range, folder };
          child.send(next);
          return paired;
        },
        async end(): Promise<void> {
          const last: RangeJob = { end: true };
          child.send(last);
          await ended;
          const failure = gone!.failure;
          // A failure during a range was that range's error; after the last one it is still the merge's.
          if (failure !== undefined && !failedRange) throw new DistillError(failure.code, `a pairing process of the ${stage.name} merge: ${failure.why}`);
        },
      };
    },
  });
}

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PairedRange, PairElsewhere, RangeShare } from '../src/engine/pair-merge.js';
import type { PairStage } from '../src/engine/stage.js';
import { DistillError } from '../src/errors.js';
import { ensureFolder } from '../src/io/folders.js';
import type { StageName } from '../src/records.js';
import { runChild } from './child.js';
import { pairingFolder, type ShardPlan } from './shards.js';

/** What a pairing process is sent: the plan whose merge it helps, the stage, its range and the folder for its files. */
export interface PairRangeJob {
  plan: ShardPlan;
  stage: StageName;
  share: RangeShare;
  folder: string;
}

const PAIR_RANGE_JS = fileURLToPath(new URL('./pair-range-process.js', import.meta.url));

/**
 * A pairing process keeps no rows past its task, so a small young generation suffices: in a 2-shard
 * preference merge at 1 GB it peaked at 115-118 MB instead of 139-140 MB, and ended 4.7-5.0 s after
 * the merge began either way (3 runs each, alternated).
 */
const PAIR_RANGE_NODE_FLAGS = ['--max-semi-space-size=2'];

/**
 * How a plan's merge pairs ranges of a pairing stage's groups in other processes, `processes` in
 * all with the merge's own: each a child (pair-range-process.ts) writing into its own folder under
 * the plan's work, which the merge removes when it ends.
 */
export function pairInProcesses(plan: ShardPlan, processes: number): (stage: PairStage) => PairElsewhere {
  return (stage) => ({
    processes,
    async pair(share, n, signal): Promise<PairedRange> {
      const folder = path.join(pairingFolder(plan), `${stage.name}-${n}`);
      await rm(folder, { recursive: true, force: true }); // a killed merge's, never read
      await ensureFolder(folder);
      const job: PairRangeJob = { plan, stage: stage.name, share, folder };
      let paired: PairedRange | undefined;
      const failure = await runChild([...PAIR_RANGE_NODE_FLAGS, PAIR_RANGE_JS], 'pairing', signal, { job, onMessage: (message) => (paired = message as PairedRange) });
      signal.throwIfAborted();
      if (failure !== undefined) throw new DistillError(failure.code, `pairing range ${n} of the ${stage.name} merge: ${failure.why}`);
      if (paired === undefined) throw new DistillError('DS_INTERNAL', `pairing range ${n} of the ${stage.name} merge ended without its result`);
      return paired;
    },
  });
}

/**
 * A process pairing one range of a sharded pairing merge's groups (src/engine/pair-merge.ts): its
 * job comes over the IPC channel, its result goes back the same way, and it stops when the merge
 * is gone (the channel closes, even when the merge was killed outright).
 */
import { pairRange, type PairedRange } from '../src/engine/pair-merge.js';
import type { PairStage } from '../src/engine/stage.js';
import { DistillError, EXIT_CODE } from '../src/errors.js';
import { stageNamed } from '../src/stages/registry.js';
import type { PairRangeJob } from './pair-ranges.js';
import { withPlanEvidence } from './shards.js';
import { commandOptionsOf, planPairerMaker } from './stage.js';

async function pairRangeOfPlan({ plan, stage: name, share, folder }: PairRangeJob): Promise<PairedRange> {
  const pairerOf = await planPairerMaker(plan);
  const stage = stageNamed(name) as PairStage;
  return withPlanEvidence(plan, async (lookup, _index, unchanged) => {
    const paired = await pairRange(share, pairerOf(stage, lookup), { stage: stage.name, recordedAt: commandOptionsOf(plan).recordedAt! }, folder);
    unchanged();
    return paired;
  });
}

const mergeGone = (): never => process.exit(EXIT_CODE.DS_IO);
process.once('disconnect', mergeGone);
process.once('message', (job: PairRangeJob) => {
  const end = (): void => {
    process.off('disconnect', mergeGone);
    process.disconnect();
  };
  pairRangeOfPlan(job).then(
    (paired) => process.send!(paired, end),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_CODE[error instanceof DistillError ? error.code : 'DS_INTERNAL'];
      end();
    },
  );
});

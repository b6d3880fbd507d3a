/**
 * A process pairing ranges of a sharded pairing merge's groups (src/engine/pair-merge.ts): its job
 * comes over the IPC channel, then one range at a time, each result going back the same way, until
 * the merge says there is none left. It stops when the merge is gone (the channel closes, even when
 * the merge was killed outright).
 */
import { pairRange } from '../src/engine/pair-merge.js';
import type { PairStage } from '../src/engine/stage.js';
import { DistillError, EXIT_CODE } from '../src/errors.js';
import { stageNamed } from '../src/stages/registry.js';
import { withEvidence } from './evidence.js';
import type { PairingJob, RangeJob } from './pair-ranges.js';
import { planEvidence } from './shards.js';
import { commandOptionsOf, pairerMaker, planRuleset } from './stage.js';

/** The messages the merge sent, in order: ranges may arrive while the job is still being set up. */
const received: unknown[] = [];
let arrived: (() => void) | undefined;
process.on('message', (message) => {
  received.push(message);
  arrived?.();
});

async function nextMessage(): Promise<unknown> {
  while (received.length === 0) await new Promise<void>((resolve) => (arrived = resolve));
  return received.shift();
}

async function pairRanges({ plan, stage: name, runs }: PairingJob): Promise<void> {
  const options = commandOptionsOf(plan);
  const pairerOf = pairerMaker(options, await planRuleset(plan, options));
  const stage = stageNamed(name) as PairStage;
  await withEvidence({ ...planEvidence(plan.options), generation: plan.evidenceIndex }, async (lookup, _index, unchanged) => {
    for (let job = (await nextMessage()) as RangeJob; !('end' in job); job = (await nextMessage()) as RangeJob) {
      const paired = await pairRange(runs, job.range, pairerOf(stage, lookup), { stage: stage.name, recordedAt: options.recordedAt! }, job.folder);
      unchanged();
      process.send!(paired);
    }
  });
}

const mergeGone = (): never => process.exit(EXIT_CODE.DS_IO);
process.once('disconnect', mergeGone);
const end = (): void => {
  process.off('disconnect', mergeGone);
  process.disconnect();
};
nextMessage().then((job) =>
  pairRanges(job as PairingJob).then(end, (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT_CODE[error instanceof DistillError ? error.code : 'DS_INTERNAL'];
    end();
  }),
);

import assert from 'node:assert/strict';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DistillError } from '../src/errors.js';
import type { ShardPlan } from '../pipelines/shards.js';
import type { StageCommandOptions } from '../pipelines/stage.js';
import { fixtureCopy, inFolder, snapshot, tempDir } from './helpers.js';

// The seam is read when the shard module loads: set first, so the fixture (a few KB) runs as local shards.
process.env['DISTILL_STREAM_MIN_SHARD_BYTES'] = '1';
const { runStage, shardCount } = await import('../pipelines/stage.js');
const { runExportAll } = await import('../pipelines/export-all.js');
const { runShardsLocally } = await import('../pipelines/shards.js');
const { stageNamed } = await import('../src/stages/registry.js');
const { runAllOn } = await import('./library.js');

const RECORDED_AT = '2026-05-02T00:00:00.000Z';

/** Every file under a root, receipts with their timings blanked (they differ between any two runs). */
async function bytesOf(root: string): Promise<Map<string, string>> {
  const files = await snapshot(root);
  for (const [file, text] of files) {
    if (file.endsWith('.json')) files.set(file, JSON.stringify(JSON.parse(text), (key, value: unknown) => (/(^|_)(started|finished)_at$|_ms$|^duration/.test(key) ? 0 : value)));
    else if (file.startsWith('reports/')) files.delete(file); // the page and summary.md print the timings
  }
  return files;
}

/** Runs `work` with --jobs 1 on one fixture copy and --jobs 2 on another: the same files, byte for byte. */
const sameAsOneProcess = (work: (root: string, jobs: number) => Promise<unknown>) => () =>
  inFolder(fixtureCopy, (one) =>
    inFolder(fixtureCopy, async (many) => {
      await work(one, 1);
      await work(many, 2);
      assert.deepEqual(await bytesOf(many), await bytesOf(one));
    }));

test('the seam makes the fixture big enough for two shards of every stage', () =>
  inFolder(fixtureCopy, async (root) => {
    for (const command of ['sft', 'rag', 'preference', 'collect', 'score']) assert.equal(await shardCount(stageNamed(command)!, { cwd: root, root, jobs: 2 }), 2, command);
  }));

for (const command of ['sft', 'rag', 'preference', 'collect', 'score']) {
  test(`${command} run as local shards writes what one process writes`, sameAsOneProcess((root, jobs) => runStage(stageNamed(command)!, { cwd: root, root, recordedAt: RECORDED_AT, jobs, includePartial: true } as StageCommandOptions)));
}
test('export-all run as local shards writes what one process writes', sameAsOneProcess((root, jobs) => runExportAll({ cwd: root, root, recordedAt: RECORDED_AT, jobs })));
test('run-all run as local shards writes what one process writes, receipts included (timings aside)', sameAsOneProcess((root, jobs) => runAllOn(root, 'r1', RECORDED_AT, { flags: { jobs } })));

test('a merge whose work folder is on another filesystem than the root copies what it cannot link or move (collect\'s tree, sft\'s dataset)', async (t) => {
  const elsewhere = '/dev/shm';
  const here = await tempDir();
  const [shm, tmp] = await Promise.all([stat(elsewhere).catch(() => undefined), stat(here)]);
  await rm(here, { recursive: true });
  if (shm === undefined || shm.dev === tmp.dev) return t.skip(`needs ${elsewhere} on another filesystem than ${path.dirname(here)}: cannot test the copy a cross-device merge falls back to`);
  await sameAsOneProcess(async (root, jobs) => {
    const before = process.env['TMPDIR'];
    process.env['TMPDIR'] = elsewhere; // where local shards put their work (os.tmpdir()); the roots were made before, on disk
    try {
      for (const command of ['collect', 'sft']) await runStage(stageNamed(command)!, { cwd: root, root, recordedAt: RECORDED_AT, jobs });
    } finally {
      if (before === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = before;
    }
  })();
});

test('a failed child shard fails the run with its own exit code and first error line, naming the shard', async () => {
  const work = await tempDir();
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  // Shard 0 runs in this process (here it does nothing); the child of shard 1 reads the plan file again: not a plan there is its usage error (exit 2).
  const plan = { shards: [[], []] } as unknown as ShardPlan;
  await assert.rejects(runShardsLocally(planFile, plan, 2, () => Promise.resolve()), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_USAGE');
    assert.equal(error.message, `shard 1 of 2: ${planFile} is not a shard plan (not JSON)`);
    return true;
  });
});

test('the shard run in this process fails the run as a child would: its class, its first line, the lowest failed index', async () => {
  const work = await tempDir();
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  const plan = { shards: [[], []] } as unknown as ShardPlan;
  const ran: number[] = [];
  const failing = (index: number): Promise<never> => {
    ran.push(index);
    return Promise.reject(new DistillError('DS_IO', 'evidence.jsonl: gone\nmore detail'));
  };
  await assert.rejects(runShardsLocally(planFile, plan, 2, failing), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_IO'); // shard 0's, though shard 1 failed too (DS_USAGE)
    assert.equal(error.message, 'shard 0 of 2: evidence.jsonl: gone');
    return true;
  });
  assert.deepEqual(ran, [0]);
  // An error that is not a DistillError is a bug: thrown as it is, after the children are done.
  const bug = new TypeError('boom');
  await assert.rejects(runShardsLocally(planFile, plan, 2, () => Promise.reject(bug)), (error: unknown) => error === bug);
});

import assert from 'node:assert/strict';
import { appendFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DistillError, mergePlan, planShards, readPlan, runPlanShard, runStage, stageNamed } from '../src/index.js';
import { copyOf, FIXTURE_ARCHIVE, inFolder, PACKAGE_ROOT, snapshot } from './helpers.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const MY_RULES = path.join(PACKAGE_ROOT, 'data-fixtures/rules/my-rules.json');

/** A fixture copy with a rules file in it, as a user's archive with their own rules. */
async function archiveWithRules(): Promise<string> {
  const root = await copyOf(FIXTURE_ARCHIVE);
  await copyFile(MY_RULES, path.join(root, 'my-rules.json'));
  return root;
}

test('the library plans, runs each shard and merges with paths relative to its cwd: the bytes of one process', () =>
  inFolder(archiveWithRules, (one) =>
    inFolder(archiveWithRules, async (many) => {
      const options = { root: '.', rules: 'my-rules.json', recordedAt: RECORDED_AT };
      const single = await runStage(stageNamed('score')!, { ...options, cwd: one });
      const plan = await planShards('score', { ...options, cwd: many, shards: 2, planFile: 'work/plan.json' });
      assert.equal(plan.work, path.join(many, 'work/plan.json.shards'));
      for (let n = 0; n < plan.shards.length; n++) assert.equal((await runPlanShard('work/plan.json', n, { cwd: many })).result, 'ran');
      const merged = await mergePlan(await readPlan(path.join(many, 'work/plan.json')));
      assert.equal(merged.counts.get('score')!.out, single.counts.out);
      const tree = async (root: string): Promise<Map<string, string>> => new Map([...(await snapshot(root))].filter(([file]) => file.startsWith('data/scored-runs/')));
      assert.deepEqual(await tree(many), await tree(one));
    })));

test('a shard and the merge refuse a plan whose rules file changed since, naming it as the command planned was given it', () =>
  inFolder(archiveWithRules, async (root) => {
    const plan = await planShards('score', { cwd: root, root: '.', rules: 'my-rules.json', recordedAt: RECORDED_AT, shards: 2, planFile: 'plan.json' });
    assert.match(plan.rulesSha256 ?? '', /^[0-9a-f]{64}$/);
    for (let n = 0; n < plan.shards.length; n++) await runPlanShard('plan.json', n, { cwd: root });
    // The same rules, reformatted: other bytes, so other receipts; the plan no longer holds.
    await appendFile(path.join(root, 'my-rules.json'), '\n');
    const refused = (error: unknown): boolean =>
      error instanceof DistillError && error.code === 'DS_IO' && error.message === '--rules my-rules.json: the rules file changed since the plan was written; write a new plan';
    await assert.rejects(mergePlan(plan), refused);
    await planShards('score', { cwd: root, root: '.', rules: 'my-rules.json', recordedAt: RECORDED_AT, shards: 2, planFile: 'again.json' });
    await appendFile(path.join(root, 'my-rules.json'), '\n');
    await assert.rejects(runPlanShard('again.json', 0, { cwd: root }), refused);
  }));

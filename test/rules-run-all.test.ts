import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { ScoredRun, SftSample } from '../src/records.js';
import type { StageReceipt } from '../src/receipts.js';
import { DistillError } from '../src/errors.js';
import { PACKAGE_ROOT, readText, removeDir, tempDir } from './helpers.js';
import { runAllOn } from './library.js';

const RULES_FIXTURE = path.join(PACKAGE_ROOT, 'data-fixtures', 'rules');
const RECORDED_AT = '2026-06-02T00:00:00.000Z';
/** run-all as `run-all --root ROOT --rules RULES --recorded-at 2026-06-02T00:00:00.000Z --run-id mine` runs it. */
const runAllWith = (root: string, rules: string) => runAllOn(root, 'mine', RECORDED_AT, { rules, maxLineBytes: undefined });

const jsonl = async <T>(file: string): Promise<T[]> => (await readText(file)).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as T);

test("a user's own agent log with a small rules file goes through run-all to a non-empty SFT export", async () => {
  const root = await tempDir();
  try {
    await mkdir(path.join(root, 'data/_kb'), { recursive: true });
    await copyFile(path.join(RULES_FIXTURE, 'my_agent.jsonl'), path.join(root, 'data/_kb/my_agent.jsonl'));
    await copyFile(path.join(RULES_FIXTURE, 'my-rules.json'), path.join(root, 'my-rules.json'));

    const result = await runAllWith(root, path.join(root, 'my-rules.json'));
    assert.ok(result.summary.overall_passed, JSON.stringify(result.summary.stages));

    const sft = await jsonl<SftSample>(path.join(root, 'exports/sft/instruction_response.jsonl'));
    assert.deepEqual(sft.map((s) => s.source_run_id), ['my-001', 'my-003']);
    assert.equal(sft[0]!.instruction, "Complete task 'login-timeout' in 'src/session.ts' and report the tests you ran.");
    assert.equal((await jsonl(path.join(root, 'exports/rag/playbooks.jsonl'))).length, 4);
    assert.equal((await jsonl(path.join(root, 'exports/preference/chosen_rejected.jsonl'))).length, 2);

    const scored = await jsonl<ScoredRun>(path.join(root, 'data/scored-runs/2026/06/01/my_agent.jsonl'));
    assert.ok(scored.every((run) => run.scorer_version === 'my-rules@1.0.0+a1039c636cca'), JSON.stringify(scored.map((r) => r.scorer_version)));

    // The rules file is an input of every stage it decides, so a changed file is never a determinism alert.
    const rulesBytes = (await readFile(path.join(root, 'my-rules.json'))).length;
    for (const stage of ['score', 'export-sft', 'export-preference']) {
      const receipt = JSON.parse(await readText(path.join(root, 'reports/distillation/mine', `${stage}.json`))) as StageReceipt;
      assert.ok(receipt.inputs.some((input) => input.path === 'my-rules.json' && input.bytes === rulesBytes), `${stage}: ${JSON.stringify(receipt.inputs)}`);
    }
    const rag = JSON.parse(await readText(path.join(root, 'reports/distillation/mine/export-rag.json'))) as StageReceipt;
    assert.ok(!rag.inputs.some((input) => input.path === 'my-rules.json'));
  } finally {
    await removeDir(root);
  }
});

test('a rules file with a problem stops run-all before any work, naming line and field', async () => {
  const root = await tempDir();
  try {
    await mkdir(path.join(root, 'data/_kb'), { recursive: true });
    const bad = path.join(root, 'bad.json');
    await writeFile(bad, '{"name": "x", "version": "1", "rules": [{"sources": ["a"], "decide": []}]}\n');
    await assert.rejects(runAllWith(root, bad), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && /bad\.json:1:\d+:/.test(error.message));
    assert.deepEqual((await readdir(root)).sort(), ['bad.json', 'data']); // no report folder: it stopped before any work
  } finally {
    await removeDir(root);
  }
});

import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { ScoredRun, SftSample } from '../src/records.js';
import type { StageReceipt } from '../src/receipts.js';
import { PACKAGE_ROOT, readText, removeDir, runCli, tempDir } from './helpers.js';

const RULES_FIXTURE = path.join(PACKAGE_ROOT, 'data-fixtures', 'rules');
const PINNED = ['--recorded-at', '2026-06-02T00:00:00.000Z', '--run-id', 'mine'];

const jsonl = async <T>(file: string): Promise<T[]> => (await readText(file)).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as T);

test("a user's own agent log with a small rules file goes through run-all to a non-empty SFT export", async () => {
  const root = await tempDir();
  try {
    await mkdir(path.join(root, 'data/_kb'), { recursive: true });
    await copyFile(path.join(RULES_FIXTURE, 'my_agent.jsonl'), path.join(root, 'data/_kb/my_agent.jsonl'));
    await copyFile(path.join(RULES_FIXTURE, 'my-rules.json'), path.join(root, 'my-rules.json'));

    const result = await runCli(['run-all', '--root', root, '--rules', path.join(root, 'my-rules.json'), ...PINNED]);
    assert.equal(result.code, 0, result.stderr);

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
    const result = await runCli(['run-all', '--root', root, '--rules', bad, ...PINNED]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /bad\.json:1:\d+:/);
    const check = await runCli(['rules', 'check', bad]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /:1:\d+: /);
  } finally {
    await removeDir(root);
  }
});

test('rules show --builtin prints the built-in ruleset, which rules check accepts', async () => {
  const root = await tempDir();
  try {
    const shown = await runCli(['rules', 'show', '--builtin']);
    assert.equal(shown.code, 0);
    const parsed = JSON.parse(shown.stdout) as { name: string; version: string; rules: unknown[] };
    assert.ok(parsed.rules.length >= 8);
    const file = path.join(root, 'builtin.json');
    await writeFile(file, shown.stdout);
    assert.equal((await runCli(['rules', 'check', file])).code, 0);
  } finally {
    await removeDir(root);
  }
});

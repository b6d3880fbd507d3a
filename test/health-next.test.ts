import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runExportAll } from '../pipelines/export-all.js';
import { checkHealth } from '../pipelines/inspect.js';
import { runCollect, runScore } from '../pipelines/stage.js';
import { walkInputFiles } from '../src/io/walk.js';
import { LAYOUT } from '../src/layout.js';
import { inFolder, PACKAGE_ROOT, tempDir } from './helpers.js';

const RECORDED_AT = '2026-06-02T00:00:00.000Z';

const nextStep = async (root: string): Promise<string> => {
  const check = (await checkHealth(root)).find((c) => c.check === 'next step')!;
  return `${check.status} ${check.detail}`;
};

/** Sets the modification time of every file under `folder` (or of the file) to `seconds` since the epoch. */
async function touchAll(target: string, seconds: number): Promise<void> {
  for await (const file of walkInputFiles(target)) await utimes(file.absolute, seconds, seconds);
}

test('health says what to run next, step by step, until everything is up to date; then what is stale', async () => {
  await inFolder(tempDir, async (root) => {
    const on = { cwd: root, root, recordedAt: RECORDED_AT };
    await mkdir(path.join(root, LAYOUT.kb), { recursive: true });
    assert.equal(await nextStep(root), `warn data/_kb holds no agent logs: write them as data/_kb/NAME.jsonl (see docs/raw-logs.md), then run distill-stream run-all --root ${root}`);
    await copyFile(path.join(PACKAGE_ROOT, 'data-fixtures/rules/my_agent.jsonl'), path.join(root, LAYOUT.kb, 'my_agent.jsonl'));
    assert.equal(await nextStep(root), `warn no evidence in data/evidence: run distill-stream collect --root ${root}`);
    await runCollect(on);
    assert.equal(await nextStep(root), `warn no scored runs in data/scored-runs: run distill-stream score --root ${root}`);
    await runScore(on);
    assert.equal(await nextStep(root), `warn ${LAYOUT.sft}, ${LAYOUT.rag}, ${LAYOUT.preference} not exported yet: run distill-stream export-all --root ${root} (or run-all --root ${root}, which writes receipts too)`);
    await runExportAll(on);
    assert.equal(await nextStep(root), 'ok nothing: the evidence, scored runs and exports are up to date');

    // Times pinned a second apart from here on: what is older than what is then certain.
    const kb = path.join(root, LAYOUT.kb, 'my_agent.jsonl');
    const [evidence, scored, exports] = [path.join(root, LAYOUT.evidence), path.join(root, LAYOUT.scoredRuns), [LAYOUT.sft, LAYOUT.rag, LAYOUT.preference].map((file) => path.join(root, file))];
    const stamp = async (times: { kb: number; evidence: number; scored: number; exports: number }): Promise<void> => {
      await utimes(kb, times.kb, times.kb);
      await touchAll(evidence, times.evidence);
      await touchAll(scored, times.scored);
      for (const file of exports) await utimes(file, times.exports, times.exports);
    };
    await stamp({ kb: 4000, evidence: 1000, scored: 2000, exports: 3000 });
    assert.equal(await nextStep(root), `warn data/_kb changed after the last collect: run distill-stream collect --root ${root}`);
    await stamp({ kb: 1000, evidence: 3000, scored: 2000, exports: 4000 });
    assert.equal(await nextStep(root), `warn the scored runs are older than the evidence: run distill-stream score --root ${root}`);
    await stamp({ kb: 1000, evidence: 2000, scored: 4000, exports: 3000 });
    assert.match(await nextStep(root), /^warn exports\/sft\/instruction_response\.jsonl, .* older than the scored runs: run distill-stream export-all --root /);
    // The evidence changed after the index was built, and everything downstream is newer still.
    const first = (await walkInputFiles(evidence).next()).value!;
    await appendFile(first.absolute, '\n');
    await stamp({ kb: 1000, evidence: 2000, scored: 3000, exports: 4000 });
    assert.equal(await nextStep(root), `warn the evidence index is stale: run distill-stream index --root ${root}`);
  });
});

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runExportAll } from '../pipelines/export-all.js';
import { runStage, type StageCommandOptions } from '../pipelines/stage.js';
import { DistillError } from '../src/errors.js';
import { stageNamed } from '../src/stages/registry.js';
import { resolveInputs, type InputSource } from '../src/index.js';
import { fixtureCopy, inFolder, runCli } from './helpers.js';

/** Rejects with exit 3 and exactly this message: the path as the user typed it, after its option. */
const failsWith = async (run: Promise<unknown>, message: string): Promise<void> => {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof DistillError, String(error));
    assert.equal(error.code, 'DS_IO');
    assert.equal(error.message, message);
    return true;
  });
};

test('an I/O error names the path as typed and the option it came from, never one made relative to the root', () =>
  inFolder(fixtureCopy, async (cwd) => {
    // The root is a subfolder, so a path relative to it would read ../nonexistent.
    await mkdir(path.join(cwd, 'sub'));
    const root = 'sub';
    const base: StageCommandOptions = { cwd, root: '.', recordedAt: '2026-05-01T00:00:00.000Z' };
    const sft = stageNamed('sft')!;
    await failsWith(runStage(sft, { ...base, evidence: '/nope/x' }), '--evidence /nope/x: no such file or folder');
    await failsWith(runStage(sft, { ...base, evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runStage(sft, { ...base, root, inputs: ['data/scored-runs'], evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runExportAll({ ...base, evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runStage(stageNamed('score')!, { ...base, rules: 'nope.json' }), '--rules nope.json: no such file or folder');
    await failsWith(runStage(sft, { ...base, root, evidence: 'data/evidence', inputs: ['data/nope.jsonl'] }), 'data/nope.jsonl: no such file or folder');
    await failsWith(runExportAll({ ...base, root, evidence: 'data/evidence', inputs: ['data/nope.jsonl'] }), 'data/nope.jsonl: no such file or folder');
    await failsWith(runStage(stageNamed('collect')!, { ...base, root: 'nope' }), '--root nope: data/_kb: no such file or folder');
  }));

test('resolveInputs resolves relative inputs against the folder given (default the root), never the process\'s', () =>
  inFolder(fixtureCopy, async (root) => {
    const names = async (sources: AsyncIterable<InputSource>): Promise<string[]> => {
      const found: string[] = [];
      for await (const source of sources) found.push(source.display);
      return found;
    };
    const expected = await names(resolveInputs([path.join(root, 'data/scored-runs/2026/05/03')], root));
    assert.ok(expected.length > 0);
    assert.deepEqual(await names(resolveInputs(['data/scored-runs/2026/05/03'], root)), expected);
    assert.deepEqual(await names(resolveInputs(['05/03'], root, path.join(root, 'data/scored-runs/2026'))), expected);
    await assert.rejects(names(resolveInputs(['05/nope'], root, path.join(root, 'data/scored-runs/2026'))), /^DistillError: 05\/nope: no such file or folder$/m);
  }));

test('run-all names --root and --rules as typed on the command line', () =>
  inFolder(fixtureCopy, async (cwd) => {
    const missingRoot = await runCli(['run-all', '--root', 'nope'], { cwd });
    assert.equal(missingRoot.code, 3);
    assert.equal(missingRoot.stderr.trim(), 'distill-stream: --root nope: no such file or folder');
    const missingRules = await runCli(['run-all', '--root', '.', '--rules', 'nope.yaml'], { cwd });
    assert.equal(missingRules.code, 3);
    assert.equal(missingRules.stderr.trim(), 'distill-stream: --rules nope.yaml: no such file or folder');
  }));

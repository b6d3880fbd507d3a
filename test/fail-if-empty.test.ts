import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { commandHelp } from '../src/cli/help.js';
import { commandNamed } from '../src/cli/table.js';
import type { StageReceipt } from '../src/receipts.js';
import { inFolder, PROCESS_CONCURRENCY, runCli, unruledArchive } from './helpers.js';
import { runAllOn } from './library.js';

const RECORDED_AT = '2026-06-02T00:00:00.000Z';

const unruledRoot = (body: (root: string) => Promise<void>): Promise<void> => inFolder(unruledArchive, body);

describe('--fail-if-empty', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('every export command declares it, so --help shows it', () => {
    for (const name of ['sft', 'rag', 'preference', 'export-all', 'run-all']) assert.match(commandHelp(commandNamed(name)!), /--fail-if-empty +exit 1 \(validation failed\) when an export writes no row/, name);
    for (const name of ['collect', 'score']) assert.doesNotMatch(commandHelp(commandNamed(name)!), /--fail-if-empty/, name);
  });

  test('run-all: the empty export fails its validation in its receipt, the run fails and the later stages are skipped', async () => {
    await unruledRoot(async (root) => {
      const plain = await runAllOn(root, 'plain', RECORDED_AT, { maxLineBytes: undefined });
      assert.ok(plain.summary.overall_passed);
      const result = await runAllOn(root, 'strict', RECORDED_AT, { maxLineBytes: undefined, failIfEmpty: true });
      assert.equal(result.summary.overall_passed, false);
      assert.deepEqual(result.summary.stages.map((s) => [s.stage, s.passed, s.skipped]), [
        ['collect', true, false],
        ['score', true, false],
        ['export-rag', false, false],
        ['export-sft', false, true],
        ['export-preference', false, true],
      ]);
      const receipt = JSON.parse(await readFile(path.join(root, 'reports/distillation/strict/export-rag.json'), 'utf8')) as StageReceipt;
      assert.deepEqual(receipt.validation.errors, ['rag exported nothing (read=8 quarantined=8) and --fail-if-empty was given']);
      // With the review rows admitted rag has rows, and the run goes on to the empty SFT export.
      const review = await runAllOn(root, 'review', RECORDED_AT, { maxLineBytes: undefined, failIfEmpty: true, flags: { includeReview: true } });
      assert.deepEqual(review.summary.stages.map((s) => [s.stage, s.passed, s.skipped]).slice(2), [
        ['export-rag', true, false],
        ['export-sft', false, false],
        ['export-preference', false, true],
      ]);
    });
  });

  test('sft exits 1 after writing its (empty) dataset and quarantine, saying so; without the flag it exits 0', async () => {
    await unruledRoot(async (root) => {
      assert.equal((await runCli(['run-all', '--root', root, '--recorded-at', RECORDED_AT])).code, 0);
      const strict = await runCli(['sft', '--root', root, '--fail-if-empty', '--recorded-at', RECORDED_AT]);
      assert.equal(strict.code, 1, strict.stderr);
      assert.match(strict.stderr, /\[sft\] read=8 exported=0 quarantined=8 .*\ndistill-stream: sft exported nothing \(read=8 quarantined=8\) and --fail-if-empty was given\n$/s);
      assert.equal(await readFile(path.join(root, 'exports/sft/instruction_response.jsonl'), 'utf8'), '');
      assert.equal((await readFile(path.join(root, 'exports/quarantine/sft.jsonl'), 'utf8')).trim().split('\n').length, 8);
      assert.equal((await runCli(['rag', '--root', root, '--include-review', '--fail-if-empty', '--recorded-at', RECORDED_AT])).code, 0); // the review rows
      const all = await runCli(['export-all', '--root', root, '--include-review', '--fail-if-empty', '--recorded-at', RECORDED_AT]);
      assert.equal(all.code, 1, all.stderr);
      assert.match(all.stderr, /distill-stream: sft exported nothing/);
      assert.match(all.stderr, /distill-stream: preference exported nothing/);
      assert.doesNotMatch(all.stderr, /distill-stream: rag exported nothing/);
    });
  });

  test('run-all --fail-if-empty exits 1 naming the empty export', async () => {
    await unruledRoot(async (root) => {
      const result = await runCli(['run-all', '--root', root, '--fail-if-empty', '--run-id', 'strict', '--recorded-at', RECORDED_AT]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /\[run-all\]   export-rag: rag exported nothing \(read=8 quarantined=8\) and --fail-if-empty was given/);
    });
  });
});

/**
 * Each pipeline command once through the built CLI, against the committed goldens: the flags reach
 * the library, the files land where the flags (or the standard layout) say, stdout carries what it
 * should and stderr the summary line. The goldens' every other variant (views, flags, reruns) is
 * checked in-process in exports-golden.test.ts, collect.test.ts and score-stage.test.ts. Every test
 * has a fixture copy of its own, so they run concurrently.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURE_ARCHIVE, fixtureCopy, GOLDEN, inFolder, listFiles, PROCESS_CONCURRENCY, readText, runCli } from './helpers.js';
import { EXPORT_GOLDENS } from './library.js';

const PINNED = ['--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536'];
const HAND_WRITTEN = '2026/05/03/hand_written_rows.jsonl';

const golden = (name: string): Promise<string> => readText(path.join(GOLDEN, name));

async function snapshot(dir: string, skip: ReadonlySet<string> = new Set()): Promise<Map<string, string>> {
  const files = (await listFiles(dir)).filter((file) => !skip.has(file));
  return new Map(await Promise.all(files.map(async (file): Promise<[string, string]> => [file, await readText(path.join(dir, file))])));
}

describe('each command through the CLI, against the goldens', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('collect --root reproduces the committed data/evidence byte for byte', () =>
    inFolder(fixtureCopy, async (root) => {
      await rm(path.join(root, 'data/evidence'), { recursive: true });
      await rm(path.join(root, 'data/scored-runs'), { recursive: true });
      const result = await runCli(['collect', '--root', root, '--recorded-at', '2026-05-01T00:00:00.000Z', '--max-line-bytes', '65536']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, '[collect] read=44 exported=40 quarantined=4 {duplicate_id: 1, schema_violation: 3}\n');
      assert.deepEqual(await snapshot(path.join(root, 'data/evidence')), await snapshot(path.join(FIXTURE_ARCHIVE, 'data/evidence')));
      assert.deepEqual((await readdir(path.join(root, 'data'))).sort(), ['_kb', 'evidence']);
    }));

  test('score --root reproduces the committed data/scored-runs byte for byte', () =>
    inFolder(fixtureCopy, async (root) => {
      await rm(path.join(root, 'data/scored-runs'), { recursive: true });
      const result = await runCli(['score', '--root', root, '--recorded-at', '2026-05-01T00:00:00.000Z', '--max-line-bytes', '65536']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, '[score] read=40 exported=40 quarantined=0 {}\n[score] web_extractions: 1 row, no scoring rule: all needs_human_review — see docs/rules.md\n');
      assert.deepEqual(await snapshot(path.join(root, 'data/scored-runs')), await snapshot(path.join(FIXTURE_ARCHIVE, 'data/scored-runs'), new Set([HAND_WRITTEN])));
      assert.equal(await readText(path.join(root, 'exports/quarantine/score.jsonl')), '');
    }));

  test('sft --root writes the golden dataset and quarantine at their standard paths', () =>
    inFolder(fixtureCopy, async (root) => {
      const result = await runCli(['sft', '--root', root, ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '');
      assert.equal(await readText(path.join(root, 'exports/sft/instruction_response.jsonl')), await golden('sft.jsonl'));
      assert.equal(await readText(path.join(root, 'exports/quarantine/sft.jsonl')), await golden('sft.quarantine.jsonl'));
      assert.match(result.stderr, /^\[index\] files=\d+ read=\d+ rows=\d+ unjoinable=\d+ \d+ms\n/);
      assert.match(result.stderr, /\[sft\] read=\d+ exported=\d+ quarantined=\d+ \{.*duplicate_id: 2, /);
    }));

  test('rag on a folder of scored runs writes the golden playbooks on stdout and its quarantine to --quarantine', () =>
    inFolder(fixtureCopy, async (root) => {
      // Run from the root, so the quarantine names the inputs as the golden does (relative to the working folder).
      const result = await runCli(['rag', '--evidence', 'data/evidence', '--quarantine', 'q.jsonl', ...PINNED, 'data/scored-runs'], { cwd: root });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, await golden('rag.jsonl'));
      assert.equal(await readText(path.join(root, 'q.jsonl')), await golden('rag.quarantine.jsonl'));
    }));

  test('preference --format dpo --out writes the golden view there; --json prints the summary as JSON', () =>
    inFolder(fixtureCopy, async (root) => {
      const out = path.join(root, 'dpo.jsonl');
      const result = await runCli(['preference', '--root', root, '--format', 'dpo', '--out', out, '--json', ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await readText(out), await golden('preference-dpo.jsonl'));
      assert.equal(await readText(path.join(root, 'exports/quarantine/preference.jsonl')), await golden('preference.quarantine.jsonl'));
      const summary = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { stage: string; read: number; exported: number; quarantined: number; unpaired: number; quarantined_pairs: number };
      assert.equal(summary.stage, 'preference');
      assert.equal(summary.exported, (await golden('preference-dpo.jsonl')).trim().split('\n').length);
      assert.ok(summary.unpaired > 0 && summary.quarantined_pairs > 0);
    }));

  test('export-all --root writes every golden dataset and quarantine in one pass', () =>
    inFolder(fixtureCopy, async (root) => {
      const result = await runCli(['export-all', '--root', root, ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /\[sft\] read=\d+[\s\S]*\[rag\] read=\d+[\s\S]*\[preference\] read=\d+/);
      for (const [file, name] of EXPORT_GOLDENS) assert.equal(await readText(path.join(root, file)), await golden(name), file);
    }));

  test('run-all --root writes the golden datasets, the reports of the run, and the drift table on stderr', () =>
    inFolder(fixtureCopy, async (root) => {
      const result = await runCli(['run-all', '--root', root, '--run-id', 'run-a', ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      const names = (await readdir(path.join(root, 'reports/distillation/run-a'))).sort();
      assert.deepEqual(names, ['collect.json', 'drift.json', 'export-preference.json', 'export-rag.json', 'export-sft.json', 'report.html', 'score.json', 'summary.json', 'summary.md']);
      assert.equal(await readText(path.join(root, 'exports/sft/instruction_response.jsonl')), await golden('sft.jsonl'));
      assert.equal(await readText(path.join(root, 'exports/rag/playbooks.jsonl')), await golden('rag.jsonl'));
      assert.equal(await readText(path.join(root, 'exports/preference/chosen_rejected.jsonl')), await golden('preference.jsonl'));
      assert.match(result.stderr, /\[run-all\] collect passed in=44 out=40 quarantined=4/);
      assert.match(result.stderr, /metric +prior +current +pct_change +flag/);
      assert.match(result.stderr, /\[run-all\] run-a passed; drift ok/);
    }));
});

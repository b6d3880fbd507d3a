/**
 * The command line's contract, through the built CLI in a child process: help and version, usage
 * errors (exit 2, one line and where to get help), I/O errors (exit 3 naming the path), validation
 * failures (exit 1), rows on stdin and lines on stdout, a reader that goes away, a run killed
 * mid-way. What a stage does to rows is tested in-process through the library; here only what the
 * process adds. Every test works in a folder of its own, so they run concurrently (one per core).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runCollect, runSft } from '../pipelines/stage.js';
import type { RunSummary } from '../src/receipts.js';
import type { EvidenceRecord, QuarantineRecord, ScoredRun } from '../src/records.js';
import { CLI, FIXTURE_ARCHIVE, fixtureCopy, GOLDEN, inFolder, listFiles, PROCESS_CONCURRENCY, readText, runCli, tempDir } from './helpers.js';
import { runAllOn, scrumRow, writeEvidence } from './library.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const PINNED = ['--recorded-at', RECORDED_AT, '--max-line-bytes', '65536'];
/** The recorded_at the committed evidence and scored-runs trees were made with. */
const TREES_RECORDED_AT = '2026-05-01T00:00:00.000Z';
const TREES_PINNED = ['--recorded-at', TREES_RECORDED_AT, '--max-line-bytes', '65536'];

const parseLines = <T>(text: string): T[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as T);
const readJsonl = async <T>(file: string): Promise<T[]> => parseLines<T>(await readText(file));

/** A tiny archive in `dir`: one evidence file of `rawRows`, and their scored rows for the test to write. */
async function miniArchive(dir: string, rawRows: Array<Record<string, unknown>>): Promise<{ evidence: string; scored: ScoredRun[] }> {
  const evidence = path.join(dir, 'evidence.jsonl');
  return { evidence, scored: await writeEvidence(evidence, rawRows) };
}

const poll = async (condition: () => Promise<boolean>, everyMs = 5): Promise<void> => {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, everyMs));
};

describe('help, usage and exit codes', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('--help and --version exit 0', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: distill-stream <command>/);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  for (const args of [['frobnicate'], ['sft', '--no-such-flag'], ['sft', '--recorded-at', '2026-02-30T00:00:00Z'], ['sft', '--max-line-bytes', '0'], []]) {
    test(`bad usage exits 2 with one line and where to get help: ${JSON.stringify(args)}`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^distill-stream: [^\n]+\nRun 'distill-stream [a-z-]* ?--help' for usage\.\n$/);
      assert.equal(result.stdout, '');
    });
  }

  test('an unknown --format is a usage error', () =>
    inFolder(fixtureCopy, async (root) => {
      const result = await runCli(['sft', '--root', root, '--format', 'parquet']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--format 'parquet'/);
    }));

  test('without --source, collect as a filter is a usage error (exit 2) and writes nothing', () =>
    inFolder(tempDir, async (dir) => {
      const result = await runCli(['collect', ...TREES_PINNED], { stdin: `${JSON.stringify({ run_id: 'a', task_id: 'task:a', created_at: '2026-05-01T09:00:00Z' })}\n`, cwd: dir });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--source/);
      assert.match(result.stderr, /needs --source NAME.*\nRun 'distill-stream collect --help' for usage/s);
      assert.equal(result.stdout, '');
      assert.deepEqual(await readdir(dir), []);
    }));

  test('an unreadable input exits 3 naming the path', () =>
    inFolder(tempDir, async (dir) => {
      const { evidence } = await miniArchive(dir, [scrumRow()]);
      const result = await runCli(['sft', '--evidence', evidence, '--quarantine', path.join(dir, 'q.jsonl'), path.join(dir, 'no-such-input.jsonl')]);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /no-such-input\.jsonl/);
      assert.equal(existsSync(path.join(dir, 'q.jsonl')), false);
    }));

  test('missing evidence exits 3 naming it', () =>
    inFolder(tempDir, async (dir) => {
      await mkdir(path.join(dir, 'data/scored-runs'), { recursive: true });
      const result = await runCli(['sft', '--root', dir]);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /data\/evidence/);
    }));

  test('a truncated last line in audit_baselines.jsonl stops run-all with exit 3 naming it', () =>
    inFolder(fixtureCopy, async (root) => {
      await writeFile(path.join(root, 'data/_kb/audit_baselines.jsonl'), '{"run_id":"old","recorded_at":"2026-05-01T00:00:00Z","metrics":{');
      const result = await runCli(['run-all', '--root', root, '--run-id', 'run', ...PINNED]);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /audit_baselines\.jsonl/);
    }));

  test('a rules file with a problem: run-all exits 2 naming line and field; rules check exits 1 saying where', () =>
    inFolder(tempDir, async (root) => {
      await mkdir(path.join(root, 'data/_kb'), { recursive: true });
      const bad = path.join(root, 'bad.json');
      await writeFile(bad, '{"name": "x", "version": "1", "rules": [{"sources": ["a"], "decide": []}]}\n');
      const result = await runCli(['run-all', '--root', root, '--rules', bad, '--recorded-at', '2026-06-02T00:00:00.000Z', '--run-id', 'mine']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /bad\.json:1:\d+:/);
      const check = await runCli(['rules', 'check', bad]);
      assert.equal(check.code, 1);
      assert.match(check.stdout, /:1:\d+: /);
    }));

  test('rules show --builtin prints the built-in ruleset, which rules check accepts', () =>
    inFolder(tempDir, async (root) => {
      const shown = await runCli(['rules', 'show', '--builtin']);
      assert.equal(shown.code, 0);
      const parsed = JSON.parse(shown.stdout) as { name: string; version: string; rules: unknown[] };
      assert.ok(parsed.rules.length >= 8);
      const file = path.join(root, 'builtin.json');
      await writeFile(file, shown.stdout);
      assert.equal((await runCli(['rules', 'check', file])).code, 0);
    }));

  test('a stage that fails validation makes run-all exit 1 (DISTILL_STREAM_FAIL_VALIDATION), and health then exits 1', () =>
    inFolder(fixtureCopy, async (root) => {
      const env = { ...process.env, DISTILL_STREAM_FAIL_VALIDATION: 'score' };
      const failed = await runCli(['run-all', '--root', root, '--run-id', 'failed', ...PINNED], { env });
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /\[run-all\] score FAILED/);
      const health = await runCli(['health', '--root', root]);
      assert.equal(health.code, 1);
      assert.match(health.stdout, /fail +last run: failed FAILED/);
    }));

  test('read prints a run summary by id or the latest (exit 2 without either, 3 for an unknown run); health is clean after a good run', () =>
    inFolder(fixtureCopy, async (root) => {
      await runAllOn(root, 'only', RECORDED_AT);
      const byId = await runCli(['read', '--root', root, '--run-id', 'only']);
      assert.equal(byId.code, 0);
      assert.match(byId.stdout, /^# distill-stream run only/);
      const latest = await runCli(['read', '--root', root, '--latest', '--json']);
      assert.equal((JSON.parse(latest.stdout) as RunSummary).run_id, 'only');
      assert.equal((await runCli(['read', '--root', root])).code, 2);
      assert.equal((await runCli(['read', '--root', root, '--run-id', 'nope'])).code, 3);
      const health = await runCli(['health', '--root', root]);
      assert.equal(health.code, 0, health.stdout);
      assert.match(health.stdout, /ok +evidence index: fresh/);
    }));
});

describe('rows on stdin, lines on stdout', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('sft on stdin writes the same dataset as --root mode, its quarantine located on "-"', () =>
    inFolder(fixtureCopy, async (root) => {
      const scored = await listFiles(path.join(root, 'data/scored-runs'));
      const concatenated = (await Promise.all(scored.map((file) => readFile(path.join(root, 'data/scored-runs', file))))).map(String).join('');
      const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(root, 'stdin-q.jsonl'), ...PINNED], { stdin: concatenated });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
      const rows = await readJsonl<QuarantineRecord>(path.join(root, 'stdin-q.jsonl'));
      assert.ok(rows.length > 0 && rows.every((row) => row.source_provenance.source_file === '-'));
    }));

  test('gzip on stdin is read by its magic bytes', () =>
    inFolder(fixtureCopy, async (root) => {
      const plain = path.join(root, 'data/scored-runs/2026/05/01/scrum_reviews.jsonl');
      const evidence = path.join(root, 'data/evidence');
      const expected = path.join(root, 'plain.jsonl');
      await runSft({ root, inputs: [plain], evidence, out: expected, quarantine: path.join(root, 'plain-q.jsonl'), recordedAt: RECORDED_AT, maxLineBytes: 65536 });
      const fromGzStdin = await runCli(['sft', '--evidence', evidence, '--quarantine', path.join(root, 'gz-q.jsonl'), ...PINNED], { stdin: gzipSync(await readFile(plain)) });
      assert.equal(fromGzStdin.code, 0, fromGzStdin.stderr);
      assert.ok(fromGzStdin.stdout.length > 0);
      assert.equal(fromGzStdin.stdout, await readText(expected));
    }));

  test('stdin rows of one --source → evidence lines on stdout, provenance naming data/_kb/<source>.jsonl', () =>
    inFolder(tempDir, async (dir) => {
      const rawKb = await readFile(path.join(FIXTURE_ARCHIVE, 'data/_kb/scrum_reviews.jsonl'));
      const result = await runCli(['collect', '--source', 'scrum_reviews', ...TREES_PINNED], { stdin: rawKb, cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      // The same rows the tree holds, in input order (the tree splits them by date).
      const tree = await Promise.all(['2026/05/01', '2026/05/02'].map((day) => readJsonl<EvidenceRecord>(path.join(FIXTURE_ARCHIVE, 'data/evidence', day, 'scrum_reviews.jsonl'))));
      const expected = tree.flat().sort((a, b) => a.provenance.line_offset - b.provenance.line_offset);
      assert.equal(result.stdout, expected.map((r) => `${JSON.stringify(r)}\n`).join(''));
      assert.ok(expected.every((r) => r.provenance.source_file === 'data/_kb/scrum_reviews.jsonl'));
      // Quarantine goes to the standard path under the current folder, located on stdin.
      const quarantine = await readJsonl<QuarantineRecord>(path.join(dir, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(quarantine.map((q) => [q.reason, q.source_provenance.source_file, q.source_provenance.line_offset]), [
        ['schema_violation', '-', 9],
        ['schema_violation', '-', 10],
        ['duplicate_id', '-', 11],
        ['schema_violation', '-', 14],
      ]);
      assert.deepEqual(await readdir(dir), ['exports']);
    }));

  test('cat evidence | distill-stream score writes the scored lines on stdout', () =>
    inFolder(tempDir, async (dir) => {
      const files = await listFiles(path.join(FIXTURE_ARCHIVE, 'data/evidence'));
      const evidence = (await Promise.all(files.map((file) => readFile(path.join(FIXTURE_ARCHIVE, 'data/evidence', file))))).map(String).join('');
      const scored = (await Promise.all(files.map((file) => readFile(path.join(FIXTURE_ARCHIVE, 'data/scored-runs', file))))).map(String).join('');
      const result = await runCli(['score', ...TREES_PINNED], { stdin: evidence, cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, scored);
      assert.equal(result.stderr, '[score] read=40 exported=40 quarantined=0 {}\n[score] web_extractions: 1 row, no scoring rule: all needs_human_review — see docs/rules.md\n');
      assert.equal(await readText(path.join(dir, 'exports/quarantine/score.jsonl')), '');
      assert.deepEqual(await readdir(dir), ['exports']);
    }));

  test('bad stdin rows are located on "-" with their stdin line', () =>
    inFolder(tempDir, async (dir) => {
      const [valid] = await readJsonl<EvidenceRecord>(path.join(FIXTURE_ARCHIVE, 'data/evidence/2026/05/01/audits.jsonl'));
      const result = await runCli(['score', ...TREES_PINNED], { stdin: `${JSON.stringify(valid)}\n\n{"run_id":1}\n`, cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(parseLines<ScoredRun>(result.stdout).length, 1);
      const quarantine = await readJsonl<QuarantineRecord>(path.join(dir, 'exports/quarantine/score.jsonl'));
      assert.deepEqual(quarantine.map((q) => [q.reason, q.source_provenance, q.source_record]), [['schema_violation', { source_file: '-', line_offset: 2 }, { run_id: 1 }]]);
    }));

  test('a reader that stops early (| head -1) ends the run quietly with code 0', () =>
    inFolder(tempDir, async (dir) => {
      const rows = Array.from({ length: 3000 }, (_, n) => scrumRow({ run_id: `r${n}`, text: `answer ${n} ${'é'.repeat(400)}` }));
      const { evidence, scored } = await miniArchive(dir, rows);
      const input = scored.map((s) => JSON.stringify(s)).join('\n');
      const child = spawn(process.execPath, [CLI, 'sft', '--evidence', evidence, '--quarantine', path.join(dir, 'q.jsonl')]);
      child.stdin.on('error', () => {}); // the child may stop reading once its stdout is gone
      child.stdin.end(input);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.ok(first.startsWith('{"schema_version":1,"id":"sft-'));
      assert.equal(code, 0);
      assert.doesNotMatch(stderr, /error/i);
    }));
});

describe('a run killed mid-way', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('a killed sft leaves no output file in place; the next run removes its temp file', () =>
    inFolder(tempDir, async (dir) => {
      const { evidence, scored } = await miniArchive(dir, [scrumRow()]);
      const out = path.join(dir, 'out.jsonl');
      const child = spawn(process.execPath, [CLI, 'sft', '--evidence', evidence, '--out', out, '--quarantine', path.join(dir, 'q.jsonl')]);
      child.stdin.write(`${JSON.stringify(scored[0])}\n`); // stdin stays open: the run is mid-way
      const tempFile = async (): Promise<boolean> => (await readdir(dir)).some((name) => name.startsWith('.out.jsonl.') && name.endsWith('.tmp'));
      await poll(tempFile, 20);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      assert.equal(existsSync(out), false);
      assert.equal(existsSync(path.join(dir, 'q.jsonl')), false);
      assert.equal(await tempFile(), true);
      // The next run (in-process: what matters here is what the killed process left behind).
      const input = path.join(dir, 'in.jsonl');
      await writeFile(input, `${JSON.stringify(scored[0])}\n`);
      await runSft({ cwd: dir, inputs: [input], evidence, out, quarantine: path.join(dir, 'q.jsonl') });
      assert.equal(await tempFile(), false);
      assert.equal(existsSync(out), true);
    }));

  test('a killed collect leaves the previous tree in place; the next run clears its abandoned temp tree', () =>
    inFolder(tempDir, async (root) => {
      const good = (runId: string): string => `${JSON.stringify({ run_id: runId, task_id: `task:${runId}`, created_at: '2026-05-01T09:00:00Z' })}\n`;
      // The runs before and after the killed one are in-process: what matters is what the killed process left behind.
      const collect = () => runCollect({ root, recordedAt: TREES_RECORDED_AT, maxLineBytes: 65536 });
      const snapshot = async (dir: string): Promise<Map<string, string>> =>
        new Map(await Promise.all((await listFiles(dir)).map(async (file): Promise<[string, string]> => [file, await readText(path.join(dir, file))])));
      await mkdir(path.join(root, 'data/_kb'), { recursive: true });
      await writeFile(path.join(root, 'data/_kb/a.jsonl'), good('old'));
      const evidence = path.join(root, 'data/evidence');
      await collect();
      const before = await snapshot(evidence);
      const quarantine = await readText(path.join(root, 'exports/quarantine/collect.jsonl'));
      await writeFile(path.join(root, 'data/_kb/a.jsonl'), good('new'));
      // A 64 GiB sparse source after a.jsonl: reading it keeps the run busy long after a.jsonl's partition is written.
      const slow = path.join(root, 'data/_kb/b.jsonl');
      await writeFile(slow, '');
      await truncate(slow, 64 * 2 ** 30);
      const child = spawn(process.execPath, [CLI, 'collect', '--root', root, '--recorded-at', TREES_RECORDED_AT, '--max-line-bytes', '1024', '--jobs', '1'], { stdio: 'ignore' });
      const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
      const tempTrees = async (): Promise<string[]> => (await readdir(path.join(root, 'data'))).filter((name) => name.startsWith('.evidence.'));
      await poll(async () => {
        const [temp] = await tempTrees();
        return temp !== undefined && existsSync(path.join(root, 'data', temp, '2026/05/01/a.jsonl'));
      });
      child.kill('SIGKILL');
      assert.equal(await closed, 'SIGKILL');
      assert.deepEqual(await snapshot(evidence), before);
      assert.equal(await readText(path.join(root, 'exports/quarantine/collect.jsonl')), quarantine);
      assert.equal((await tempTrees()).length, 1);
      await rm(slow);
      await collect();
      assert.deepEqual((await readJsonl<EvidenceRecord>(path.join(evidence, '2026/05/01/a.jsonl'))).map((r) => r.run_id), ['new']);
      assert.deepEqual(await tempTrees(), []);
    }));
});

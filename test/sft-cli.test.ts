import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { toEvidenceRecord } from '../src/core/evidence.js';
import { Rejection } from '../src/core/rejection.js';
import { toScoredRun } from '../src/core/scorer.js';
import type { EvidenceRecord, QuarantineRecord, ScoredRun } from '../src/records.js';
import { CLI, fixtureCopy, GOLDEN, listFiles, readText, removeDir, runCli, tempDir } from './helpers.js';

const PINNED = ['--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536'];

describe('sft on the fixture archive', () => {
  let root: string;
  before(async () => {
    root = await fixtureCopy();
  });
  after(() => removeDir(root));

  test('--root writes the golden dataset and quarantine, byte for byte', async () => {
    const result = await runCli(['sft', '--root', root, ...PINNED]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(await readText(path.join(root, 'exports/sft/instruction_response.jsonl')), await readText(path.join(GOLDEN, 'sft.jsonl')));
    const quarantine = await readText(path.join(root, 'exports/quarantine/sft.jsonl'));
    assert.equal(quarantine, await readText(path.join(GOLDEN, 'sft.quarantine.jsonl')));
    assert.match(result.stderr, /\[sft\] read=\d+ exported=\d+ quarantined=\d+ \{.*duplicate_id: 2, /);
  });

  test('--include-partial admits partially_accepted runs (golden)', async () => {
    const out = path.join(root, 'partial.jsonl');
    const result = await runCli(['sft', '--root', root, '--include-partial', '--out', out, '--quarantine', path.join(root, 'q.jsonl'), ...PINNED]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readText(out), await readText(path.join(GOLDEN, 'sft-include-partial.jsonl')));
  });

  test('stdin mode writes the same dataset as --root mode', async () => {
    const scored = await listFiles(path.join(root, 'data/scored-runs'));
    const concatenated = (await Promise.all(scored.map((file) => readFile(path.join(root, 'data/scored-runs', file))))).map(String).join('');
    const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(root, 'stdin-q.jsonl'), ...PINNED], {
      stdin: concatenated,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
    const rows = (await readText(path.join(root, 'stdin-q.jsonl'))).trim().split('\n').map((line) => JSON.parse(line) as QuarantineRecord);
    assert.ok(rows.every((row) => row.source_provenance.source_file === '-'));
  });

  test('two runs with pinned --recorded-at give the same bytes', async () => {
    const outputs: string[] = [];
    for (const name of ['a', 'b']) {
      const out = path.join(root, `${name}.jsonl`);
      const result = await runCli(['sft', '--root', root, '--out', out, '--quarantine', path.join(root, `${name}-q.jsonl`), ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      outputs.push((await readText(out)) + (await readText(path.join(root, `${name}-q.jsonl`))));
    }
    assert.equal(outputs[0], outputs[1]);
  });

  test('gzip inputs (by magic bytes, also on stdin) and folders walked in name order', async () => {
    const plain = path.join(root, 'data/scored-runs/2026/05/01/scrum_reviews.jsonl');
    const gz = path.join(root, 'copy.jsonl.gz');
    await writeFile(gz, gzipSync(await readFile(plain)));
    const args = ['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(root, 'gz-q.jsonl'), ...PINNED];
    const fromPlain = await runCli([...args, plain]);
    const fromGz = await runCli([...args, gz]);
    const fromGzStdin = await runCli(args, { stdin: gzipSync(await readFile(plain)) });
    assert.ok(fromPlain.stdout.length > 0);
    assert.equal(fromGz.stdout, fromPlain.stdout);
    assert.equal(fromGzStdin.stdout, fromPlain.stdout);
    const folder = await runCli([...args, path.join(root, 'data/scored-runs')]);
    assert.equal(folder.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
  });

  test('--dry-run counts but writes nothing', async () => {
    const dry = await fixtureCopy();
    try {
      const result = await runCli(['sft', '--root', dry, '--dry-run', '--json', ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      const summary = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { read: number; exported: number; quarantined: number };
      assert.ok(summary.exported > 0 && summary.quarantined > 0);
      assert.equal(summary.read, summary.exported + summary.quarantined);
      assert.equal(existsSync(path.join(dry, 'exports')), false);
    } finally {
      await removeDir(dry);
    }
  });
});

/** A tiny archive built in a temp folder: one evidence file, scored rows written by the test. */
async function miniArchive(rawRows: Array<Record<string, unknown>>, stem = 'scrum_reviews'): Promise<{ dir: string; evidence: string; scored: ScoredRun[] }> {
  const dir = await tempDir();
  const records = rawRows.map((raw, line) => {
    const record = toEvidenceRecord(raw, { source_file: `data/_kb/${stem}.jsonl`, line_offset: line }, '2026-05-01T00:00:00.000Z');
    assert.ok(!(record instanceof Rejection));
    return record as EvidenceRecord;
  });
  const evidence = path.join(dir, 'evidence.jsonl');
  await writeFile(evidence, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
  return { dir, evidence, scored: records.map((record) => toScoredRun(record, '2026-05-01T00:00:00.000Z')) };
}

const raw = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  run_id: 'r1',
  task_id: 't1',
  model_role: 'executor',
  text: 'A good answer.',
  signals: { accepted_on_attempt: 1 },
  created_at: '2026-05-01T00:00:00Z',
  ...overrides,
});

/** Runs sft over stdin lines; returns the output rows and quarantine rows. */
async function sftOn(evidence: string, dir: string, lines: string[], extra: string[] = []): Promise<{ out: string[]; quarantine: QuarantineRecord[] }> {
  const quarantinePath = path.join(dir, 'q.jsonl');
  const result = await runCli(['sft', '--evidence', evidence, '--quarantine', quarantinePath, '--recorded-at', '2026-05-02T00:00:00.000Z', ...extra], {
    stdin: lines.join('\n'),
  });
  assert.equal(result.code, 0, result.stderr);
  const quarantine = (await readText(quarantinePath)).split('\n').filter(Boolean).map((line) => JSON.parse(line) as QuarantineRecord);
  return { out: result.stdout.split('\n').filter(Boolean), quarantine };
}

describe('one test per SFT quarantine reason', () => {
  const cases: Array<{ reason: string; rows: Array<Record<string, unknown>>; line: (scored: ScoredRun[]) => string; extra?: string[] }> = [
    { reason: 'schema_violation', rows: [raw()], line: () => '{"not": json' },
    { reason: 'schema_violation', rows: [raw()], line: () => '"a string"' },
    { reason: 'schema_violation', rows: [raw()], line: ([s]) => JSON.stringify({ ...s, reasons: [] }) },
    { reason: 'missing_provenance', rows: [raw()], line: ([s]) => JSON.stringify({ ...s, provenance: { ...s!.provenance, source_file: null } }) },
    { reason: 'missing_source_run_id', rows: [raw()], line: ([s]) => JSON.stringify({ ...s, evidence_run_id: null }) },
    { reason: 'evidence_not_found', rows: [raw()], line: ([s]) => JSON.stringify({ ...s, evidence_run_id: 'nobody' }) },
    { reason: 'unsafe_sft_category', rows: [raw({ signals: { accepted_on_attempt: null, attempts: 3, max_attempts: 3 } })], line: ([s]) => JSON.stringify(s) },
    { reason: 'unsafe_sft_category', rows: [raw({ signals: {} })], line: ([s]) => JSON.stringify(s) },
    { reason: 'category_disallowed', rows: [raw({ signals: { accepted_on_attempt: 2, max_attempts: 3 } })], line: ([s]) => JSON.stringify(s) },
    { reason: 'not_instructable', rows: [raw({ model_role: 'planner' })], line: ([s]) => JSON.stringify(s) },
    { reason: 'empty_content', rows: [raw({ text: ' \r\n\t' })], line: ([s]) => JSON.stringify(s) },
    { reason: 'hallucinated_file_path', rows: [raw({ source_files: ['../outside.ts'] })], line: ([s]) => JSON.stringify(s) },
    { reason: 'hallucinated_file_path', rows: [raw({ source_files: ['src/missing.ts'] })], line: ([s]) => JSON.stringify(s), extra: ['--repo-root', '.'] },
    { reason: 'line_too_long', rows: [raw()], line: ([s]) => JSON.stringify(s), extra: ['--max-line-bytes', '100'] },
  ];
  for (const { reason, rows, line, extra } of cases) {
    test(`${reason}${extra ? ` (${extra.join(' ')})` : ''}`, async () => {
      const { dir, evidence, scored } = await miniArchive(rows);
      try {
        const { out, quarantine } = await sftOn(evidence, dir, ['', line(scored)], extra);
        assert.deepEqual(out, []);
        assert.equal(quarantine.length, 1);
        const [row] = quarantine;
        assert.equal(row!.reason, reason);
        assert.equal(row!.stage, 'sft');
        assert.deepEqual(row!.source_provenance, { source_file: '-', line_offset: 1 });
        assert.ok(row!.errors.length > 0);
      } finally {
        await removeDir(dir);
      }
    });
  }

  test('duplicate_id: the second copy of a row is quarantined, the first is written', async () => {
    const { dir, evidence, scored } = await miniArchive([raw()]);
    try {
      const line = JSON.stringify(scored[0]);
      const { out, quarantine } = await sftOn(evidence, dir, [line, line]);
      assert.equal(out.length, 1);
      assert.deepEqual(quarantine.map((row) => [row.reason, row.source_provenance.line_offset]), [['duplicate_id', 1]]);
    } finally {
      await removeDir(dir);
    }
  });

  test('unparsable lines keep their first 200 code points as _raw', async () => {
    const { dir, evidence } = await miniArchive([raw()]);
    try {
      const line = `{${'😀'.repeat(300)}`;
      const { quarantine } = await sftOn(evidence, dir, [line]);
      assert.deepEqual(quarantine[0]!.source_record, { _raw: `{${'😀'.repeat(199)}` });
    } finally {
      await removeDir(dir);
    }
  });
});

describe('command line contract', () => {
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

  test('an unreadable input exits 3 naming the path', async () => {
    const { dir, evidence } = await miniArchive([raw()]);
    try {
      const result = await runCli(['sft', '--evidence', evidence, '--quarantine', path.join(dir, 'q.jsonl'), path.join(dir, 'no-such-input.jsonl')]);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /no-such-input\.jsonl/);
      assert.equal(existsSync(path.join(dir, 'q.jsonl')), false);
    } finally {
      await removeDir(dir);
    }
  });

  test('missing evidence exits 3 naming it', async () => {
    const dir = await tempDir();
    try {
      await mkdir(path.join(dir, 'data/scored-runs'), { recursive: true });
      const result = await runCli(['sft', '--root', dir]);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /data\/evidence/);
    } finally {
      await removeDir(dir);
    }
  });

  test('a reader that stops early (| head -1) ends the run quietly with code 0', async () => {
    const rows = Array.from({ length: 3000 }, (_, n) => raw({ run_id: `r${n}`, text: `answer ${n} ${'é'.repeat(400)}` }));
    const { dir, evidence, scored } = await miniArchive(rows);
    try {
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
    } finally {
      await removeDir(dir);
    }
  });

  test('a run killed mid-way leaves no output file in place; the next run removes its temp file', async () => {
    const { dir, evidence, scored } = await miniArchive([raw()]);
    try {
      const out = path.join(dir, 'out.jsonl');
      const child = spawn(process.execPath, [CLI, 'sft', '--evidence', evidence, '--out', out, '--quarantine', path.join(dir, 'q.jsonl')]);
      child.stdin.write(`${JSON.stringify(scored[0])}\n`); // stdin stays open: the run is mid-way
      const tempFile = async (): Promise<boolean> => (await readdir(dir)).some((name) => name.startsWith('.out.jsonl.') && name.endsWith('.tmp'));
      while (!(await tempFile())) await new Promise((resolve) => setTimeout(resolve, 20));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      assert.equal(existsSync(out), false);
      assert.equal(existsSync(path.join(dir, 'q.jsonl')), false);
      assert.equal(await tempFile(), true);
      const rerun = await runCli(['sft', '--evidence', evidence, '--out', out, '--quarantine', path.join(dir, 'q.jsonl')], { stdin: `${JSON.stringify(scored[0])}\n` });
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.equal(await tempFile(), false);
      assert.equal(existsSync(out), true);
    } finally {
      await removeDir(dir);
    }
  });
});

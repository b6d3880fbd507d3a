import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DistillError } from '../src/errors.js';
import { appendBaseline, baselineMetrics, baselineTable, readLastBaseline } from '../src/report/baselines.js';
import type { BaselineEntry, RunSummary } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';
import { removeDir, tempDir } from './helpers.js';

const summary: RunSummary = {
  schema_version: 1,
  run_id: 'run-1',
  recorded_at: '2026-05-01T00:00:00.000Z',
  started_at: '2026-05-01T10:00:00.000Z',
  finished_at: '2026-05-01T10:00:05.000Z',
  stages: [
    { stage: 'collect', passed: true, skipped: false, in: 10, out: 9, quarantined: 1 },
    { stage: 'score', passed: true, skipped: false, in: 9, out: 9, quarantined: 0 },
    { stage: 'export-rag', passed: true, skipped: false, in: 9, out: 6, quarantined: 3 },
    { stage: 'export-sft', passed: true, skipped: false, in: 9, out: 4, quarantined: 5 },
    { stage: 'export-preference', passed: true, skipped: false, in: 9, out: 2, quarantined: 0 },
  ],
  total_records_in: 46,
  total_records_out: 30,
  datasets: { sft: 4, rag: 6, preference: 2 },
  total_quarantined: 9,
  overall_passed: true,
  run_hash: 'a'.repeat(64),
};

const isIoError = (file: string) => (error: unknown): boolean => error instanceof DistillError && error.code === 'DS_IO' && error.path === file;

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await body(dir);
  } finally {
    await removeDir(dir);
  }
}

test('baselineMetrics: the summary counts by name, keys in string order', () => {
  const metrics = baselineMetrics(summary);
  assert.deepEqual(Object.keys(metrics), [
    'collect.in', 'collect.out', 'collect.quarantined',
    'dataset.preference', 'dataset.rag', 'dataset.sft',
    'export-preference.in', 'export-preference.out', 'export-preference.quarantined',
    'export-rag.in', 'export-rag.out', 'export-rag.quarantined',
    'export-sft.in', 'export-sft.out', 'export-sft.quarantined',
    'score.in', 'score.out', 'score.quarantined',
    'total.in', 'total.out', 'total.quarantined',
  ]);
  assert.equal(metrics['export-sft.quarantined'], 5);
  assert.equal(metrics['dataset.rag'], 6);
  assert.equal(metrics['total.in'], 46);
  assert.equal(metrics['total.quarantined'], 9);
});

test('first run: a missing file reads as no baseline, and append creates file and folder', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'data', '_kb', 'audit_baselines.jsonl');
    assert.equal(await readLastBaseline(file), undefined);
    const entry: BaselineEntry = { run_id: 'run-1', recorded_at: summary.recorded_at, metrics: baselineMetrics(summary) };
    await appendBaseline(file, entry);
    await appendBaseline(file, { ...entry, run_id: 'run-2' });
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.ok(lines[0]!.startsWith('{"run_id":"run-1","recorded_at":"2026-05-01T00:00:00.000Z","metrics":{"collect.in":10,'));
    assert.deepEqual(await readLastBaseline(file), { ...entry, run_id: 'run-2' });
  });
});

test('an empty file or only blank lines is a first run; trailing blank lines are stepped over', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'audit_baselines.jsonl');
    await writeFile(file, '');
    assert.equal(await readLastBaseline(file), undefined);
    await writeFile(file, '\n \r\n\t\n');
    assert.equal(await readLastBaseline(file), undefined);
    await writeFile(file, '{"run_id":"a","recorded_at":"2026-05-01T00:00:00Z","metrics":{"x":1}}\r\n\n  \n');
    assert.deepEqual(await readLastBaseline(file), { run_id: 'a', recorded_at: '2026-05-01T00:00:00Z', metrics: { x: 1 } });
  });
});

test('a truncated last line is an error naming the file, not silence', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'audit_baselines.jsonl');
    const good = '{"run_id":"a","recorded_at":"2026-05-01T00:00:00Z","metrics":{"x":1}}\n';
    await writeFile(file, `${good}{"run_id":"b","recorded_at":"2026-05-0`);
    await assert.rejects(readLastBaseline(file), isIoError(file));
    await writeFile(file, `${good}${good.slice(0, 30)}\n`); // terminated but cut short: not JSON
    await assert.rejects(readLastBaseline(file), isIoError(file));
    await writeFile(file, `${good}{"run_id":"b"}\n`); // JSON but not an entry
    await assert.rejects(readLastBaseline(file), isIoError(file));
    await writeFile(file, `${good}${good.trimEnd()}`); // complete JSON, but the "\n" never came
    await assert.rejects(readLastBaseline(file), isIoError(file));
  });
});

test('a file of 100k lines is read from the end: the last entry comes back', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'audit_baselines.jsonl');
    const line = (i: number): string => `${JSON.stringify({ run_id: `run-${i}`, recorded_at: '2026-05-01T00:00:00Z', metrics: { 'total.in': i, 'total.out': i * 2 } })}\n`;
    await writeFile(file, Array.from({ length: 100_000 }, (_, i) => line(i)).join(''));
    assert.deepEqual(await readLastBaseline(file), { run_id: 'run-99999', recorded_at: '2026-05-01T00:00:00Z', metrics: { 'total.in': 99_999, 'total.out': 199_998 } });
  });
});

test('only the tail is read: a 3 GiB sparse file (too big for readFile) answers at once', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'audit_baselines.jsonl');
    const handle = await open(file, 'w');
    const last = '{"run_id":"tail","recorded_at":"2026-05-01T00:00:00Z","metrics":{}}\n';
    await handle.write(`\n${last}`, 3 * 1024 ** 3); // a hole of zeros, then the entry
    await handle.close();
    assert.deepEqual(await readLastBaseline(file), { run_id: 'tail', recorded_at: '2026-05-01T00:00:00Z', metrics: {} });
  });
});

test('baselineTable: first_run, ok and warn rows, pct as +30.0%, prior 0 shown as -', () => {
  const prior = { 'collect.in': 100, 'dataset.preference': 0, 'dataset.rag': 0, 'export-sft.out': 10, 'score.out': 50, 'total.in': 4000 };
  const current = { 'total.in': 3999, 'collect.in': 130, 'dataset.preference': 0, 'dataset.rag': 3, 'export-sft.out': 9, 'score.out': 50, 'score.quarantined': 7 };
  assert.equal(
    baselineTable(prior, current, 0.2),
    [
      'metric              prior  current  pct_change  flag',
      'collect.in            100      130      +30.0%  warn',
      'dataset.preference      0        0           -  ok',
      'dataset.rag             0        3           -  warn',
      'export-sft.out         10        9      -10.0%  ok',
      'score.out              50       50        0.0%  ok',
      'score.quarantined       -        7           -  first_run',
      'total.in             4000     3999       -0.0%  ok',
      '',
    ].join('\n'),
  );
  // A first run: every row first_run.
  assert.equal(baselineTable(undefined, { 'total.in': 5 }, 0.2), 'metric    prior  current  pct_change  flag\ntotal.in      -        5           -  first_run\n');
  // 20% exactly is not past the threshold; 20.1% is.
  assert.match(baselineTable({ a: 1000 }, { a: 1200 }, 0.2), /\+20\.0%  ok\n$/);
  assert.match(baselineTable({ a: 1000 }, { a: 799 }, 0.2), /-20\.1%  warn\n$/);
});

test('baseline entry schema: valid entries pass, a missing or extra field is rejected', () => {
  const { baselineEntry } = validators();
  const entry = { run_id: 'run-1', recorded_at: '2026-05-01T00:00:00Z', metrics: baselineMetrics(summary) };
  assert.ok(baselineEntry(entry));
  assert.equal(baselineEntry({ run_id: 'run-1', metrics: {} }), false);
  assert.equal(baselineEntry({ ...entry, extra: 1 }), false);
  assert.equal(baselineEntry({ ...entry, metrics: { x: 'one' } }), false);
  assert.equal(baselineEntry({ ...entry, recorded_at: 'yesterday' }), false);
});

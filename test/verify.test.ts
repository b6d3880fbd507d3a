import assert from 'node:assert/strict';
import { appendFile, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkHealth } from '../pipelines/inspect.js';
import { runAll } from '../pipelines/run-all.js';
import { listRuns, mismatchLine, type RunListing } from '../pipelines/runs.js';
import { LISTED_ROW_PROBLEMS, verifyDataset, verifyRun, type VerifyResult } from '../pipelines/verify.js';
import { QUARANTINE_REASONS } from '../src/records.js';
import type { Mismatch, StageReceipt } from '../src/receipts.js';
import { fixtureCopy, processLog, removeDir, runCli, tempDir } from './helpers.js';

const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const REPORTS = 'reports/distillation';
const SFT = 'exports/sft/instruction_response.jsonl';
const RAG = 'exports/rag/playbooks.jsonl';
const PREFERENCE = 'exports/preference/chosen_rejected.jsonl';
const QUARANTINES = ['collect', 'score', 'sft', 'rag', 'preference'].map((stage) => `exports/quarantine/${stage}.jsonl`);
const SCORED = 'data/scored-runs/2026/05/01/audits.jsonl';
const EVIDENCE = 'data/evidence/2026/05/01/scrum_reviews.jsonl';

const runOn = (root: string, runId: string): Promise<unknown> =>
  runAll({ root, runId, recordedAt: RECORDED_AT, toolVersion: '0.1.0', maxLineBytes: 65536, flags: {}, continueOnFailure: false, driftThreshold: undefined });

/** One finished run of the fixture, copied afresh for each test that changes something. */
let finished = '';
const copies: string[] = [];

async function copyOfRun(): Promise<string> {
  const root = await tempDir('distill-verify-');
  copies.push(root);
  await cp(finished, root, { recursive: true });
  return root;
}

before(async () => {
  finished = await fixtureCopy();
  await runOn(finished, 'r1');
});

after(async () => {
  await removeDir(finished);
  for (const root of copies) await removeDir(root);
});

const lines = (result: VerifyResult): string => result.mismatches.map(mismatchLine).join('\n');
const named = (result: VerifyResult, file: string, check: string): Mismatch | undefined => result.mismatches.find((m) => m.file === file && m.check === check);
const receiptOf = async (root: string, stage: string): Promise<StageReceipt> => JSON.parse(await readFile(path.join(root, REPORTS, 'r1', `${stage}.json`), 'utf8')) as StageReceipt;

/** Rewrites a root-relative file line by line. */
async function editLines(root: string, file: string, edit: (lines: string[]) => string[]): Promise<void> {
  const absolute = path.join(root, file);
  const text = await readFile(absolute, 'utf8');
  await writeFile(absolute, `${edit(text.trimEnd().split('\n')).join('\n')}\n`);
}

/** Changes one byte in the middle of a file to another printable byte; an empty file (score's quarantine) gets one. */
async function flipOneByte(root: string, file: string): Promise<void> {
  const absolute = path.join(root, file);
  const bytes = await readFile(absolute);
  if (bytes.length === 0) return writeFile(absolute, 'x');
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at] === 0x78 ? 0x79 : 0x78;
  await writeFile(absolute, bytes);
}

describe('verify a run', () => {
  test('an untouched run verifies: every file, hash and count holds', async () => {
    const result = await verifyRun({ root: finished, latest: true });
    assert.equal(result.passed, true, lines(result));
    assert.equal(result.run_id, 'r1');
    assert.equal(result.state, 'passed');
    assert.equal(result.receipts, 5);
    assert.ok(result.files > 30, String(result.files));
    assert.deepEqual(result.mismatches, []);
    assert.deepEqual(result.not_checked, []);
  });

  test('a copy of the root moved to another folder verifies: receipts name files relative to the root', async () => {
    const original = await copyOfRun();
    const moved = path.join(await tempDir('distill-moved-'), 'elsewhere');
    copies.push(path.dirname(moved));
    await cp(original, moved, { recursive: true });
    await rm(original, { recursive: true });
    const result = await verifyRun({ cwd: moved, root: '.', runId: 'r1' });
    assert.equal(result.passed, true, lines(result));
  });

  test('one byte changed in each kind of output is found and named', async () => {
    const root = await copyOfRun();
    const tampered = [SFT, RAG, PREFERENCE, ...QUARANTINES, SCORED, EVIDENCE];
    for (const file of tampered) await flipOneByte(root, file);
    const result = await verifyRun({ root, runId: 'r1' });
    assert.equal(result.passed, false);
    for (const file of tampered) assert.ok(named(result, file, 'content'), `${file} is named:\n${lines(result)}`);
    const receipts = new Set(['collect', 'score', 'export-rag', 'export-sft', 'export-preference'].map((stage) => `${REPORTS}/r1/${stage}.json`));
    for (const m of result.mismatches) assert.ok(tampered.includes(m.file) || receipts.has(m.file), `only tampered files and their receipts: ${mismatchLine(m)}`);
    // Each receipt's output_hash no longer recomputes from the files; the evidence and scored files are inputs too.
    for (const stage of ['collect', 'score', 'export-rag', 'export-sft', 'export-preference']) assert.ok(named(result, `${REPORTS}/r1/${stage}.json`, 'output_hash'), stage);
    for (const stage of ['score', 'export-rag', 'export-sft', 'export-preference']) assert.ok(named(result, `${REPORTS}/r1/${stage}.json`, 'input_hash'), stage);
    const content = named(result, SFT, 'content')!;
    const receipt = (await receiptOf(root, 'export-sft')).outputs.find((o) => o.path === SFT)!;
    assert.equal(content.expected, `${receipt.bytes} bytes, sha256 ${receipt.sha256}`);
    assert.match(content.found, new RegExp(`^${receipt.bytes} bytes, sha256 (?!${receipt.sha256})[0-9a-f]{64}$`));
  });

  test('a forbidden category, a rejected playbook, a self-pair and equal texts are named by file and line', async () => {
    const root = await copyOfRun();
    // Same lengths: only the promises break, not the byte counts.
    await editLines(root, SFT, (rows) => rows.map((row, i) => (i === 2 ? row.replace('"quality_score":"accepted"', '"quality_score":"rejected"') : row)));
    await editLines(root, RAG, (rows) => rows.map((row, i) => (i === 0 ? row.replace('"success_score":"accepted"', '"success_score":"rejected"') : row)));
    await editLines(root, PREFERENCE, (rows) =>
      rows.map((row, i) => {
        const pair = JSON.parse(row) as Record<string, unknown>;
        if (i === 0) pair['rejected_run_id'] = pair['chosen_run_id'];
        if (i === 1) pair['rejected'] = pair['chosen'];
        return JSON.stringify(pair);
      }),
    );
    const result = await verifyRun({ root, runId: 'r1' });
    const at = (file: string, line: number, check: string): Mismatch | undefined => result.mismatches.find((m) => m.file === file && m.line === line && m.check === check);
    assert.deepEqual(at(SFT, 3, 'firewall'), { file: SFT, line: 3, check: 'firewall', expected: 'quality_score accepted or partially_accepted', found: 'rejected' });
    assert.ok(at(SFT, 3, 'schema'), lines(result));
    assert.ok(at(RAG, 1, 'firewall'), lines(result));
    assert.equal(at(PREFERENCE, 1, 'self-pair')?.expected, 'chosen and rejected from two runs');
    assert.equal(at(PREFERENCE, 2, 'equal texts')?.found, 'the same text');
    const sftReceipt = `${REPORTS}/r1/export-sft.json`;
    assert.equal(named(result, sftReceipt, 'record_counts.by_category.rejected')?.found, `1 in ${SFT}`);
    assert.equal(named(result, sftReceipt, 'record_counts.by_category.accepted')?.expected, '11');
    assert.ok(result.mismatches.some((m) => m.file === sftReceipt && m.check === 'invariant' && m.found === 'SFT output holds quality_score rejected'), lines(result));
  });

  test('a deleted file is a mismatch naming it, not an I/O error', async () => {
    const root = await copyOfRun();
    await rm(path.join(root, RAG));
    const result = await verifyRun({ root, runId: 'r1' });
    assert.equal(named(result, RAG, 'content')?.found, 'no such file', lines(result));
  });

  test('a file changed into bytes that look like gzip but do not decompress is a mismatch, not an I/O error', async () => {
    const root = await copyOfRun();
    await writeFile(path.join(root, PREFERENCE), Buffer.from([0x1f, 0x8b, 0x78, 0x78]));
    const result = await verifyRun({ root, runId: 'r1' });
    assert.equal(named(result, PREFERENCE, 'content')?.found, 'bytes that start like gzip but do not decompress', lines(result));
  });

  test('a row added to a dataset is named: its bytes, its count, and the counts that no longer add up', async () => {
    const root = await copyOfRun();
    const last = (await readFile(path.join(root, SFT), 'utf8')).trimEnd().split('\n').at(-1)!;
    await appendFile(path.join(root, SFT), `${last}\n`);
    const result = await verifyRun({ root, runId: 'r1' });
    const receipt = `${REPORTS}/r1/export-sft.json`;
    assert.ok(named(result, SFT, 'content'), lines(result));
    assert.deepEqual(named(result, receipt, 'record_counts.out'), { file: receipt, line: null, check: 'record_counts.out', expected: '11', found: `12 rows in ${SFT}` });
    assert.ok(named(result, receipt, 'invariant')?.found.startsWith('counts do not add up'), lines(result));
  });

  test('two files swapped are both named, and their rows name the other stage', async () => {
    const root = await copyOfRun();
    const [sft, rag] = [path.join(root, 'exports/quarantine/sft.jsonl'), path.join(root, 'exports/quarantine/rag.jsonl')];
    await rename(sft, `${sft}.swap`);
    await rename(rag, sft);
    await rename(`${sft}.swap`, rag);
    const result = await verifyRun({ root, runId: 'r1' });
    assert.ok(named(result, 'exports/quarantine/sft.jsonl', 'content'), lines(result));
    assert.ok(named(result, 'exports/quarantine/rag.jsonl', 'content'), lines(result));
    const stage = result.mismatches.find((m) => m.file === 'exports/quarantine/sft.jsonl' && m.check === 'stage');
    assert.deepEqual(stage, { file: 'exports/quarantine/sft.jsonl', line: 1, check: 'stage', expected: 'sft', found: '"rag"' });
  });

  test('a receipt whose counts were edited is named, and so is the summary that no longer agrees', async () => {
    const root = await copyOfRun();
    const file = path.join(root, REPORTS, 'r1', 'export-sft.json');
    const receipt = JSON.parse(await readFile(file, 'utf8')) as StageReceipt;
    receipt.record_counts.out = 12;
    receipt.record_counts.by_reason = { ...receipt.record_counts.by_reason, not_instructable: 3 };
    await writeFile(file, JSON.stringify(receipt, null, 2));
    const result = await verifyRun({ root, runId: 'r1' });
    const name = `${REPORTS}/r1/export-sft.json`;
    assert.equal(named(result, name, 'record_counts.out')?.found, `11 rows in ${SFT}`);
    assert.deepEqual(named(result, name, 'record_counts.by_reason.not_instructable'), { file: name, line: null, check: 'record_counts.by_reason.not_instructable', expected: '3', found: '2 in exports/quarantine/sft.jsonl' });
    assert.equal(named(result, `${REPORTS}/r1/summary.json`, 'export-sft.out')?.found, '12 (export-sft.json)');
    assert.equal(result.state, 'inconsistent');
  });

  test('a file put into a rebuilt tree after the run is named', async () => {
    const root = await copyOfRun();
    const extra = 'data/scored-runs/2026/05/03/extra.jsonl';
    await mkdir(path.dirname(path.join(root, extra)), { recursive: true });
    await writeFile(path.join(root, extra), '{}\n');
    const result = await verifyRun({ root, runId: 'r1' });
    assert.equal(named(result, extra, 'listed')?.found, 'a file it does not list (3 bytes)', lines(result));
  });

  test('a file of garbage lists the first row problems and counts the rest', async () => {
    const root = await copyOfRun();
    await writeFile(path.join(root, RAG), 'not json\n'.repeat(LISTED_ROW_PROBLEMS + 7));
    const result = await verifyRun({ root, runId: 'r1' });
    const rows = result.mismatches.filter((m) => m.file === RAG && m.line !== null);
    assert.equal(rows.length, LISTED_ROW_PROBLEMS);
    assert.deepEqual(rows[0], { file: RAG, line: 1, check: 'schema', expected: 'one JSON row', found: 'a line that is not JSON' });
    assert.equal(named(result, RAG, 'rows')?.found, `7 more problems than the ${LISTED_ROW_PROBLEMS} listed`);
  });

  test('a receipt path that leaves the root is refused, never read', async () => {
    const root = await copyOfRun();
    const file = path.join(root, REPORTS, 'r1', 'export-rag.json');
    const receipt = JSON.parse(await readFile(file, 'utf8')) as StageReceipt;
    receipt.inputs[0]!.path = '../../etc/passwd';
    await writeFile(file, JSON.stringify(receipt));
    const result = await verifyRun({ root, runId: 'r1' });
    assert.equal(named(result, '../../etc/passwd', 'path')?.expected, 'a path inside the root');
  });

  test('a receipt with a field a later version adds (a merged run\'s) still verifies; an unknown stage is reported', async () => {
    const root = await copyOfRun();
    const file = path.join(root, REPORTS, 'r1', 'export-rag.json');
    const receipt = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify({ ...receipt, shards: [{ shard: 0 }, { shard: 1 }] }, null, 2));
    assert.equal((await verifyRun({ root, runId: 'r1' })).passed, true);
    await writeFile(file, JSON.stringify({ ...receipt, stage: 'export-later' }, null, 2));
    const result = await verifyRun({ root, runId: 'r1' });
    const stage = result.mismatches.filter((m) => m.file === `${REPORTS}/r1/export-rag.json` && m.check === 'stage').map((m) => [m.expected, m.found]);
    assert.deepEqual(stage, [
      ['export-rag', 'export-later'],
      ['a stage this version knows (collect, score, export-rag, export-sft, export-preference)', 'export-later: its files are hashed, their rows not checked'],
    ]);
  });
});

describe('verify a dataset shipped alone', () => {
  const shipped = async (files: Record<string, string>): Promise<string> => {
    const dir = await tempDir('distill-shipped-');
    copies.push(dir);
    for (const [name, from] of Object.entries(files)) await cp(path.join(finished, from), path.join(dir, name));
    return dir;
  };

  test('the dataset with its receipt verifies; what needs the files not shipped is listed as not checked', async () => {
    const dir = await shipped({ 'instruction_response.jsonl': SFT, 'export-sft.json': `${REPORTS}/r1/export-sft.json` });
    const result = await verifyDataset({ cwd: dir, dataset: 'instruction_response.jsonl', receipt: 'export-sft.json' });
    assert.equal(result.passed, true, lines(result));
    assert.equal(result.mode, 'dataset');
    assert.equal(result.rows, 11);
    assert.deepEqual(result.not_checked, [
      'export-sft.json: record_counts.in: 13 of its files were not given',
      'export-sft.json: record_counts.quarantined, by_reason: exports/quarantine/sft.jsonl was not given',
    ]);
  });

  test('renamed, it is matched by its bytes; with its quarantine, by_reason is checked too', async () => {
    const dir = await shipped({ 'train.jsonl': SFT, 'rejected-rows.jsonl': 'exports/quarantine/sft.jsonl', 'receipt.json': `${REPORTS}/r1/export-sft.json` });
    const result = await verifyDataset({ cwd: dir, dataset: 'train.jsonl', receipt: 'receipt.json', quarantine: 'rejected-rows.jsonl' });
    assert.equal(result.passed, true, lines(result));
    assert.deepEqual(result.not_checked, ['receipt.json: record_counts.in: 13 of its files were not given']);
  });

  test('a tampered dataset is named with its own name; a file that is no output of the receipt is refused', async () => {
    const dir = await shipped({ 'playbooks.jsonl': RAG, 'export-rag.json': `${REPORTS}/r1/export-rag.json`, 'other.jsonl': SCORED });
    await appendFile(path.join(dir, 'playbooks.jsonl'), (await readFile(path.join(dir, 'playbooks.jsonl'), 'utf8')).split('\n')[0] + '\n');
    const result = await verifyDataset({ cwd: dir, dataset: 'playbooks.jsonl', receipt: 'export-rag.json' });
    assert.equal(result.passed, false);
    assert.ok(named(result, 'playbooks.jsonl', 'content'), lines(result));
    assert.equal(named(result, 'export-rag.json', 'record_counts.out')?.found, '20 rows in playbooks.jsonl');
    const stranger = await verifyDataset({ cwd: dir, dataset: 'other.jsonl', receipt: 'export-rag.json' });
    assert.equal(named(stranger, 'other.jsonl', 'output')?.found, 'no output of this name or these bytes');
  });
});

describe('runs', () => {
  let root = '';
  before(async () => {
    root = await copyOfRun();
    await runOn(root, 'r2');
  });

  test('newest first; a run killed before its summary is incomplete, never passed', async () => {
    // r3 was killed after score: its first two receipts, no summary.
    const r3 = path.join(root, REPORTS, 'r3');
    await mkdir(r3);
    for (const stage of ['collect', 'score']) {
      const receipt = JSON.parse(await readFile(path.join(root, REPORTS, 'r2', `${stage}.json`), 'utf8')) as StageReceipt;
      const now = new Date().toISOString();
      await writeFile(path.join(r3, `${stage}.json`), JSON.stringify({ ...receipt, run_id: 'r3', started_at: now, finished_at: now }, null, 2));
    }
    const runs = await listRuns({ root });
    assert.deepEqual(runs.map((run) => [run.run_id, run.state, run.passed]), [['r3', 'incomplete', false], ['r2', 'passed', true], ['r1', 'passed', true]]);
    const [killed, r2] = runs as [RunListing, RunListing];
    assert.equal(killed.finished_at, null);
    assert.deepEqual(killed.datasets, { sft: null, rag: null, preference: null });
    assert.match(killed.problems[0]!, /r3\/summary\.json: summary: expected .*, found no such file/);
    assert.deepEqual(r2.datasets, { sft: 11, rag: 19, preference: 12 });
    assert.equal(r2.drift, 'ok');
    const verified = await verifyRun({ root, runId: 'r3' });
    assert.equal(verified.passed, false);
    assert.equal(verified.state, 'incomplete');
    const health = await checkHealth(root);
    assert.deepEqual(health.find((c) => c.check === 'unfinished run'), { check: 'unfinished run', status: 'warn', detail: 'r3 is newer and has no summary.json (killed, or still running)' });
    await rm(r3, { recursive: true });
  });

  test('a killed rerun under the same id leaves receipts of two runs: inconsistent, and read and health never call it passed', async () => {
    const receipt = await receiptOf(root, 'collect');
    const later = new Date(Date.now() + 60_000).toISOString();
    await writeFile(path.join(root, REPORTS, 'r2', 'collect.json'), JSON.stringify({ ...receipt, run_id: 'r2', started_at: later, finished_at: later }, null, 2));
    const [newest] = await listRuns({ root });
    assert.equal(newest?.run_id, 'r2');
    assert.equal(newest?.state, 'inconsistent');
    assert.equal(newest?.passed, false);
    assert.ok(newest?.problems.some((p) => p.includes('collect.json: started_at:')), newest?.problems.join('\n'));
    const health = await checkHealth(root);
    const last = health.find((c) => c.check === 'last run')!;
    assert.equal(last.status, 'fail');
    assert.match(last.detail, /^r2 inconsistent \(its summary says passed at .*\): reports\/distillation\/r2\/collect\.json: started_at:/);
    const read = await runCli(['read', '--root', root, '--latest']);
    assert.equal(read.code, 1);
    assert.match(read.stderr, /run r2 is inconsistent, whatever its summary says/);
  });

  test('a summary whose receipts are missing is incomplete', async () => {
    const copy = await copyOfRun();
    await rm(path.join(copy, REPORTS, 'r1', 'export-sft.json'));
    const [run] = await listRuns({ root: copy });
    assert.equal(run?.state, 'incomplete');
    assert.match(run?.problems[0] ?? '', /export-sft\.json: receipt: expected the receipt of export-sft \(the summary says it ran\), found no such file/);
  });
});

describe('health', () => {
  test('a healthy root: the exports match the latest run', async () => {
    const checks = await checkHealth(finished);
    assert.deepEqual(checks.at(-1), { check: 'exports', status: 'ok', detail: 'match the latest run r1 (34 files)' });
    assert.ok(checks.every((c) => c.status === 'ok'), JSON.stringify(checks));
  });

  test('after a plain sft rewrote the quarantine, health warns naming it and says to verify or run-all', async () => {
    const root = await copyOfRun();
    const scored = await readFile(path.join(root, SCORED));
    const result = await runCli(['sft', '--evidence', 'data/evidence'], { cwd: root, stdin: scored });
    assert.equal(result.code, 0, result.stderr);
    const checks = await checkHealth(root);
    const exportsCheck = checks.find((c) => c.check === 'exports')!;
    assert.equal(exportsCheck.status, 'warn');
    assert.match(exportsCheck.detail, /^exports\/quarantine\/sft\.jsonl has \d+ bytes, run r1's export-sft\.json says \d+; run distill-stream verify --root .* --latest, or run-all again$/);
  });
});

describe('the command line', () => {
  test('verify --root DIR --latest exits 0 with a verdict line; a mismatch exits 1 with one line each', async () => {
    const good = await runCli(['verify', '--root', finished, '--latest']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^verify: run r1 holds: 5 receipts, \d+ files, \d+ rows\n$/);
    const root = await copyOfRun();
    await rm(path.join(root, PREFERENCE));
    const bad = await runCli(['verify', '--root', root, '--run-id', 'r1']);
    assert.equal(bad.code, 1);
    const out = bad.stdout.trimEnd().split('\n');
    assert.match(out[0]!, new RegExp(`^${PREFERENCE}: content: expected \\d+ bytes, sha256 [0-9a-f]{64}, found no such file$`));
    assert.match(out.at(-1)!, /^verify: run r1 does not hold: 1 mismatch \(/);
    const json = await runCli(['verify', '--root', root, '--latest', '--json']);
    const parsed = JSON.parse(json.stdout) as VerifyResult;
    assert.equal(json.code, 1);
    assert.equal(parsed.passed, false);
    assert.deepEqual(parsed.mismatches.map((m) => [m.file, m.check]), [[PREFERENCE, 'content']]);
  });

  test('a summary.json whose run_hash was edited exits 1 naming it; so does a receipt whose output_hash was', async () => {
    const root = await copyOfRun();
    const summaryFile = path.join(root, REPORTS, 'r1', 'summary.json');
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as { run_hash: string };
    const runHash = summary.run_hash;
    await writeFile(summaryFile, JSON.stringify({ ...summary, run_hash: '0'.repeat(64) }, null, 2));
    const bad = await runCli(['verify', '--root', root, '--latest']);
    assert.equal(bad.code, 1, bad.stderr);
    const out = bad.stdout.trimEnd().split('\n');
    assert.deepEqual(out.slice(0, -1), [`${REPORTS}/r1/summary.json: run_hash: expected ${'0'.repeat(64)}, found ${runHash} (from the receipts' output_hash)`]);
    assert.match(out.at(-1)!, /^verify: run r1 does not hold: 1 mismatch \(/);

    await writeFile(summaryFile, JSON.stringify(summary, null, 2));
    const receiptFile = path.join(root, REPORTS, 'r1', 'export-rag.json');
    const receipt = JSON.parse(await readFile(receiptFile, 'utf8')) as StageReceipt;
    await writeFile(receiptFile, JSON.stringify({ ...receipt, output_hash: 'f'.repeat(64) }, null, 2));
    const result = await verifyRun({ root, latest: true });
    assert.equal(result.passed, false);
    assert.deepEqual(named(result, `${REPORTS}/r1/export-rag.json`, 'output_hash'), { file: `${REPORTS}/r1/export-rag.json`, line: null, check: 'output_hash', expected: 'f'.repeat(64), found: receipt.output_hash });
    assert.ok(named(result, `${REPORTS}/r1/summary.json`, 'run_hash'), 'the run_hash no longer follows from the receipts either');
  });

  test('a run-all --jobs 2 whose stages ran as shards verifies with --latest, and not after one byte changed', async () => {
    const root = await copyOfRun();
    // Every process of the run (the shard children too) is logged, so the test sees that it sharded.
    const processes = await processLog(root);
    // Shards of at least 4 KiB, so the fixture's inputs make two.
    const env = { ...processes.env, DISTILL_STREAM_MIN_SHARD_BYTES: '4096' };
    const run = await runCli(['run-all', '--root', root, '--jobs', '2', '--run-id', 'sharded', '--recorded-at', RECORDED_AT, '--max-line-bytes', '65536'], { env });
    assert.equal(run.code, 0, run.stderr);
    const shards = (await processes.entries()).started.map(({ argv }) => argv).filter((argv) => argv[0] === 'shard');
    // Shard 0 runs in the run's own process, the others as children.
    assert.ok(shards.some((argv) => argv.at(-1) === '1') && !shards.some((argv) => argv.at(-1) === '0'), JSON.stringify(shards));
    await processes.remove();
    const good = await runCli(['verify', '--root', root, '--latest']);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /^verify: run sharded holds: 5 receipts, \d+ files, \d+ rows\n$/);
    await flipOneByte(root, SFT);
    const bad = await runCli(['verify', '--root', root, '--latest']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`^${SFT}: content: expected \\d+ bytes, sha256 [0-9a-f]{64}, found \\d+ bytes, sha256 [0-9a-f]{64}$`, 'm'));
  });

  test('runs --root DIR --json is a JSON array, newest first, each with run_id and passed', async () => {
    const result = await runCli(['runs', '--root', finished, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const runs = JSON.parse(result.stdout) as Array<{ run_id: string; passed: boolean }>;
    assert.ok(Array.isArray(runs));
    assert.deepEqual(runs.map((run) => [run.run_id, run.passed]), [['r1', true]]);
    const table = await runCli(['runs', '--root', finished]);
    assert.match(table.stdout, /^run_id +state +recorded_at +finished_at +sft +rag +preference +drift\nr1 +passed +2026-05-01T00:00:00\.000Z +\S+ +11 +19 +12 +ok\n$/);
  });

  test('a receipt that cannot be read exits 3 naming it; a wrong command line exits 2', async () => {
    const root = await copyOfRun();
    await writeFile(path.join(root, REPORTS, 'r1', 'score.json'), '{"truncated":');
    const broken = await runCli(['verify', '--root', root, '--latest']);
    assert.equal(broken.code, 3);
    assert.match(broken.stderr, /reports\/distillation\/r1\/score\.json: /);
    for (const args of [['verify', '--root', root], ['verify', '--root', root, '--latest', '--run-id', 'r1'], ['verify', '--dataset', 'x.jsonl'], ['verify', '--root', root, '--run-id', '../x']]) {
      assert.equal((await runCli(args)).code, 2, args.join(' '));
    }
    assert.equal((await runCli(['verify', '--root', root, '--run-id', 'nope'])).code, 3);
  });
});

test('the QuarantineRecord schema admits exactly the quarantine reasons', async () => {
  const schema = JSON.parse(await readFile(new URL('../src/schemas/quarantine-record.schema.json', import.meta.url), 'utf8')) as { properties: { reason: { enum: string[] } } };
  assert.deepEqual(schema.properties.reason.enum, [...QUARANTINE_REASONS]);
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateArchive } from '../data-fixtures/generate.js';
import { mulberry32 } from '../data-fixtures/prng.js';
import { allEntries, CLI, leftovers, processLog, runCli, snapshot, tempDir, type CliResult } from './helpers.js';

/**
 * Kills, races and a full disk on a generated archive: whatever happens, a rerun gives the same
 * bytes, the exit codes are the documented ones and nothing is left behind. Seeded, so a failure
 * repeats.
 */
const AT = ['--recorded-at', '2026-06-01T00:00:00.000Z'];
const random = mulberry32(15);
let base: string;
let reference: Map<string, string>;
let spills: string;

/** The datasets, quarantines and trees of a root: what must come out the same whatever happened before. */
async function outputsOf(root: string): Promise<Map<string, string>> {
  const all = new Map<string, string>();
  for (const folder of ['exports', 'data/evidence', 'data/scored-runs']) for (const [file, text] of await snapshot(path.join(root, folder))) all.set(`${folder}/${file}`, text);
  return all;
}

async function copyOfBase(): Promise<string> {
  const root = await tempDir('distill-chaos-');
  await cp(base, root, { recursive: true });
  return root;
}

/** Whether process `pid` still runs: a zombie (exited, its reaper not yet there — a container's init may never come) does not. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Runs the CLI and sends `signal` after `delayMs` (if it still runs). */
function runAndSignal(args: string[], cwd: string, signal: NodeJS.Signals, delayMs: number): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, TMPDIR: spills, DISTILL_STREAM_SORT_RUN_ENTRIES: '50' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill(signal), delayMs);
    child.on('close', (code, got) => {
      clearTimeout(timer);
      resolve({ code, signal: got, stdout: '', stderr });
    });
  });
}

async function assertClean(root: string): Promise<void> {
  assert.deepEqual(leftovers(await allEntries(root)), []);
  assert.deepEqual(await readdir(spills), []);
}

before(async () => {
  base = await tempDir('distill-chaos-base-');
  spills = await tempDir('distill-chaos-tmp-');
  await generateArchive({ out: base, records: 300, kbOnly: true });
  const root = await copyOfBase();
  assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'ref', ...AT], { cwd: root })).code, 0);
  reference = await outputsOf(root);
  await rm(root, { recursive: true, force: true });
});

after(async () => {
  await rm(base, { recursive: true, force: true });
  await rm(spills, { recursive: true, force: true });
});

describe('chaos', () => {
  test('random SIGKILL, SIGINT and SIGTERM during run-all and sft: the rerun is byte-identical, nothing is left', async () => {
    const root = await copyOfBase();
    assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'k', ...AT], { cwd: root })).code, 0);
    const signals: NodeJS.Signals[] = ['SIGKILL', 'SIGINT', 'SIGTERM'];
    for (let round = 0; round < 4; round++) {
      const signal = signals[round % 3]!;
      const args = round % 2 === 0 ? ['run-all', '--root', '.', '--run-id', `k${round}`, ...AT] : ['sft', '--root', '.', ...AT];
      const killed = await runAndSignal(args, root, signal, 300 + Math.floor(random() * 1500));
      // A signal in time ends the run as 128 + its number (by the signal itself before the handlers are set, and for SIGKILL); one too late finds it done.
      assert.ok(killed.signal === signal || [0, signal === 'SIGINT' ? 130 : 143].includes(killed.code!), `${signal}: ${killed.code} ${killed.stderr}`);
      if (signal !== 'SIGKILL') assert.deepEqual(await readdir(spills), []);
    }
    assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'after', ...AT], { cwd: root })).code, 0);
    assert.deepEqual(await outputsOf(root), reference);
    await assertClean(root);
    await rm(root, { recursive: true, force: true });
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} to a --jobs run alone (kill PID): its shard child stops too, no work folder outlives the next run, the rerun is byte-identical`, async () => {
      const root = await copyOfBase();
      assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'j', ...AT], { cwd: root })).code, 0);
      // Every process of the run is logged: the test finds the shard child's pid, and how it ended.
      const processes = await processLog(root);
      const env = { ...processes.env, TMPDIR: spills, DISTILL_STREAM_MIN_SHARD_BYTES: '4096' };
      const jobs = ['sft', '--root', '.', '--jobs', '2', ...AT];
      const run = spawn(process.execPath, [CLI, ...jobs], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => run.on('close', (code, got) => resolve([code, got])));
      let child: number | undefined;
      while (child === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        child = (await processes.entries()).started.find(({ argv }) => argv[0] === 'shard')?.pid;
      }
      run.kill(signal);
      assert.deepEqual(await exited, signal === 'SIGTERM' ? [143, null] : [null, 'SIGKILL']);
      for (let waited = 0; alive(child); waited += 10) {
        assert.ok(waited < 10_000, `shard child ${child} still runs after its parent stopped`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Stopped (143 through its own clean-up, or no exit at all if stopped before its handlers were set), not run to its end (0) or failed on a removed work folder.
      const exits = (await processes.entries()).exited.filter(({ pid }) => pid === child);
      assert.ok(exits.every(({ code }) => code === 143), JSON.stringify(exits));
      if (signal === 'SIGTERM') assert.deepEqual(await readdir(spills), []);
      // After SIGKILL nothing of the run could clean up: the next --jobs run removes the work folder it left.
      else assert.equal((await runCli(jobs, { cwd: root, env: { ...process.env, TMPDIR: spills, DISTILL_STREAM_MIN_SHARD_BYTES: '4096' } })).code, 0);
      await processes.remove();
      assert.equal((await runCli(['sft', '--root', '.', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(await outputsOf(root), reference);
      await assertClean(root);
      await rm(root, { recursive: true, force: true });
    });
  }

  test('two run-all on one root: one runs, the other exits 3 naming it; the outputs are one run\'s', async () => {
    const root = await copyOfBase();
    const [a, b] = await Promise.all([runCli(['run-all', '--root', '.', '--run-id', 'a', ...AT], { cwd: root }), runCli(['run-all', '--root', '.', '--run-id', 'b', ...AT], { cwd: root })]);
    const codes = [a.code, b.code].sort();
    assert.ok(codes[0] === 0 && (codes[1] === 0 || codes[1] === 3), `${a.code} ${b.code}`);
    for (const result of [a, b]) if (result.code === 3) assert.match(result.stderr, /\.distill-stream\.lock is held by pid \d+ .*run-all --run-id [ab]/);
    assert.deepEqual(await outputsOf(root), reference);
    await assertClean(root);
    await rm(root, { recursive: true, force: true });
  });

  test('a reader of data/scored-runs while score swaps it: one version whole, or exit 3 and nothing committed', async (t) => {
    const root = await copyOfBase();
    assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r', ...AT], { cwd: root })).code, 0);
    const versions = new Set<string>();
    for (const at of ['2026-07-01T00:00:00.000Z', '2026-08-01T00:00:00.000Z']) {
      assert.equal((await runCli(['score', '--root', '.', '--recorded-at', at], { cwd: root })).code, 0);
      versions.add((await runCli(['sft', 'data/scored-runs', '--evidence', 'data/evidence', '--quarantine', '/dev/null', '--out', '-', ...AT], { cwd: root })).stdout);
    }
    let scoring = true;
    const swaps = (async () => {
      for (let n = 0; n < 2; n++) await runCli(['score', '--root', '.', '--recorded-at', n % 2 === 0 ? '2026-07-01T00:00:00.000Z' : '2026-08-01T00:00:00.000Z'], { cwd: root });
      scoring = false;
    })();
    let refused = 0;
    while (scoring) {
      await rm(path.join(root, 'read.jsonl'), { force: true });
      const read = await runCli(['sft', 'data/scored-runs', '--evidence', 'data/evidence', '--quarantine', '/dev/null', '--out', 'read.jsonl', ...AT], { cwd: root });
      if (read.code === 3) {
        assert.match(read.stderr, /data\/scored-runs was replaced while it was read/);
        assert.ok(!existsSync(path.join(root, 'read.jsonl')), 'nothing committed');
        refused++;
      } else {
        assert.equal(read.code, 0, read.stderr);
        assert.ok(versions.has(await readFile(path.join(root, 'read.jsonl'), 'utf8')), 'rows of one version only');
      }
    }
    await swaps;
    t.diagnostic(`readers refused: ${refused}`);
    await assertClean(root);
    await rm(root, { recursive: true, force: true });
  });

  const isRoot = process.getuid?.() === 0;
  test('a full disk: --out, --quarantine, stdout and TMPDIR exit 3 naming the path and leave no temp; run-all writes the failed stage\'s receipt', async (t) => {
    if (!isRoot) {
      t.skip('needs root to mount a tmpfs: run the suite as root to attack a full disk');
      return;
    }
    const root = await copyOfBase();
    assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r', ...AT], { cwd: root })).code, 0);
    const full = path.join(root, 'full');
    await mkdir(full);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).status, 0);
    try {
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(full, 'fill')}`, 'bs=4k', 'count=15']);
      for (const [args, named] of [
        [['sft', '--root', '.', '--out', 'full/sft.jsonl'], /--out full\/sft\.jsonl: no space left on device/],
        [['rag', '--root', '.', '--quarantine', 'full/q.jsonl', '--out', '/dev/null'], /--quarantine full\/q\.jsonl: no space left on device/],
      ] as const) {
        const result = await runCli([...args, ...AT], { cwd: root });
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, named);
      }
      const tmp = await runCli(['preference', '--root', '.', '--out', '/dev/null', ...AT], { cwd: root, env: { ...process.env, TMPDIR: full, DISTILL_STREAM_SORT_RUN_ENTRIES: '5' } });
      assert.equal(tmp.code, 3);
      assert.match(tmp.stderr, new RegExp(`TMPDIR ${full}: no space left on device`));
      const out = openSync(path.join(full, 'stdout.jsonl'), 'w');
      const stdout = spawnSync(process.execPath, [CLI, 'sft', '--root', '.', '--out', '-', ...AT], { cwd: root, stdio: ['ignore', out, 'pipe'] });
      closeSync(out);
      assert.equal(stdout.status, 3);
      assert.match(stdout.stderr.toString(), /stdout \(.*full\/stdout\.jsonl\): no space left on device/);
      assert.deepEqual((await readdir(full)).sort(), ['fill', 'stdout.jsonl']);
      // The exports folder on a full disk: the first stage writing there fails, its receipt says why, the run exits 1.
      const exportsDir = path.join(root, 'exports');
      await rm(exportsDir, { recursive: true });
      await mkdir(exportsDir);
      assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', exportsDir]).status, 0);
      try {
        const run = await runCli(['run-all', '--root', '.', '--run-id', 'full', ...AT], { cwd: root });
        assert.equal(run.code, 1, run.stderr);
        const summary = JSON.parse(await readFile(path.join(root, 'reports', 'distillation', 'full', 'summary.json'), 'utf8')) as { stages: Array<{ stage: string; passed: boolean }> };
        const failed = summary.stages.find((stage) => !stage.passed)!;
        const receipt = JSON.parse(await readFile(path.join(root, 'reports', 'distillation', 'full', `${failed.stage}.json`), 'utf8')) as { validation: { passed: boolean; errors: string[] } };
        assert.equal(receipt.validation.passed, false);
        assert.match(receipt.validation.errors.join('\n'), /exports\/.*: no space left on device/);
        assert.deepEqual(leftovers(await allEntries(exportsDir)), []);
      } finally {
        spawnSync('umount', [exportsDir]);
      }
    } finally {
      spawnSync('umount', [full]);
    }
    await assertClean(root);
    await rm(root, { recursive: true, force: true });
  });
});

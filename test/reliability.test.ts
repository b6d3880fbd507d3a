import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runSft } from '../pipelines/stage.js';
import { validateStage } from '../src/engine/validate.js';
import { StageCounts } from '../src/engine/counts.js';
import { withOutputs } from '../src/engine/outputs.js';
import { DistillError, ioError } from '../src/errors.js';
import { sftStage } from '../src/stages/sft.js';
import { commitTogether, recoverCommits } from '../src/io/commit.js';
import { acquireLock } from '../src/io/lock.js';
import { oneVersionOf } from '../src/io/inputs.js';
import { openSink } from '../src/io/sink.js';
import { LAYOUT, ROOT_LOCK } from '../src/layout.js';
import { allEntries, CLI, fixtureCopy, inFolder, leftovers, PROCESS_CONCURRENCY, runCli, snapshot, tempDir } from './helpers.js';

const AT = ['--recorded-at', '2026-06-01T00:00:00.000Z'];

describe('outputs that never destroy', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('--quarantine equal to --out, and --out equal to an input, exit 2 and leave every file as it was', () =>
    inFolder(fixtureCopy, async (root) => {
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      const before = await snapshot(root);
      const same = await runCli(['sft', '--root', '.', '--out', 'x.jsonl', '--quarantine', 'x.jsonl', ...AT], { cwd: root });
      assert.equal(same.code, 2);
      assert.match(same.stderr, /--quarantine x\.jsonl is the same file as --out x\.jsonl/);
      const input = 'data/scored-runs/2026/05/01/audits.jsonl';
      const onInput = await runCli(['sft', 'data/scored-runs', '--evidence', 'data/evidence', '--out', input, ...AT], { cwd: root });
      assert.equal(onInput.code, 2);
      assert.match(onInput.stderr, /is an input/);
      assert.deepEqual(await snapshot(root), before);
    }));

  test('a device and a FIFO are written in place, "-" is stdout, a folder and a symbolic link are refused (exit 2)', () =>
    inFolder(fixtureCopy, async (root) => {
      await mkdir(path.join(root, 'out'));
      execFileSync('mkfifo', [path.join(root, 'out', 'fifo.jsonl')]);
      const reader = new Promise<string>((resolve) => {
        const cat = spawn('cat', [path.join(root, 'out', 'fifo.jsonl')]);
        let text = '';
        cat.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        cat.on('close', () => resolve(text));
      });
      assert.equal((await runCli(['sft', '--root', '.', '--out', 'out/fifo.jsonl', '--quarantine', '/dev/null', ...AT], { cwd: root })).code, 0);
      assert.ok((await reader).length > 0);
      assert.ok((await lstat(path.join(root, 'out', 'fifo.jsonl'))).isFIFO());
      assert.ok((await lstat('/dev/null')).isCharacterDevice());
      const dash = await runCli(['sft', '--root', '.', '--out', '-', '--quarantine', '/dev/null', ...AT], { cwd: root });
      assert.equal(dash.code, 0);
      assert.ok(dash.stdout.length > 0);
      assert.ok(!existsSync(path.join(root, '-')));
      const folder = await runCli(['sft', '--root', '.', '--out', 'out', ...AT], { cwd: root });
      assert.equal(folder.code, 2);
      assert.match(folder.stderr, /--out out is a folder/);
      await symlink('elsewhere.jsonl', path.join(root, 'out', 'link.jsonl'));
      const link = await runCli(['sft', '--root', '.', '--out', 'out/link.jsonl', ...AT], { cwd: root });
      assert.equal(link.code, 2);
      assert.match(link.stderr, /symbolic link .*--follow-symlinks/);
      assert.equal((await runCli(['sft', '--root', '.', '--out', 'out/link.jsonl', '--follow-symlinks', ...AT], { cwd: root })).code, 0);
      assert.ok((await lstat(path.join(root, 'out', 'link.jsonl'))).isSymbolicLink());
      assert.ok((await readFile(path.join(root, 'out', 'elsewhere.jsonl'))).length > 0);
      assert.deepEqual(leftovers(await allEntries(root)), []);
    }));
});

describe('the root', { concurrency: PROCESS_CONCURRENCY }, () => {
  for (const command of ['collect', 'score', 'sft', 'rag', 'preference', 'export-all', 'run-all']) {
    test(`a mistyped --root: ${command} exits 3 naming it and makes no folder`, async () => {
      const parent = await tempDir();
      const missing = path.join(parent, 'no-such-root');
      const result = await runCli([command, '--root', missing, ...(command === 'run-all' ? ['--run-id', 'r1'] : [])], { cwd: parent });
      assert.equal(result.code, 3);
      assert.match(result.stderr, /no-such-root/);
      assert.deepEqual(await readdir(parent), []);
    });
  }

  test('a second writer of a root exits 3 naming the holder; a lock whose holder is gone is taken over', () =>
    inFolder(fixtureCopy, async (root) => {
      const holder = spawn('sleep', ['60']);
      try {
        const lock = { pid: holder.pid, host: os.hostname(), started: '', purpose: 'score', since: '2026-06-01T00:00:00.000Z' };
        await writeFile(path.join(root, ROOT_LOCK), JSON.stringify(lock));
        for (const args of [['collect', '--root', '.'], ['sft', '--root', '.'], ['export-all', '--root', '.'], ['run-all', '--root', '.', '--run-id', 'r1']]) {
          const second = await runCli([...args, ...AT], { cwd: root });
          assert.equal(second.code, 3, args.join(' '));
          assert.match(second.stderr, new RegExp(`held by pid ${holder.pid} .*\\(score, since`));
        }
      } finally {
        holder.kill('SIGKILL');
      }
      await new Promise((resolve) => holder.once('close', resolve));
      assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r1', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(leftovers(await allEntries(root)), []);
    }));

  test('a kill between the two renames of a tree swap: the next reader finds the new tree whole, the next writer rebuilds the same bytes', () =>
    inFolder(fixtureCopy, async (root) => {
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      const scored = await snapshot(path.join(root, 'data', 'scored-runs'));
      const killed = await runCli(['score', '--root', '.', ...AT], { cwd: root, env: { ...process.env, DISTILL_STREAM_KILL_AT: 'tree-between-renames' } });
      assert.equal(killed.signal, 'SIGKILL');
      assert.ok(!existsSync(path.join(root, 'data', 'scored-runs')), 'the kill landed between the renames');
      assert.equal((await runCli(['sft', '--root', '.', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(await snapshot(path.join(root, 'data', 'scored-runs')), scored);
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(await snapshot(path.join(root, 'data', 'scored-runs')), scored);
      assert.deepEqual(leftovers(await allEntries(path.join(root, 'data'))), []);
    }));

  test('a retired tree whose journal was lost and whose place is empty is put back, never removed', () =>
    inFolder(fixtureCopy, async (root) => {
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      const scored = await snapshot(path.join(root, 'data', 'scored-runs'));
      await rename(path.join(root, 'data', 'scored-runs'), path.join(root, 'data', '.scored-runs.999999.0123abcd.tmp.old'));
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(await snapshot(path.join(root, 'data', 'scored-runs')), scored);
      assert.deepEqual(leftovers(await allEntries(path.join(root, 'data'))), []);
    }));

  test('a kill before a small file of ours is renamed into place (a commit journal, a report) leaves temps the next run removes, in another run id\'s reports too', () =>
    inFolder(fixtureCopy, async (root) => {
      const killed = await runCli(['run-all', '--root', '.', '--run-id', 'r1', ...AT], { cwd: root, env: { ...process.env, DISTILL_STREAM_KILL_AT: 'small-file-before-rename' } });
      assert.equal(killed.signal, 'SIGKILL');
      // The first small file is the journal of collect's commit: a copy of it cut short, and the temps it was to put in place.
      assert.ok(leftovers(await allEntries(root)).some((entry) => /\.\.distill-commit\.\d+\.[0-9a-f]{8}\.json\.\d+\.[0-9a-f]{8}\.tmp$/.test(entry)), 'a journal temp was left');
      assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r1', ...AT], { cwd: root })).code, 0);
      assert.deepEqual(leftovers(await allEntries(root)), []);
      // A report temp of a run that is gone, and one of a process that still runs (this one): only the first is removed, by a run under another id.
      const reports = path.join(root, LAYOUT.reports, 'r1');
      const dead = '.summary.json.999999.0123abcd.tmp';
      const live = `.summary.md.${process.pid}.0123abcd.tmp`;
      for (const name of [dead, live]) await writeFile(path.join(reports, name), '{');
      assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r2', ...AT], { cwd: root })).code, 0);
      const left = await readdir(reports);
      assert.ok(!left.includes(dead) && left.includes(live), left.join(' '));
    }));
});

test('a reader whose folder is swapped while it reads is refused before it commits, naming the folder', async () => {
  const parent = await tempDir();
  const folder = path.join(parent, 'scored-runs');
  await mkdir(folder);
  const unchanged = await oneVersionOf([folder], parent);
  await unchanged();
  await rename(folder, `${folder}.old`);
  await mkdir(folder);
  await assert.rejects(unchanged(), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && /scored-runs was replaced while it was read/.test(error.message));
});

test('a reader whose folder is swapped away while it walks it (the files after the first are gone) is refused as replaced', () =>
  inFolder(fixtureCopy, async (root) => {
    const scored = path.join(root, 'data', 'scored-runs');
    let reading = false;
    let swapped = false;
    // The swap lands after sft's first bytes (not the index's): the files listed with the first are gone from the path.
    const progress = {
      begin: (label: string) => void (reading = label === 'sft'),
      rows: () => undefined,
      bytes: () => {
        if (!reading || swapped) return;
        swapped = true;
        renameSync(scored, `${scored}.old`);
        mkdirSync(scored);
      },
    };
    await assert.rejects(runSft({ cwd: root, root, recordedAt: AT[1]!, out: 'read.jsonl', progress }), (error: unknown) => {
      assert.ok(error instanceof DistillError && error.code === 'DS_IO', String(error));
      assert.match(error.message, /^data\/scored-runs was replaced while it was read/);
      return true;
    });
    assert.ok(swapped);
    assert.ok(!existsSync(path.join(root, 'read.jsonl')), 'nothing committed');
  }));

test('a run that fails reading is refused as replaced when a folder it read was replaced meanwhile: the missing file is a symptom', async () => {
  const parent = await tempDir();
  const folder = path.join(parent, 'scored-runs');
  await mkdir(folder);
  const unchanged = await oneVersionOf([folder], parent);
  const gone = ioError('data/scored-runs/2026/05/02/web_extractions.jsonl', Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
  const reading = async (): Promise<never> => {
    // A file listed before the swap, opened after it.
    await rename(folder, `${folder}.old`);
    await mkdir(folder);
    throw gone;
  };
  await assert.rejects(withOutputs([], new StageCounts(), reading, undefined, unchanged), (error: unknown) => error instanceof DistillError && /^scored-runs was replaced while it was read/.test(error.message));
  // Inputs that did not change: the failure is reported as it is.
  const steady = await oneVersionOf([folder], parent);
  await assert.rejects(withOutputs([], new StageCounts(), () => Promise.reject(gone), undefined, steady), (error: unknown) => error === gone);
  // The replacement found by the check itself, after the work: reported once, the check not run again.
  let checks = 0;
  const replaced = new DistillError('DS_IO', 'scored-runs was replaced while it was read');
  const failingCheck = (): void => {
    checks++;
    throw checks === 1 ? replaced : new Error('checked twice');
  };
  await assert.rejects(withOutputs([], new StageCounts(), () => Promise.resolve(), undefined, failingCheck), (error: unknown) => error === replaced);
  assert.equal(checks, 1);
});

describe('inputs a folder holds that are not read', { concurrency: PROCESS_CONCURRENCY }, () => {
  test('a dangling link and a FIFO are named on stderr, counted on the summary line and in the receipt', () =>
    inFolder(fixtureCopy, async (root) => {
      assert.equal((await runCli(['run-all', '--root', '.', '--run-id', 'r0', ...AT], { cwd: root })).code, 0);
      const day = path.join(root, 'data', 'scored-runs', '2026', '05', '01');
      await symlink(path.join(root, 'nothing.jsonl'), path.join(day, 'dangling.jsonl'));
      execFileSync('mkfifo', [path.join(day, 'fifo.jsonl')]);
      const sft = await runCli(['sft', '--root', '.', ...AT], { cwd: root });
      assert.equal(sft.code, 0);
      assert.match(sft.stderr, /\[sft\] warning: not read: data\/scored-runs\/2026\/05\/01\/dangling\.jsonl: a symbolic link to nothing/);
      assert.match(sft.stderr, /\[sft\] warning: not read: data\/scored-runs\/2026\/05\/01\/fifo\.jsonl: a FIFO, not a file/);
      assert.match(sft.stderr, /not_read=2/);
      const json = await runCli(['sft', '--root', '.', '--json', ...AT], { cwd: root });
      assert.equal((JSON.parse(json.stderr.trim().split('\n').at(-1)!) as { not_read: string[] }).not_read.length, 2);
      const { counts } = await runSft({ cwd: root, root, recordedAt: AT[1]!, dryRun: true });
      assert.deepEqual(validateStage(sftStage, counts).warnings.filter((w) => w.startsWith('not read: ')), [
        'not read: data/scored-runs/2026/05/01/dangling.jsonl: a symbolic link to nothing',
        'not read: data/scored-runs/2026/05/01/fifo.jsonl: a FIFO, not a file',
      ]);
    }));
});

describe('sort spill folders', { concurrency: PROCESS_CONCURRENCY }, () => {
  const spillEnv = (tmp: string): NodeJS.ProcessEnv => ({ ...process.env, TMPDIR: tmp, DISTILL_STREAM_SORT_RUN_ENTRIES: '3' });

  test('removed after a run and after | head; a killed run\'s are removed by the next one; the pairs are the same bytes', () =>
    inFolder(fixtureCopy, async (root) => {
      const tmp = await tempDir();
      assert.equal((await runCli(['score', '--root', '.', ...AT], { cwd: root })).code, 0);
      const inMemory = await runCli(['preference', '--root', '.', '--out', '-', ...AT], { cwd: root });
      await mkdir(path.join(tmp, 'distill-sort-999999-abcdef'));
      const spilled = await runCli(['preference', '--root', '.', '--out', '-', ...AT], { cwd: root, env: spillEnv(tmp) });
      assert.equal(spilled.code, 0);
      assert.equal(spilled.stdout, inMemory.stdout);
      assert.deepEqual(await readdir(tmp), []);
      const head = execFileSync('sh', ['-c', `"${process.execPath}" "${CLI}" preference --root . --out - ${AT.join(' ')} | head -c 10`], { cwd: root, env: spillEnv(tmp) });
      assert.equal(head.length, 10);
      assert.deepEqual(await readdir(tmp), []);
      assert.equal(existsSync(path.join(root, ROOT_LOCK)), false);
    }));
});

describe('an output that starts with a file (a merge\'s first shard part)', () => {
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

  for (const move of [true, false]) {
    test(`${move ? 'moved' : 'copied'} into place: the file's bytes, then what is written, hashed together; ${move ? 'the part is gone' : 'the part stays'}`, () =>
      inFolder(tempDir, async (dir) => {
        const start = path.join(dir, 'part');
        await writeFile(start, '{"a":1}\n');
        const target = { kind: 'file' as const, path: path.join(dir, 'out.jsonl'), display: 'out.jsonl', label: 'out.jsonl', startWith: { file: start, move } };
        const sink = await openSink(target);
        sink.input.end('{"b":2}\n');
        const finished = await sink.finish();
        await commitTogether(finished.entries);
        assert.equal(await readFile(path.join(dir, 'out.jsonl'), 'utf8'), '{"a":1}\n{"b":2}\n');
        assert.deepEqual(finished.digests, [{ path: 'out.jsonl', bytes: 16, sha256: sha256('{"a":1}\n{"b":2}\n') }]);
        assert.equal(existsSync(start), !move);
        assert.deepEqual(leftovers(await allEntries(dir)), []);
      }));
  }

  test('aborted, it leaves no temp file behind', () =>
    inFolder(tempDir, async (dir) => {
      const start = path.join(dir, 'part');
      await writeFile(start, '{"a":1}\n');
      const sink = await openSink({ kind: 'file', path: path.join(dir, 'out.jsonl'), display: 'out.jsonl', label: 'out.jsonl', startWith: { file: start, move: true } });
      await sink.abort();
      assert.deepEqual((await readdir(dir)).sort(), []);
    }));
});

describe('files the tool keeps for itself, damaged or replaced', () => {
  test('a dead process\'s commit journals that are not JSON of a journal, huge, or a FIFO are removed unapplied, never read whole or blocked on', () =>
    inFolder(tempDir, async (folder) => {
      const keep = path.join(folder, 'keep.jsonl');
      await writeFile(keep, 'kept\n');
      const journal = (n: number): string => path.join(folder, `.distill-commit.999999.0000000${n}.json`);
      await writeFile(journal(1), JSON.stringify({ entries: 'not a list', copies: [] }));
      await writeFile(journal(2), '{"entries":[{"kind":"remove","path":');
      await writeFile(journal(3), '');
      await truncate(journal(3), 64 << 20);
      execFileSync('mkfifo', [journal(4)]);
      await recoverCommits(folder);
      assert.deepEqual(await readdir(folder), ['keep.jsonl']);
      assert.equal(await readFile(keep, 'utf8'), 'kept\n');
    }));

  test('a lock file replaced by a FIFO is never read: held while fresh, taken over once stale', () =>
    inFolder(tempDir, async (folder) => {
      const file = path.join(folder, 'x.lock');
      execFileSync('mkfifo', [file]);
      await assert.rejects(acquireLock(file, { purpose: 'a test', wait: false }), (error: DistillError) => error.code === 'DS_IO' && /held by another process/.test(error.message));
      const old = new Date(Date.now() - 3_600_000);
      await utimes(file, old, old);
      const lock = await acquireLock(file, { purpose: 'a test', wait: false });
      assert.match(await readFile(file, 'utf8'), /"purpose":"a test"/);
      await lock.release();
      assert.deepEqual(await readdir(folder), []);
    }));
});

test('a SIGTERM while a small file of ours is written (a receipt, a report) removes its temp and leaves no file', async () => {
  const dir = await tempDir();
  const modules = (name: string): string => JSON.stringify(new URL(`../src/io/${name}.js`, import.meta.url).href);
  // 256 MiB written and synced: a window wide enough to signal while the temp exists.
  const script = `import { cleanUpOnSignals } from ${modules('commit')}; import { writeWhole } from ${modules('small-file')};
cleanUpOnSignals(); await writeWhole(process.argv[1], 'x'.repeat(256 << 20));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'receipt.json')], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let temp: string | undefined;
  let done = false;
  void exited.then(() => (done = true));
  while (temp === undefined && !done) {
    temp = (await readdir(dir)).find((name) => name.endsWith('.tmp'));
    if (temp === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.ok(temp !== undefined, 'the temp was never seen: the write ended first');
  child.kill('SIGTERM');
  assert.equal(await exited, 143);
  assert.deepEqual(await readdir(dir), []);
});

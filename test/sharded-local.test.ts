import assert from 'node:assert/strict';
import fs from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { DistillError } from '../src/errors.js';
import type { ShardPlan } from '../pipelines/shards.js';
import type { StageCommandOptions } from '../pipelines/stage.js';
import type { ProgressSink } from '../src/progress.js';
import { fixtureCopy, inFolder, processLog, snapshot, tempDir } from './helpers.js';

// The seams are read when the modules load: set first, so the fixture (a few KB) runs as local shards, a
// pairing shard hands the merge several sorted runs, and the merges of preference, export-all and run-all
// pair their groups in ranges, in processes side by side.
process.env['DISTILL_STREAM_MIN_SHARD_BYTES'] = '1';
process.env['DISTILL_STREAM_SORT_RUN_ENTRIES'] = '4';
process.env['DISTILL_STREAM_MIN_PAIR_RANGE_BYTES'] = '1';
const { runStage, shardCount } = await import('../pipelines/stage.js');
const { runExportAll } = await import('../pipelines/export-all.js');
const { readPlan, runShardsLocally } = await import('../pipelines/shards.js');
const { planShards, runPlanShard } = await import('../pipelines/cluster.js');
const { mergePlan } = await import('../pipelines/stage.js');
const { stageNamed } = await import('../src/stages/registry.js');
const { runAllOn } = await import('./library.js');
const { generateArchive } = await import('../data-fixtures/generate.js');

const RECORDED_AT = '2026-05-02T00:00:00.000Z';

/** Every file under a root, receipts with their timings blanked (they differ between any two runs). */
async function bytesOf(root: string): Promise<Map<string, string>> {
  const files = await snapshot(root);
  for (const [file, text] of files) {
    if (file.endsWith('.json')) files.set(file, JSON.stringify(JSON.parse(text), (key, value: unknown) => (/(^|_)(started|finished)_at$|_ms$|^duration/.test(key) ? 0 : value)));
    else if (file.startsWith('reports/')) files.delete(file); // the page and summary.md print the timings
  }
  return files;
}

/** Runs `work` with --jobs 1 on one fixture copy and --jobs 2 on another: the same files, byte for byte. */
const sameAsOneProcess = (work: (root: string, jobs: number) => Promise<unknown>) => () =>
  inFolder(fixtureCopy, (one) =>
    inFolder(fixtureCopy, async (many) => {
      await work(one, 1);
      await work(many, 2);
      assert.deepEqual(await bytesOf(many), await bytesOf(one));
    }));

test('the seam makes the fixture big enough for two shards of every stage', () =>
  inFolder(fixtureCopy, async (root) => {
    for (const command of ['sft', 'rag', 'preference', 'collect', 'score']) assert.equal(await shardCount(stageNamed(command)!, { cwd: root, root, jobs: 2 }), 2, command);
  }));

for (const command of ['sft', 'rag', 'preference', 'collect', 'score']) {
  test(`${command} run as local shards writes what one process writes`, sameAsOneProcess((root, jobs) => runStage(stageNamed(command)!, { cwd: root, root, recordedAt: RECORDED_AT, jobs, includePartial: true } as StageCommandOptions)));
}
test('export-all run as local shards writes what one process writes', sameAsOneProcess((root, jobs) => runExportAll({ cwd: root, root, recordedAt: RECORDED_AT, jobs })));
test('run-all run as local shards writes what one process writes, receipts included (timings aside)', sameAsOneProcess((root, jobs) => runAllOn(root, 'r1', RECORDED_AT, { flags: { jobs } })));

test('preference run as local shards pairs the later range of its groups in a process of its own, which ends on its own', () =>
  inFolder(fixtureCopy, async (root) => {
    const processes = await processLog(await tempDir());
    const before = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = processes.env['NODE_OPTIONS']; // what the children are started with
    try {
      await runStage(stageNamed('preference')!, { cwd: root, root, recordedAt: RECORDED_AT, jobs: 2 } as StageCommandOptions);
    } finally {
      if (before === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = before;
    }
    const { started, exited } = await processes.entries();
    const pairing = started.filter(({ script }) => script.endsWith(path.join('pipelines', 'pair-range-process.js')));
    assert.equal(pairing.length, 1, JSON.stringify(started));
    assert.deepEqual(exited.filter(({ pid }) => pid === pairing[0]!.pid), [{ pid: pairing[0]!.pid, code: 0 }]);
  }));

/** The files `work` opens for reading through node:fs (a read stream opens its file through fs.open). */
async function filesReadBy(work: () => Promise<unknown>): Promise<string[]> {
  const read: string[] = [];
  const open = fs.open;
  fs.open = ((file: fs.PathLike, flags: unknown, ...rest: unknown[]) => {
    if (flags === undefined || typeof flags === 'function' || flags === 'r') read.push(String(file));
    return (open as (...args: unknown[]) => void)(file, flags, ...rest);
  }) as typeof fs.open;
  try {
    await work();
  } finally {
    fs.open = open;
  }
  return read;
}

/** An output's temp file (`.NAME.<pid>.<random>.tmp` beside it): where a merged output begins as the first shard's part. */
const outputTemps = (root: string, files: readonly string[]): string[] => files.filter((file) => file.startsWith(path.join(root, 'exports')) && /\/\.[^/]+\.tmp$/.test(file));

test('a merge after shard 0 ran in this process continues the digests of its parts, never reading them again; a merge of shards run apart hashes them', () =>
  inFolder(fixtureCopy, (one) =>
    inFolder(fixtureCopy, (here) =>
      inFolder(fixtureCopy, async (apart) => {
        const sft = stageNamed('sft')!;
        const optionsOf = (root: string, jobs: number): StageCommandOptions => ({ cwd: root, root, recordedAt: RECORDED_AT, jobs });
        const digestsOf = (outputs: ReadonlyArray<{ path: string; bytes: number; sha256: string }>): unknown => [...outputs].sort((a, b) => (a.path < b.path ? -1 : 1));
        const single = await runStage(sft, optionsOf(one, 1));
        let local: Awaited<ReturnType<typeof runStage>> | undefined;
        const readHere = await filesReadBy(async () => (local = await runStage(sft, optionsOf(here, 2))));
        assert.deepEqual(outputTemps(here, readHere), [], 'the outputs begin with shard 0\'s parts, not read again');
        assert.deepEqual(digestsOf(local!.counts.outputs), digestsOf(single.counts.outputs));
        assert.deepEqual(await bytesOf(here), await bytesOf(one));
        // The same plan's shards run as `shard` commands would, then merged: the parts are hashed where they were put.
        const planFile = path.join(apart, 'plan.json');
        await planShards('sft', { ...optionsOf(apart, 1), shards: 2, planFile });
        for (const n of [0, 1]) await runPlanShard(planFile, n, { cwd: apart });
        let merged: Awaited<ReturnType<typeof mergePlan>> | undefined;
        const readApart = await filesReadBy(async () => (merged = await mergePlan(await readPlan(planFile))));
        assert.equal(outputTemps(apart, readApart).length, 2, `the dataset and its quarantine hashed: ${JSON.stringify(readApart)}`);
        assert.deepEqual(digestsOf(merged!.counts.get('sft')!.outputs), digestsOf(single.counts.outputs));
      }))));

test('a merge whose work folder is on another filesystem than the root copies what it cannot link or move (collect\'s tree, sft\'s dataset)', async (t) => {
  const elsewhere = '/dev/shm';
  const here = await tempDir();
  const [shm, tmp] = await Promise.all([stat(elsewhere).catch(() => undefined), stat(here)]);
  await rm(here, { recursive: true });
  if (shm === undefined || shm.dev === tmp.dev) return t.skip(`needs ${elsewhere} on another filesystem than ${path.dirname(here)}: cannot test the copy a cross-device merge falls back to`);
  await sameAsOneProcess(async (root, jobs) => {
    const before = process.env['TMPDIR'];
    process.env['TMPDIR'] = elsewhere; // where local shards put their work (os.tmpdir()); the roots were made before, on disk
    try {
      for (const command of ['collect', 'sft']) await runStage(stageNamed(command)!, { cwd: root, root, recordedAt: RECORDED_AT, jobs });
    } finally {
      if (before === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = before;
    }
  })();
});

test('a failed child shard fails the run with its own exit code and first error line, naming the shard', async () => {
  const work = await tempDir();
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  // Shard 0 runs in this process (here it does nothing); the child of shard 1 reads the plan file again: not a plan there is its usage error (exit 2).
  const plan = { shards: [[], []] } as unknown as ShardPlan;
  await assert.rejects(runShardsLocally(planFile, plan, 2, () => Promise.resolve()), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_USAGE');
    assert.equal(error.message, `shard 1 of 2: ${planFile} is not a shard plan (not JSON)`);
    return true;
  });
});

test('the shard run in this process fails the run as a child would: its class, its first line, the lowest failed index', async () => {
  const work = await tempDir();
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  const plan = { shards: [[], []] } as unknown as ShardPlan;
  const ran: number[] = [];
  const failing = (index: number): Promise<never> => {
    ran.push(index);
    return Promise.reject(new DistillError('DS_IO', 'evidence.jsonl: gone\nmore detail'));
  };
  await assert.rejects(runShardsLocally(planFile, plan, 2, failing), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_IO'); // shard 0's: shard 1, stopped or never started, would fail too (DS_USAGE)
    assert.equal(error.message, 'shard 0 of 2: evidence.jsonl: gone');
    return true;
  });
  assert.deepEqual(ran, [0]);
  // An error that is not a DistillError is a bug: thrown as it is, after the children are done.
  const bug = new TypeError('boom');
  await assert.rejects(runShardsLocally(planFile, plan, 2, () => Promise.reject(bug)), (error: unknown) => error === bug);
});

test('a failed child shard stops the shard running in this process; the run fails with the child\'s error, as when every shard ran to its end', async () => {
  const work = await tempDir();
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  const plan = { shards: [[], []] } as unknown as ShardPlan;
  // Shard 0 here never ends unless stopped, and then fails as a stopped shard does: the child's failure is still the run's.
  let stopped = false;
  const untilStopped = (_index: number, stop: AbortSignal): Promise<never> =>
    new Promise((_resolve, reject) =>
      stop.addEventListener('abort', () => {
        stopped = true;
        reject(new DistillError('DS_IO', 'evidence.jsonl: read no further'));
      }),
    );
  await assert.rejects(runShardsLocally(planFile, plan, 2, untilStopped), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_USAGE');
    assert.equal(error.message, `shard 1 of 2: ${planFile} is not a shard plan (not JSON)`);
    return true;
  });
  assert.ok(stopped);
});

// Were the child not stopped, the run would wait for it forever: the timeout makes that a failure.
test('a failed shard in this process stops its running child shards (SIGTERM) and never starts those waiting for a place', { timeout: 60_000 }, async () => {
  const work = await tempDir();
  const processes = await processLog(work);
  // Every child hangs before it reads its plan: only a signal ends it (or this process gone).
  const hang = path.join(work, 'hang.mjs');
  await writeFile(hang, "process.once('disconnect', () => process.exit(1));\nsetInterval(() => {}, 1 << 30);\nawait new Promise(() => {});\n");
  const planFile = path.join(work, 'plan.json');
  await writeFile(planFile, 'not a plan\n');
  const plan = { shards: [[], [], []] } as unknown as ShardPlan;
  const failOnceAChildRuns = async (): Promise<never> => {
    while ((await processes.entries()).started.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    throw new DistillError('DS_IO', 'evidence.jsonl: gone');
  };
  const before = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = `${processes.env['NODE_OPTIONS']} --import=${pathToFileURL(hang).href}`; // what the children are started with
  try {
    await assert.rejects(runShardsLocally(planFile, plan, 2, failOnceAChildRuns), (error: unknown) => {
      assert.ok(error instanceof DistillError);
      assert.equal(error.code, 'DS_IO');
      assert.equal(error.message, 'shard 0 of 3: evidence.jsonl: gone');
      return true;
    });
  } finally {
    if (before === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = before;
  }
  const { started, exited } = await processes.entries();
  assert.deepEqual(started.map(({ argv }) => argv), [['shard', planFile, '--shard', '1']], 'shard 2 never started');
  assert.deepEqual(exited, [], 'shard 1 ended by the signal, not on its own');
});

/** What a progress line is told, phase by phase: each begin, and the bytes and rows told after it. */
function recordedProgress(): ProgressSink & { phases: Array<{ label: string; total: number | undefined; bytes: number; rows: number }> } {
  const phases: Array<{ label: string; total: number | undefined; bytes: number; rows: number }> = [];
  return {
    phases,
    begin: (label, total) => void phases.push({ label, total, bytes: 0, rows: 0 }),
    bytes: (n) => void (phases.at(-1)!.bytes += n),
    rows: (n) => void (phases.at(-1)!.rows += n),
  };
}

for (const command of ['sft', 'collect', 'export-all']) {
  test(`${command} run as local shards tells the progress line every byte and row its shards read, as one process does`, () =>
    inFolder(fixtureCopy, async (root) => {
      const told = async (jobs: number) => {
        const progress = recordedProgress();
        const options = { cwd: root, root, recordedAt: RECORDED_AT, jobs, progress };
        await (command === 'export-all' ? runExportAll(options) : runStage(stageNamed(command)!, options));
        return progress.phases.filter((phase) => phase.label === command);
      };
      const [one] = await told(1);
      const many = await told(2);
      assert.equal(many.length, 1, 'one phase on the line for the shards together');
      assert.ok(one!.rows > 0 && one!.total! > 0);
      assert.deepEqual(many[0], { ...one, bytes: one!.total, total: one!.total });
    }));
}

test('on a terminal, --jobs 2 draws one progress line for its shards: each draw in place, the bytes rising, cleared before every message', () =>
  inFolder(tempDir, async (root) => {
    // Raw logs enough for the shards to read for a second or more on a fast machine: the line is redrawn at most every 250 ms.
    await generateArchive({ out: root, records: 30_000, kbOnly: true });
    assert.equal(await shardCount(stageNamed('collect')!, { cwd: root, root, jobs: 2 }), 2);
    const { main } = await import('../src/cli/main.js');
    const writes: string[] = [];
    const stderr = Object.assign(new PassThrough(), { isTTY: true, write: (chunk: string) => writes.push(chunk) > 0 });
    const code = await main(['collect', '--root', '.', '--jobs', '2', '--recorded-at', RECORDED_AT], { stdout: new PassThrough(), stderr, cwd: root, env: process.env, stdinIsTerminal: false });
    assert.equal(code, 0, writes.join(''));
    const CLEAR = '\r\x1b[K';
    const drawn: Array<[done: number, total: number, percent: number]> = [];
    for (const text of writes) {
      // A draw is one whole line in place; anything else is a clear, or whole message lines with no control characters.
      if (!text.startsWith(CLEAR)) assert.match(text, /^[^\r\x1b]*\n$/, JSON.stringify(text));
      else if (text !== CLEAR) {
        const draw = /^\r\x1b\[K\[collect\] ([\d.]+) MB \/ ([\d.]+) MB (\d+)% · \d+ MB\/s( · [\d,]+ rows\/s)?( · ETA \S+)?$/.exec(text);
        assert.ok(draw, JSON.stringify(text));
        drawn.push([Number(draw[1]), Number(draw[2]), Number(draw[3])]);
      }
    }
    assert.ok(drawn.length >= 2, `redrawn as the shards read: ${JSON.stringify(writes)}`);
    assert.equal(new Set(drawn.map(([, total]) => total)).size, 1, 'one total for the shards together');
    drawn.reduce((before, now) => {
      assert.ok(now[0] >= before[0] && now[2] >= before[2], `never falls: ${JSON.stringify(drawn)}`);
      return now;
    });
    assert.ok(drawn.every(([done, total, percent]) => done <= total && percent <= 100));
    writes.forEach((text, n) => {
      if (n > 0 && text.endsWith('\n')) assert.ok(writes[n - 1] === CLEAR || writes[n - 1]!.endsWith('\n'), `a message right after a draw: ${JSON.stringify(writes.slice(n - 1, n + 1))}`);
    });
    assert.match(writes.at(-1)!, /^\[collect\] read=\d+ exported=\d+ /);
  }));

test('a shard whose input repeats an earlier shard\'s wholly: the merge reads each input once for all its repeats and writes what one process writes', () =>
  inFolder(fixtureCopy, (one) =>
    inFolder(fixtureCopy, (apart) =>
      inFolder(() => tempDir('distill-plan-'), async (work) => {
      const sft = stageNamed('sft')!;
      const again = async (root: string): Promise<void> => fs.promises.cp(path.join(root, 'data/scored-runs/2026'), path.join(root, 'data/scored-runs/2027'), { recursive: true });
      await again(one);
      await again(apart);
      const optionsOf = (root: string): StageCommandOptions => ({ cwd: root, root, recordedAt: RECORDED_AT, jobs: 1 });
      const single = await runStage(sft, optionsOf(one));
      const planFile = path.join(work, 'plan.json'); // its shards' folders beside it, outside the root compared
      await planShards('sft', { ...optionsOf(apart), shards: 2, planFile });
      const plan = await readPlan(planFile);
      assert.ok(plan.shards[1]!.every((piece) => plan.inputs[piece.file]!.display.includes('/2027/')), 'the second shard reads only the repeated copy');
      for (const n of [0, 1]) await runPlanShard(planFile, n, { cwd: apart });
      const read = await filesReadBy(() => mergePlan(plan));
      assert.deepEqual(await bytesOf(apart), await bytesOf(one));
      const repeats = single.counts.byReason.get('duplicate_id') ?? 0;
      assert.ok(single.counts.out > 0 && repeats >= single.counts.out, `every row the first copy exported is repeated by the second: ${repeats} of ${single.counts.out}`);
      const inputOpens = new Map<string, number>();
      for (const file of read.filter((file) => file.includes('/data/scored-runs/2027/'))) inputOpens.set(file, (inputOpens.get(file) ?? 0) + 1);
      assert.ok(inputOpens.size > 0, 'the repeats\' records are read again');
      for (const [file, opens] of inputOpens) assert.equal(opens, 1, `${file} opened ${opens} times`);
    }))));

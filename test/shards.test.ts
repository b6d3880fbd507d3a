import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { runPlanShard } from '../pipelines/cluster.js';
import { runExportAll } from '../pipelines/export-all.js';
import { MAX_PLAN_FILE_BYTES, missingShards, PLAN_FORMAT, readPlan, runShard, writePlan, type ShardPlan } from '../pipelines/shards.js';
import { mergePlan, planOptionsOf, runStage, shardContextOf, type StageCommandOptions } from '../pipelines/stage.js';
import { sortedCounts, type StageCounts } from '../src/engine/counts.js';
import { DistillError } from '../src/errors.js';
import { cutIntoPieces, type PlannedFile } from '../src/io/pieces.js';
import { stageNamed } from '../src/stages/registry.js';
import { badRowsArchive, removeDir, runCli, snapshot, tempDir } from './helpers.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const MAX_LINE_BYTES = 65536;

/** Counts as a receipt shows them (order-free), to compare a sharded run with one process. */
const countsOf = (counts: StageCounts): unknown => ({
  in: counts.in,
  out: counts.out,
  quarantined: counts.quarantined,
  byReason: sortedCounts(counts.byReason),
  byCategory: sortedCounts(counts.byCategory),
  samples: counts.sampleValues(),
  inputs: [...counts.inputs].sort((a, b) => (a.path < b.path ? -1 : 1)),
  outputs: [...counts.outputs].map((o) => ({ bytes: o.bytes, sha256: o.sha256 })).sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1)),
});

/**
 * Runs `command` through a plan of `shards` shards, every shard in this process, then the merge
 * (with `wholeFiles`, and `merged` called while the shards' work is still there).
 */
async function sharded(command: string, options: StageCommandOptions, shards: number, wholeFiles?: 'link' | 'copy', merged?: () => Promise<void>): Promise<Map<string, StageCounts>> {
  const work = await tempDir('distill-plan-');
  try {
    const planFile = path.join(work, 'plan.json');
    await writePlan(command, planOptionsOf(command, options), shards, planFile, path.join(work, 'shards'), { minPieceBytes: 64 });
    const plan = await readPlan(planFile);
    const context = await shardContextOf(plan);
    for (let n = shards - 1; n >= 0; n--) assert.equal(await runShard(plan, n, context), 'ran'); // any order
    const { counts } = await mergePlan(plan, wholeFiles);
    await merged?.();
    return counts;
  } finally {
    await removeDir(work);
  }
}

/** How many files of a tree are hard links (more than one name), and how many are not. */
async function linksIn(tree: string): Promise<{ linked: number; single: number }> {
  const found = { linked: 0, single: 0 };
  for (const entry of await readdir(tree, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) found[(await stat(path.join(entry.parentPath, entry.name))).nlink > 1 ? 'linked' : 'single']++;
  }
  return found;
}

describe('a sharded run is byte for byte one process', () => {
  let one: string;
  let many: string;
  before(async () => {
    one = await badRowsArchive();
    many = await badRowsArchive();
  });
  after(async () => {
    await removeDir(one);
    await removeDir(many);
  });

  const base = (root: string): StageCommandOptions => ({ cwd: root, root, recordedAt: RECORDED_AT, maxLineBytes: MAX_LINE_BYTES });

  for (const [command, flags] of [
    ['sft', { includePartial: true }],
    ['rag', { includeReview: true }],
    ['preference', {}],
    ['collect', {}],
    ['score', {}],
  ] as const) {
    test(`${command}: outputs, quarantine and counts equal one process's, for 2, 3 and 7 shards`, async () => {
      const stage = stageNamed(command)!;
      const single = (await runStage(stage, { ...base(one), ...flags })).counts;
      const expected = await snapshot(one);
      for (const shards of [2, 3, 7]) {
        const merged = (await sharded(command, { ...base(many), ...flags }, shards)).get(command)!;
        assert.deepEqual(countsOf(merged), countsOf(single), `${command} in ${shards} shards: counts`);
        assert.deepEqual(await snapshot(many), expected, `${command} in ${shards} shards: bytes`);
      }
    });
  }

  for (const [command, flags] of [
    ['sft', { includePartial: true, format: 'sharegpt', split: 'train=0.7,validation=0.3', maxRowsPerFile: 3, out: 'sets/sft.jsonl.gz' }],
    ['preference', { split: 'train=0.5,test=0.5', out: 'sets/pairs.parquet' }],
  ] as const) {
    test(`${command}: a set of splits and parts is the same files from shards (${flags.out})`, async () => {
      const stage = stageNamed(command)!;
      const single = (await runStage(stage, { ...base(one), ...flags } as StageCommandOptions)).counts;
      assert.ok(single.bySplit.size > 0, 'rows per split are counted');
      const expected = await snapshot(one);
      const merged = (await sharded(command, { ...base(many), ...flags } as StageCommandOptions, 3)).get(command)!;
      assert.deepEqual(countsOf(merged), countsOf(single));
      assert.deepEqual(Object.fromEntries(merged.bySplit), Object.fromEntries(single.bySplit));
      assert.deepEqual(await snapshot(many), expected);
    });
  }

  test('more shards than the input has lines to cut at: the empty ones are valid, read nothing, and merge to one process\'s bytes', async () => {
    for (const command of ['collect', 'score', 'sft', 'preference']) {
      const single = (await runStage(stageNamed(command)!, base(one))).counts;
      const expected = await snapshot(one);
      const work = await tempDir('distill-plan-');
      try {
        const plan = await writePlan(command, planOptionsOf(command, base(many)), 60, path.join(work, 'plan.json'), path.join(work, 'shards'));
        const empty = plan.shards.flatMap((pieces, n) => (pieces.length === 0 ? [n] : []));
        assert.ok(empty.length > 0, `${command}: some of 60 shards have no piece`);
        const context = await shardContextOf(plan);
        for (let n = 0; n < plan.shards.length; n++) assert.equal(await runShard(plan, n, context), 'ran');
        assert.deepEqual(await readdir(path.join(work, 'shards', `shard-${String(empty[0]).padStart(5, '0')}`)), ['result.json'], 'an empty shard writes its result and nothing else');
        assert.deepEqual(countsOf((await mergePlan(plan)).counts.get(command)!), countsOf(single), command);
        assert.deepEqual(await snapshot(many), expected, command);
      } finally {
        await removeDir(work);
      }
    }
  });

  test('a local merge links the tree files one shard wrote whole; a plan\'s merge copies them (its work stays); the bytes are the same', async () => {
    await runStage(stageNamed('collect')!, base(one));
    const expected = await snapshot(one);
    let local = { linked: 0, single: 0 };
    await sharded('collect', base(many), 2, 'link', async () => void (local = await linksIn(path.join(many, 'data/evidence'))));
    assert.ok(local.linked > 0, 'some partition files are links to a shard\'s part');
    assert.ok(local.single > 0, 'a partition file two shards wrote, or one with a repeated run_id dropped, is written anew');
    assert.deepEqual(await snapshot(many), expected);
    let planned = { linked: 0, single: 0 };
    await sharded('collect', base(many), 2, 'copy', async () => void (planned = await linksIn(path.join(many, 'data/evidence'))));
    assert.equal(planned.linked, 0, 'no tree file shares its inode with the work folder');
    assert.deepEqual(await snapshot(many), expected);
  });

  test('a tree file one shard wrote whole keeps the digest the shard took; one whose size changed since is refused, named, and nothing is committed', async () => {
    const work = await tempDir('distill-plan-');
    try {
      const plan = await writePlan('collect', planOptionsOf('collect', base(many)), 2, path.join(work, 'plan.json'), path.join(work, 'shards'), { minPieceBytes: 64 });
      const context = await shardContextOf(plan);
      for (const n of [0, 1]) await runShard(plan, n, context);
      const filesOf = async (shard: string): Promise<string[]> =>
        (await readdir(path.join(plan.work, shard, 'tree'), { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.relative(path.join(plan.work, shard, 'tree'), path.join(entry.parentPath, entry.name)));
      const later = new Set(await filesOf('shard-00001'));
      const victim = (await filesOf('shard-00000')).find((relative) => !later.has(relative))!;
      assert.ok(victim !== undefined, 'the first shard wrote a partition alone');
      const before = await snapshot(many);
      await appendFile(path.join(plan.work, 'shard-00000', 'tree', victim), '{}\n');
      await assert.rejects(mergePlan(plan), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && error.message.startsWith(`data/evidence/${victim}: its shard wrote`) && /, \d+ are there now; run the shard again$/.test(error.message));
      assert.deepEqual(await snapshot(many), before);
    } finally {
      await removeDir(work);
    }
  });

  test('export-all: every dataset and quarantine equal one process\'s', async () => {
    const single = (await runExportAll({ ...base(one), includePartial: true, includeReview: true })).counts;
    const expected = await snapshot(one);
    const merged = await sharded('export-all', { ...base(many), includePartial: true, includeReview: true } as StageCommandOptions, 5);
    for (const [stage, counts] of single) assert.deepEqual(countsOf(merged.get(stage)!), countsOf(counts), stage);
    assert.deepEqual(await snapshot(many), expected);
  });
});

describe('the shard contract', () => {
  let root: string;
  let work: string;
  let plan: ShardPlan;
  before(async () => {
    root = await badRowsArchive();
    work = await tempDir('distill-plan-');
    const options = { cwd: root, root, recordedAt: RECORDED_AT, maxLineBytes: MAX_LINE_BYTES };
    plan = await writePlan('sft', planOptionsOf('sft', options), 4, path.join(work, 'plan.json'), path.join(work, 'shards'), { minPieceBytes: 64 });
  });
  after(async () => {
    await removeDir(root);
    await removeDir(work);
  });

  test('the merge refuses while shards are missing, naming them and the --array= that resubmits them', async () => {
    const context = await shardContextOf(plan);
    await runShard(plan, 0, context);
    await runShard(plan, 2, context);
    assert.deepEqual(await missingShards(plan), [1, 3]);
    await assert.rejects(mergePlan(plan), (error: unknown) => error instanceof DistillError && /shards 1, 3 of 4 are not done; resubmit them with --array=1,3/.test(error.message));
    // A killed attempt leaves only a hidden temp folder: not done, and cleared by the rerun.
    await mkdir(path.join(plan.work, '.shard-1.999999.deadbeef.tmp'), { recursive: true });
    assert.deepEqual(await missingShards(plan), [1, 3]);
    assert.equal(await runShard(plan, 1, context), 'ran');
    assert.equal(await runShard(plan, 1, context), 'done already');
    await runShard(plan, 3, context);
    assert.deepEqual(await missingShards(plan), []);
    // A damaged result is named with what to do, never parsed into counts; a marker that is a FIFO is not done, never blocked on.
    const result = path.join(plan.work, 'shard-00002', 'result.json');
    const kept = await readFile(result);
    await writeFile(result, kept.subarray(0, 100));
    await assert.rejects(mergePlan(plan), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && error.message === `${result}: shard 2's result is missing or damaged; remove ${path.join(plan.work, 'shard-00002.done')} and run shard 2 again`);
    await writeFile(result, kept);
    await rm(path.join(plan.work, 'shard-00002.done'));
    execFileSync('mkfifo', [path.join(plan.work, 'shard-00002.done')]);
    assert.deepEqual(await missingShards(plan), [2]);
    assert.equal(await runShard(plan, 2, context), 'ran');
    await mergePlan(plan);
  });

  for (const command of ['sft', 'collect', 'export-all']) {
    test(`${command}: a shard aborted as it reads (another local shard failed) fails, leaving no part, done marker or temp; run again, it runs`, async () => {
      const other = await tempDir('distill-plan-');
      try {
        const options = { cwd: root, root, recordedAt: RECORDED_AT, maxLineBytes: MAX_LINE_BYTES };
        const aborted = await writePlan(command, planOptionsOf(command, options), 2, path.join(other, 'plan.json'), path.join(other, 'shards'), { minPieceBytes: 64 });
        const stop = new AbortController();
        const progress = { begin: () => undefined, bytes: () => stop.abort(), rows: () => undefined };
        const context = await shardContextOf(aborted);
        await assert.rejects(runShard(aborted, 0, { ...context, progress, signal: stop.signal }), (error: unknown) => (error as Error).name === 'AbortError');
        assert.ok(stop.signal.aborted, 'aborted by the first bytes read');
        assert.deepEqual(await readdir(aborted.work), []);
        assert.deepEqual(await missingShards(aborted), [0, 1]);
        assert.equal(await runShard(aborted, 0, context), 'ran');
      } finally {
        await removeDir(other);
      }
    });
  }

  test('a shard refuses a plan whose inputs changed, naming the file', async () => {
    const file = plan.inputs[0]!;
    await appendFile(file.path, '\n');
    await rm(path.join(plan.work, 'shard-00000.done'), { force: true });
    await assert.rejects(runShard(plan, 0, await shardContextOf(plan)), (error: unknown) => error instanceof DistillError && error.message.includes(file.display) && /changed since the plan was written/.test(error.message));
  });

  test('a plan\'s shards and merge join the index generation it built: a refresh in between (evidence changed) is refused, never mixed', async () => {
    const fresh = await badRowsArchive();
    const other = await tempDir('distill-plan-');
    try {
      const options = { cwd: fresh, root: fresh, recordedAt: RECORDED_AT, maxLineBytes: MAX_LINE_BYTES };
      const pinned = await writePlan('sft', planOptionsOf('sft', options), 2, path.join(other, 'plan.json'), path.join(other, 'shards'), { minPieceBytes: 64 });
      assert.equal(typeof pinned.evidenceIndex, 'string');
      const refresh = async (): Promise<void> => {
        await appendFile(path.join(fresh, 'data/evidence/2026/05/02/web_extractions.jsonl'), '\n');
        assert.equal((await runCli(['index', '--root', fresh])).code, 0);
      };
      const refused = (error: unknown): boolean => error instanceof DistillError && error.code === 'DS_IO' && /changed since the plan was written/.test(error.message);
      await runShard(pinned, 0, await shardContextOf(pinned));
      await refresh();
      await assert.rejects(runShard(pinned, 1, await shardContextOf(pinned)), refused);
      const again = await writePlan('sft', planOptionsOf('sft', options), 2, path.join(other, 'again.json'), path.join(other, 'again'), { minPieceBytes: 64 });
      for (const n of [0, 1]) await runShard(again, n, await shardContextOf(again));
      await refresh();
      await assert.rejects(mergePlan(again), refused);
    } finally {
      await removeDir(fresh);
      await removeDir(other);
    }
  });

  test('the shard index comes from the scheduler when --shard is absent', async () => {
    const other = await tempDir('distill-plan-');
    try {
      const planFile = path.join(other, 'plan.json');
      const fresh = await badRowsArchive();
      try {
        const created = await runCli(['plan', '--shards', '2', '--out', planFile, '--', 'sft', '--root', fresh, '--recorded-at', RECORDED_AT]);
        assert.equal(created.code, 0, created.stderr);
        const first = await runCli(['shard', planFile], { env: { ...process.env, SLURM_ARRAY_TASK_ID: '1' } });
        assert.equal(first.code, 0, first.stderr);
        assert.match(first.stderr, /\[shard\] 1 of 2: ran/);
        const merge = await runCli(['merge', planFile]);
        assert.equal(merge.code, 3);
        assert.match(merge.stderr, /--array=0/);
        const second = await runCli(['shard', planFile], { env: { ...process.env, JOB_COMPLETION_INDEX: '0' } });
        assert.equal(second.code, 0, second.stderr);
        assert.equal((await runCli(['merge', planFile])).code, 0);
      } finally {
        await removeDir(fresh);
      }
    } finally {
      await removeDir(other);
    }
  });

  test('a plan --out where no folder can be made is refused, named as typed; a missing folder is made', async () => {
    const other = await tempDir('distill-plan-');
    const fresh = await badRowsArchive();
    try {
      await writeFile(path.join(other, 'taken'), '');
      const plan = (out: string) => runCli(['plan', '--shards', '2', '--out', out, '--', 'sft', '--root', fresh, '--recorded-at', RECORDED_AT], { cwd: other });
      const refused = await plan('taken/plans/plan.json');
      assert.deepEqual([refused.code, refused.stderr], [3, 'distill-stream: --out taken/plans/plan.json: a part of the path is not a folder\n']);
      assert.deepEqual(await readdir(other), ['taken']);
      const made = await plan('new/plans/plan.json');
      assert.equal(made.code, 0, made.stderr);
      assert.equal((await readPlan(path.join(other, 'new/plans/plan.json'))).command, 'sft');
    } finally {
      await removeDir(fresh);
      await removeDir(other);
    }
  });
});

test('pieces cover every byte once, in order, cut at line starts, with their first line numbers', async () => {
  const dir = await tempDir();
  try {
    const random = mulberry32(7);
    const files: PlannedFile[] = [];
    for (let n = 0; n < 6; n++) {
      const lines = Array.from({ length: Math.floor(random() * 400) }, () => 'x'.repeat(Math.floor(random() * 90)) + (random() < 0.1 ? '\r' : ''));
      const text = lines.join('\n') + (random() < 0.5 ? '\n' : '');
      const file = path.join(dir, `f${n}.jsonl`);
      await writeFile(file, text);
      files.push({ path: file, display: `f${n}.jsonl`, size: Buffer.byteLength(text), mtimeMs: 0 });
    }
    for (const count of [1, 2, 3, 5, 9, 40]) {
      const { shards } = await cutIntoPieces(files, count, 50);
      assert.equal(shards.length, count);
      const covered = files.map(() => [] as Array<[number, number]>);
      for (const shard of shards) {
        for (const piece of shard) {
          covered[piece.file]!.push([piece.start, piece.end]);
          const bytes = await readFile(files[piece.file]!.path);
          assert.ok(piece.start === 0 || bytes[piece.start - 1] === 0x0a, `a cut at ${piece.start} is at a line start`);
          assert.equal(piece.firstLine, bytes.subarray(0, piece.start).filter((byte) => byte === 0x0a).length);
        }
      }
      covered.forEach((ranges, n) => {
        let at = 0;
        for (const [start, end] of ranges) {
          assert.equal(start, at, `file ${n} in ${count} shards: contiguous`);
          at = end;
        }
        assert.equal(at, files[n]!.size, `file ${n} in ${count} shards: whole`);
      });
    }
  } finally {
    await removeDir(dir);
  }
});

test('a plan file is read at most 256 MiB: a larger file, or a device, is not a shard plan, and is not read whole', async () => {
  const work = await tempDir('distill-plan-');
  try {
    const big = path.join(work, 'big.json');
    await writeFile(big, '');
    await truncate(big, MAX_PLAN_FILE_BYTES + 1); // sparse: refused by its size, nothing read
    await assert.rejects(readPlan(big), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && error.message === `${big} is not a shard plan (larger than ${MAX_PLAN_FILE_BYTES} bytes)`);
    // A device says size 0: the read stops one byte past the limit.
    await assert.rejects(readPlan('/dev/zero'), (error: unknown) => error instanceof DistillError && error.message === `/dev/zero is not a shard plan (larger than ${MAX_PLAN_FILE_BYTES} bytes)`);
    const shard = await runCli(['shard', 'big.json', '--shard', '0'], { cwd: work });
    assert.equal(shard.code, 2);
    assert.ok(shard.stderr.startsWith(`distill-stream: big.json is not a shard plan (larger than ${MAX_PLAN_FILE_BYTES} bytes)\n`), shard.stderr);
  } finally {
    await removeDir(work);
  }
});

test('shard and merge name a plan file as it was typed, a relative path relative: missing, a folder, not JSON, of another version', async () => {
  const work = await tempDir('distill-plan-');
  try {
    await mkdir(path.join(work, 'plans/folder.json'), { recursive: true });
    await writeFile(path.join(work, 'plans/bad.json'), 'not a plan\n');
    await writeFile(path.join(work, 'plans/old.json'), '{"format":"distill-stream-plan/0"}\n');
    await writeFile(path.join(work, 'plans/run-all.json'), `${JSON.stringify({ format: PLAN_FORMAT, command: 'run-all' })}\n`);
    const cases: Array<[file: string, code: number, message: string]> = [
      ['plans/missing.json', 3, 'plans/missing.json: no such file or folder'],
      ['./plans/folder.json', 3, './plans/folder.json: is a folder, not a file'],
      ['plans/bad.json', 2, 'plans/bad.json is not a shard plan (not JSON)'],
      ['../' + path.basename(work) + '/plans/old.json', 2, `../${path.basename(work)}/plans/old.json is not a shard plan of this version`],
    ];
    for (const [file, code, message] of cases) {
      for (const args of [['shard', file, '--shard', '0'], ['merge', file]]) {
        const ran = await runCli(args, { cwd: work });
        assert.deepEqual([ran.code, ran.stderr.split('\n')[0]], [code, `distill-stream: ${message}`], args.join(' '));
      }
    }
    // The library's shard of a command's plan names it so too.
    await assert.rejects(runPlanShard('plans/bad.json', 0, { cwd: work }), (error: unknown) => error instanceof DistillError && error.message === 'plans/bad.json is not a shard plan (not JSON)');
    await assert.rejects(runPlanShard('plans/run-all.json', 0, { cwd: work }), (error: unknown) => error instanceof DistillError && error.message.startsWith('plans/run-all.json is a run-all plan: '));
  } finally {
    await removeDir(work);
  }
});

import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import { test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import type { IdSet } from '../src/core/id-set.js';
import { PairCounts } from '../src/engine/counts.js';
import type { ShardCounts } from '../src/engine/shards.js';
import { DistillError } from '../src/errors.js';
import { ensureFolder } from '../src/io/folders.js';
import { comparePreferenceRows, PreferencePairer, preferenceStage, type PreferenceRow } from '../src/stages/preference.js';
import type { ShardPlan } from '../pipelines/shards.js';
import { evidence, inFolder, tempDir } from './helpers.js';

// The seam is read when the module loads: set first, so entries of a few KB are paired in ranges.
process.env['DISTILL_STREAM_MIN_PAIR_RANGE_BYTES'] = '1';
const { beginPairs, mergePairs, pairRange, pairRanges, sortedRuns } = await import('../src/engine/pair-merge.js');
const { pairInProcesses } = await import('../pipelines/pair-ranges.js');

type PairElsewhere = import('../src/engine/pair-merge.js').PairElsewhere;
type PairRange = import('../src/engine/pair-merge.js').PairRange;
type SortedRun = import('../src/engine/pair-merge.js').SortedRun;

const RECORDED_AT = '2026-05-02T00:00:00.000Z';

/** A pairable row as pass 1 spills it, before a shard gives it its input position. */
type Spilled = Omit<PreferenceRow, 'seq' | 'location'>;

function spilled(task: string, runId: string, category: PreferenceRow['category']): Spilled {
  const rank = { accepted: 0, rejected: 1, partially_accepted: 2, needs_human_review: 3 }[category];
  return { task_id: task, rank, evidence_run_id: runId, category, provenance: { source_file: 'k', line_offset: 0, sig_hash: 'c'.repeat(64) } };
}

/** Each run's text names it; runs whose id begins `gone` have no evidence. */
const lookup = (runId: string) => (runId.startsWith('gone') ? undefined : evidence({ text: `text of ${runId}` }));

/** A pairer that counts how often it paired (the merge pairs a range again only on a pair id an earlier range wrote). */
class CountingPairer extends PreferencePairer {
  calls = 0;
  override pairs(sorted: AsyncIterable<PreferenceRow>, written?: IdSet): ReturnType<PreferencePairer['pairs']> {
    this.calls++;
    return super.pairs(sorted, written);
  }
}
const pairerOf = (): CountingPairer => new CountingPairer({ lookup, recordedAt: RECORDED_AT, format: 'spec' });

/**
 * Shards as a pairing stage's merge finds them: each folder an `out` part of its rows as sorted
 * runs one after the other (three runs of input order, each sorted; input positions its own), and
 * an empty row quarantine. Rows are dealt to shards at random.
 */
async function shardsOf(rows: readonly Spilled[], shards: number, seed: number): Promise<{ folders: string[]; counts: ShardCounts[] }> {
  const random = mulberry32(seed);
  const dealt: PreferenceRow[][] = Array.from({ length: shards }, () => []);
  for (const base of rows) {
    const mine = dealt[Math.floor(random() * shards)]!;
    mine.push({ ...base, seq: mine.length, location: { source_file: 'scored.jsonl', line_offset: mine.length + 1 } });
  }
  const work = await tempDir();
  const folders: string[] = [];
  const counts: ShardCounts[] = [];
  for (const [n, mine] of dealt.entries()) {
    const folder = path.join(work, `shard-${n}`);
    await ensureFolder(folder);
    const third = Math.ceil(mine.length / 3);
    const runs = [0, 1, 2].map((r) => Buffer.from(mine.slice(r * third, (r + 1) * third).sort(comparePreferenceRows).map((entry) => `${JSON.stringify(entry)}\n`).join('')));
    await writeFile(path.join(folder, 'out'), Buffer.concat(runs));
    await writeFile(path.join(folder, 'quarantine'), '');
    folders.push(folder);
    const runEnds = runs.map((_, r) => runs.slice(0, r + 1).reduce((sum, run) => sum + run.length, 0));
    counts.push({ stage: 'preference', in: mine.length, out: mine.length, quarantined: 0, byReason: {}, byCategory: {}, violations: [], inputs: [], samples: {}, validRows: mine.length, runEnds });
  }
  return { folders, counts };
}

/** Tasks t000…, each with accepted and rejected runs of its own (some without evidence). */
function tasks(count: number, seed: number): Spilled[] {
  const random = mulberry32(seed);
  const rows: Spilled[] = [];
  for (let t = 0; t < count; t++) {
    const task = `t${String(t).padStart(3, '0')}`;
    rows.push(spilled(task, `${task}-a`, 'accepted'));
    for (let k = 0; k < 1 + Math.floor(random() * 7); k++) rows.push(spilled(task, `${random() < 0.1 ? 'gone' : task}-r${k}`, random() < 0.5 ? 'rejected' : 'partially_accepted'));
  }
  return rows;
}

/** What mergePairs writes (output and quarantine) and counts, with pairing `elsewhere` or in one range. */
async function merged(shards: { folders: string[]; counts: ShardCounts[] }, pairer: CountingPairer, elsewhere?: PairElsewhere, late = (): boolean => true) {
  const collect = (stream: PassThrough): Promise<string> => new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer | Uint8Array) => chunks.push(Buffer.from(chunk)));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  const output = new PassThrough();
  const quarantine = new PassThrough();
  const texts = Promise.all([collect(output), collect(quarantine)]);
  const counts = new PairCounts();
  const begun = await beginPairs(shards.folders, shards.counts, pairer, false, elsewhere);
  await until(late); // the merge comes to its pairing later, as after the datasets before it
  await mergePairs(begun, shards.counts, { stage: 'preference', recordedAt: RECORDED_AT }, output, quarantine, counts);
  output.end();
  quarantine.end();
  const [out, quarantined] = await texts;
  return { out, quarantined, counts: { out: counts.out, paired: counts.paired, unpaired: counts.unpaired, quarantinedPairs: counts.quarantinedPairs, byReason: Object.fromEntries(counts.byReason) } };
}

/**
 * Pairs the other ranges in this process, each with a pairer of its own, as a pairing process
 * would; `ranges` lists the ranges paired so, in the order they were taken. Each range waits
 * until `slow()` says so, to play a slow process.
 */
const inThisProcess = (processes = 3, slow = (): boolean => true): PairElsewhere & { ranges: number[]; ended: number } => {
  const elsewhere = {
    processes,
    ranges: [] as number[],
    ended: 0,
    start: (runs: readonly SortedRun[]) => ({
      pair: async (range: PairRange, n: number) => {
        elsewhere.ranges.push(n);
        await until(slow);
        return pairRange(runs, range, pairerOf(), { stage: 'preference', recordedAt: RECORDED_AT }, await tempDir());
      },
      end: async () => void elsewhere.ended++,
    }),
  };
  return elsewhere;
};

/** Waits, a millisecond at a time, until `done()`. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await setTimeout(1);
}

/** How many ranges a merge with `processes` processes cuts these shards' runs into. */
const rangeCount = async (shards: { folders: string[]; counts: ShardCounts[] }, processes: number): Promise<number> => (await pairRanges(await sortedRuns(shards.folders, shards.counts), pairerOf(), processes * 4)).length;

/** The last `taken` of `count` ranges, from the back. */
const fromTheBack = (count: number, taken: number): number[] => Array.from({ length: taken }, (_, k) => count - 1 - k);

test('pairing ranges cut the shards\' sorted runs at group starts: every entry in exactly one range, no group in two', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const shards = await shardsOf(tasks(60, seed), 3, seed);
    const runs = await sortedRuns(shards.folders, shards.counts);
    assert.equal(runs.length, 9);
    const ranges = await pairRanges(runs, pairerOf(), 4);
    assert.ok(ranges.length >= 2, `seed ${seed}: ${ranges.length} ranges`);
    const groupsIn = ranges.map(() => new Set<string>());
    for (const [n, run] of runs.entries()) {
      const text = (await readFile(run.file)).subarray(0, run.end);
      let at = run.start;
      for (const [r, range] of ranges.entries()) {
        assert.equal(range.starts[n], at, `seed ${seed}: range ${r} of run ${n} begins where the one before ended`);
        for (const line of text.subarray(range.starts[n], range.ends[n]).toString('utf8').split('\n').filter(Boolean)) groupsIn[r]!.add((JSON.parse(line) as PreferenceRow).task_id);
        at = range.ends[n]!;
      }
      assert.equal(at, run.end, `seed ${seed}: the ranges of run ${n} end where it ends`);
    }
    for (let r = 1; r < ranges.length; r++) {
      const before = [...groupsIn[r - 1]!].sort().at(-1)!;
      assert.ok([...groupsIn[r]!].every((task) => task > before), `seed ${seed}: range ${r}'s tasks all follow range ${r - 1}'s`);
    }
  }
});

test('a merge pairing its groups in ranges writes and counts what pairing them in one range does', async () => {
  for (const seed of [11, 12, 13]) {
    const shards = await shardsOf(tasks(80, seed), 2, seed);
    const one = await merged(shards, pairerOf());
    const elsewhere = inThisProcess();
    const pairer = pairerOf();
    const ranged = await merged(shards, pairer, elsewhere);
    assert.deepEqual(ranged, one, `seed ${seed}`);
    const count = await rangeCount(shards, 3);
    assert.ok(count > 3 && elsewhere.ranges.length >= 2, `seed ${seed}: ${elsewhere.ranges.length} of ${count} ranges paired elsewhere`);
    assert.deepEqual(elsewhere.ranges, fromTheBack(count, elsewhere.ranges.length), 'the others took ranges from the back');
    assert.equal(elsewhere.ended, 2, 'both other processes ended');
    assert.equal(pairer.calls, count - elsewhere.ranges.length, 'the merge paired the rest, each once');
    assert.ok(one.counts.out > 50 && one.counts.byReason.evidence_not_found! > 0, 'the case pairs and quarantines');
  }
});

test('a range that wrote a pair id an earlier range wrote is paired again after it: the duplicate_id lands where one process puts it', async () => {
  // t000 and t079 pair the same two runs (one pair id), in the first range and the last.
  const rows = tasks(80, 21);
  for (const task of ['t000', 't079']) rows.push(spilled(task, 'shared-a', 'accepted'), spilled(task, 'shared-r', 'rejected'));
  const shards = await shardsOf(rows, 2, 21);
  const one = await merged(shards, pairerOf());
  assert.equal(one.counts.byReason.duplicate_id, 1);
  const pairer = pairerOf();
  const elsewhere = inThisProcess(2);
  const ranged = await merged(shards, pairer, elsewhere);
  assert.deepEqual(ranged, one);
  const count = await rangeCount(shards, 2);
  assert.ok(elsewhere.ranges.includes(count - 1), 'the last range was paired elsewhere');
  assert.equal(pairer.calls, count - elsewhere.ranges.length + 1, 'and paired again here');
});

test('the merge and the other processes share the ranges by who is free: a late merge takes one, slow processes take one each', async () => {
  const shards = await shardsOf(tasks(80, 41), 2, 41);
  const one = await merged(shards, pairerOf());
  const count = await rangeCount(shards, 2);
  assert.ok(count >= 6, `${count} ranges`);
  const late = pairerOf();
  const whileLate = inThisProcess(2);
  assert.deepEqual(await merged(shards, late, whileLate, () => whileLate.ended === 1), one, 'the merge came late');
  assert.deepEqual(whileLate.ranges, fromTheBack(count, count - 1), 'the other process took every range but the first');
  assert.equal(late.calls, 1);
  const ofThree = await rangeCount(shards, 3);
  const quick = pairerOf();
  // The others' first ranges end only once the merge pairs its last: it took all the rest.
  const slow = inThisProcess(3, () => quick.calls === ofThree - 2);
  assert.deepEqual(await merged(shards, quick, slow), one, 'the others were slow');
  assert.deepEqual(slow.ranges, fromTheBack(ofThree, 2), 'each slow process took one range');
  assert.equal(quick.calls, ofThree - 2);
});

test('a process that fails on its second range fails the merge with its error, once every process has ended', async () => {
  const shards = await shardsOf(tasks(80, 51), 2, 51);
  const elsewhere = inThisProcess(3);
  let calls = 0;
  const failing: PairElsewhere = {
    processes: 3,
    start: (runs, signal) => {
      const pairing = elsewhere.start(runs, signal);
      return { pair: async (range, n) => (++calls === 2 ? Promise.reject(new DistillError('DS_IO', 'range lost')) : pairing.pair(range, n)), end: pairing.end };
    },
  };
  await assert.rejects(merged(shards, pairerOf(), failing), (error: unknown) => error instanceof DistillError && error.message === 'range lost');
  assert.equal(elsewhere.ended, 2, 'both other processes ended');
});

test('a pairing process that fails fails the merge with its class and first line, naming the range', () =>
  inFolder(tempDir, async (work) => {
    const plan = { work, command: 'preference', options: { root: work, cwd: work, evidence: path.join(work, 'no-evidence'), recordedAt: RECORDED_AT, maxLineBytes: 1 << 20, typed: {} } } as unknown as ShardPlan;
    await writeFile(path.join(work, 'out'), '');
    const runs = [{ file: path.join(work, 'out'), start: 0, end: 0, shift: 0 }];
    const pairing = pairInProcesses(plan, 2)(preferenceStage).start(runs, new AbortController().signal);
    await assert.rejects(pairing.pair({ starts: [0], ends: [0] }, 1), (error: unknown) => {
      assert.ok(error instanceof DistillError, String(error));
      assert.equal(error.code, 'DS_IO');
      assert.match(error.message, /^pairing range 1 of the preference merge: .*no-evidence/);
      return true;
    });
    await pairing.end(); // the process is gone: its failure was the range's
  }));

test('a pairing process that fails with no range in hand fails its end, and a range given after it at once', () =>
  inFolder(tempDir, async (work) => {
    const plan = { work, command: 'preference', options: { root: work, cwd: work, evidence: path.join(work, 'no-evidence'), recordedAt: RECORDED_AT, maxLineBytes: 1 << 20, typed: {} } } as unknown as ShardPlan;
    await writeFile(path.join(work, 'out'), '');
    const pairing = pairInProcesses(plan, 2)(preferenceStage).start([{ file: path.join(work, 'out'), start: 0, end: 0, shift: 0 }], new AbortController().signal);
    const failed = (pattern: RegExp) => (error: unknown): boolean => {
      assert.ok(error instanceof DistillError, String(error));
      assert.equal(error.code, 'DS_IO');
      assert.match(error.message, pattern);
      return true;
    };
    await assert.rejects(pairing.end(), failed(/^a pairing process of the preference merge: .*no-evidence/));
    await assert.rejects(pairing.pair({ starts: [0], ends: [0] }, 3), failed(/^pairing range 3 of the preference merge: .*no-evidence/));
  }));

test('a shard\'s sorted runs cut short (its part smaller than the runs it recorded) stop the merge, naming the part', async () => {
  const shards = await shardsOf(tasks(20, 31), 2, 31);
  const part = path.join(shards.folders[1]!, 'out');
  await truncate(part, (await stat(part)).size - 1);
  await assert.rejects(merged(shards, pairerOf()), (error: unknown) => {
    assert.ok(error instanceof DistillError);
    assert.equal(error.code, 'DS_IO');
    assert.match(error.message, new RegExp(`^${part}: \\d+ bytes where the shard wrote \\d+; run the shard again$`));
    return true;
  });
});

import assert from 'node:assert/strict';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
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
async function merged(shards: { folders: string[]; counts: ShardCounts[] }, pairer: CountingPairer, elsewhere?: PairElsewhere) {
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
  await mergePairs(begun, shards.counts, { stage: 'preference', recordedAt: RECORDED_AT }, output, quarantine, counts);
  output.end();
  quarantine.end();
  const [out, quarantined] = await texts;
  return { out, quarantined, counts: { out: counts.out, paired: counts.paired, unpaired: counts.unpaired, quarantinedPairs: counts.quarantinedPairs, byReason: Object.fromEntries(counts.byReason) } };
}

/** Pairs the other ranges in this process, each with a pairer of its own, as a pairing process would. */
const inThisProcess = (processes = 3): PairElsewhere & { ranges: number[] } => {
  const ranges: number[] = [];
  return {
    processes,
    ranges,
    pair: async (share, n) => {
      ranges.push(n);
      return pairRange(share, pairerOf(), { stage: 'preference', recordedAt: RECORDED_AT }, await tempDir());
    },
  };
};

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
    assert.deepEqual(elsewhere.ranges, [1, 2], 'two ranges paired elsewhere');
    assert.equal(pairer.calls, 1, 'no range paired again');
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
  const ranged = await merged(shards, pairer, inThisProcess(2));
  assert.deepEqual(ranged, one);
  assert.equal(pairer.calls, 2, 'the last range was paired again here');
});

test('a pairing process that fails fails the merge with its class and first line, naming the range', () =>
  inFolder(tempDir, async (work) => {
    const plan = { work, command: 'preference', options: { root: work, cwd: work, evidence: path.join(work, 'no-evidence'), recordedAt: RECORDED_AT, maxLineBytes: 1 << 20, typed: {} } } as unknown as ShardPlan;
    await writeFile(path.join(work, 'out'), '');
    const share = { runs: [{ file: path.join(work, 'out'), start: 0, end: 0, shift: 0 }], range: { starts: [0], ends: [0] } };
    await assert.rejects(pairInProcesses(plan, 2)(preferenceStage).pair(share, 1, new AbortController().signal), (error: unknown) => {
      assert.ok(error instanceof DistillError, String(error));
      assert.equal(error.code, 'DS_IO');
      assert.match(error.message, /^pairing range 1 of the preference merge: .*no-evidence/);
      return true;
    });
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

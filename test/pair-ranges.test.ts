import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { test } from 'node:test';
import type { IdSet } from '../src/core/id-set.js';
import { idDigits } from '../src/core/ids.js';
import { reject } from '../src/core/rejection.js';
import { byCodeUnits } from '../src/core/text.js';
import { PairCounts } from '../src/engine/counts.js';
import type { PairOutcome, Pairer } from '../src/engine/stage.js';
import type { PairedRange, PairRanges } from '../src/engine/pair-ranges.js';
import { inFolder, tempDir } from './helpers.js';

// The seam is read when the module loads: set first, so a few KB of entries are paired in ranges.
process.env['DISTILL_STREAM_PARALLEL_PAIRING_BYTES'] = '0';
const { groupCuts, mergedEntries, pairMerged, pairRangeToFiles } = await import('../src/engine/pair-ranges.js');

/** A toy entry: its group, its input position, the id of the pair it makes, and padding for long lines. */
interface Entry {
  g: string;
  seq: number;
  id: string;
  pad?: string;
}

/** Pairs each entry into one pair with its id; an id written before is a duplicate, quarantined (as a pairing stage does). */
const toyPairer: Pairer<Entry> = {
  admit: () => reject('schema_violation', 'a toy pairer admits nothing'),
  spill: async () => undefined,
  sorted: async function* () {},
  compare: (a, b) => byCodeUnits(a.g, b.g) || a.seq - b.seq,
  group: (entry) => entry.g,
  shifted: (entry, rows) => ({ ...entry, seq: entry.seq + rows }),
  async *pairs(sorted: AsyncIterable<Entry>, written: IdSet): AsyncGenerator<PairOutcome> {
    for await (const entry of sorted) {
      const location = { source_file: 'runs.jsonl', line_offset: entry.seq };
      if (!written.add(idDigits(entry.id))) yield { kind: 'quarantined', rejection: reject('duplicate_id', `pair id ${entry.id} repeats`), record: entry, location };
      else yield { kind: 'written', id: entry.id, line: Buffer.from(`${JSON.stringify(entry)}\n`), chosenRunId: `${entry.seq}a`, rejectedRunId: `${entry.seq}b`, newlyPaired: 2 };
    }
  },
};

const idOf = (n: number): string => `pair-${n.toString(16).padStart(16, '0')}`;

/** Writes each shard's entries (in pairing order, as a shard's pass 1 leaves them) to <folder>/out. */
async function shardFolders(root: string, shards: Entry[][]): Promise<string[]> {
  return Promise.all(
    shards.map(async (entries, n) => {
      const folder = path.join(root, `shard-${n}`);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, 'out'), [...entries].sort(toyPairer.compare).map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      return folder;
    }),
  );
}

/** Two shards of `groups` groups, each entry with its own id unless `idOf` says otherwise; every fifth line longer than a read window. */
function twoShards(groups: number, id: (group: number, k: number) => string = (group, k) => idOf(group * 10 + k)): Entry[][] {
  const shards: Entry[][] = [[], []];
  for (let group = 0; group < groups; group++) {
    for (let k = 0; k < 3; k++) {
      const entry: Entry = { g: `task-${String(group).padStart(3, '0')}`, seq: group * 3 + k, id: id(group, k), ...(k === 1 && group % 5 === 0 ? { pad: 'x'.repeat(9000) } : {}) };
      shards[(group + k) % 2]!.push(entry);
    }
  }
  return shards;
}

const collected = (): { stream: PassThrough; text: () => string } => {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
};

const copyFile = async (file: string, out: Writable): Promise<void> => void out.write(await readFile(file));

/** Pairs merged shards into text: serially, or in `count` ranges paired in this process as a range's process would. */
async function paired(folders: string[], count: number): Promise<{ output: string; quarantine: string; counts: PairCounts; ranges: number; aborted: boolean }> {
  const [output, quarantine] = [collected(), collected()];
  const counts = new PairCounts();
  const work = await tempDir('distill-ranges-');
  let [ranges, aborted] = [0, false];
  const elsewhere: PairRanges = {
    count,
    async pair(job, signal): Promise<PairedRange> {
      const name = path.join(work, `range-${ranges++}`);
      const into = { output: `${name}.jsonl`, quarantine: `${name}.quarantine.jsonl`, ids: `${name}.ids` };
      signal.addEventListener('abort', () => void (aborted = true));
      return { ...into, counts: await pairRangeToFiles(job, toyPairer, { stage: 'preference', recordedAt: '2026-05-02T00:00:00.000Z' }, into, new PairCounts()) };
    },
  };
  const shifts = [0, 0];
  await pairMerged({ folders, shifts }, toyPairer, { stage: 'preference', recordedAt: '2026-05-02T00:00:00.000Z' }, output.stream, quarantine.stream, counts, count > 1 ? elsewhere : undefined, copyFile);
  return { output: output.text(), quarantine: quarantine.text(), counts, ranges, aborted: aborted && ranges > 0 };
}

const countsOf = (counts: PairCounts): unknown => ({ out: counts.out, paired: counts.paired, quarantinedPairs: counts.quarantinedPairs, byReason: Object.fromEntries(counts.byReason), violations: counts.violations });

test('pairing in ranges writes what one pass writes: the pairs, the quarantine and the counts', () =>
  inFolder(tempDir, async (root) => {
    const folders = await shardFolders(root, twoShards(40));
    const serial = await paired(folders, 1);
    assert.equal(serial.counts.out, 120);
    for (const count of [2, 3, 7]) {
      const ranged = await paired(folders, count);
      // Cuts fall at byte shares: a share inside one long line's group gives no cut of its own.
      assert.ok(ranged.ranges >= Math.min(count - 1, 2) && ranged.ranges <= count - 1, `${count} ranges: ${ranged.ranges} paired elsewhere`);
      assert.equal(ranged.output, serial.output, `${count} ranges: pairs`);
      assert.equal(ranged.quarantine, serial.quarantine, `${count} ranges: quarantine`);
      assert.deepEqual(countsOf(ranged.counts), countsOf(serial.counts), `${count} ranges: counts`);
    }
  }));

test('a pair id repeated across ranges is caught: the range holding it is paired again with the rest, as one pass does', () =>
  inFolder(tempDir, async (root) => {
    // The last group repeats the first group's ids: a range paired elsewhere cannot see them.
    const folders = await shardFolders(root, twoShards(40, (group, k) => idOf((group === 39 ? 0 : group) * 10 + k)));
    const serial = await paired(folders, 1);
    assert.equal(serial.counts.quarantinedPairs, 3, 'one pass quarantines the three repeats');
    assert.equal(serial.quarantine.split('\n').filter((line) => line.includes('"duplicate_id"')).length, 3);
    for (const count of [2, 3]) {
      const ranged = await paired(folders, count);
      assert.ok(ranged.aborted, `${count} ranges: the ranges after the repeat are given up`);
      assert.equal(ranged.output, serial.output);
      assert.equal(ranged.quarantine, serial.quarantine);
      assert.deepEqual(countsOf(ranged.counts), countsOf(serial.counts));
    }
  }));

test('merged entries from a group on start at its first entry in every shard, lines longer than a read window included', () =>
  inFolder(tempDir, async (root) => {
    const shards = twoShards(25);
    const folders = await shardFolders(root, shards);
    const all = shards.flat().sort(toyPairer.compare);
    const read = async (from?: string): Promise<Entry[]> => {
      const entries: Entry[] = [];
      for await (const entry of mergedEntries(folders, [0, 0], toyPairer, from)) entries.push(entry);
      return entries;
    };
    assert.deepEqual(await read(), all);
    for (const from of ['', 'task-000', 'task-0005', 'task-013', 'task-024', 'task-024a', 'zzz']) {
      assert.deepEqual(await read(from), all.filter((entry) => byCodeUnits(entry.g, from) >= 0), `from ${JSON.stringify(from)}`);
    }
  }));

test('cuts are increasing group names taken at even shares of the largest shard; fewer when a group spans shares; none for one range or group', () =>
  inFolder(tempDir, async (root) => {
    const folders = await shardFolders(root, twoShards(30));
    const cuts = await groupCuts(folders, toyPairer, 4);
    assert.equal(cuts.length, 3);
    assert.deepEqual([...cuts].sort(byCodeUnits), cuts);
    assert.equal(new Set(cuts).size, cuts.length);
    assert.deepEqual(await groupCuts(folders, toyPairer, 1), []);
    const one = await shardFolders(path.join(root, 'one'), [[0, 1, 2, 3, 4, 5].map((seq) => ({ g: 'only', seq, id: idOf(seq) })), []]);
    assert.deepEqual(await groupCuts(one, toyPairer, 3), [], 'every share falls in the first group: one range');
    const empty = await shardFolders(path.join(root, 'empty'), [[], []]);
    assert.deepEqual(await groupCuts(empty, toyPairer, 3), [], 'no entries, no cuts');
  }));

import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { IdSet } from '../core/id-set.js';
import { idDigits } from '../core/ids.js';
import { byCodeUnits } from '../core/text.js';
import { drained } from '../io/drain.js';
import { entriesOf, mergeSorted } from '../io/external-sort.js';
import { LineSplitter } from '../io/line-splitter.js';
import type { QuarantineReason, StageName } from '../records.js';
import type { PairCounts } from './counts.js';
import { QuarantineWriter } from './quarantine.js';
import { writePairs } from './run.js';
import type { PairOutcome, Pairer } from './stage.js';

/**
 * Pairing in parallel. The merged entries are cut into ranges of whole groups (tasks); the first
 * range is paired in this process straight into the output while each later one is paired in a
 * process of its own into part files. The parts are then taken in order. A pair id is only a
 * duplicate of a pair written before it, and a range paired elsewhere could not see the ranges
 * before it: its written ids are checked against every id written so far, and the first range with
 * one of them is paired again here, with the rest, exactly as one process would. On the 1 GB bench
 * the pairing was 7–12 s of a 2-shard export-all's ~21 s, run on one core after the shards.
 */

/** What a range's process is given besides the plan: the shards' sorted entries and the tasks to pair, [from, until). */
export interface PairRangeJob {
  folders: string[];
  /** Valid rows before each shard (an entry's input order is moved past them). */
  shifts: number[];
  from: string;
  /** Absent for the last range. */
  until?: string;
}

/** A range paired elsewhere: its part files and what it counted. */
export interface PairedRange {
  output: string;
  quarantine: string;
  /** The ids written, one a line, in order. */
  ids: string;
  counts: RangeCounts;
}

/** What pairing one range counted (the rest of a pairing stage's counts come from pass 1). */
export interface RangeCounts {
  out: number;
  paired: number;
  quarantinedPairs: number;
  byReason: Partial<Record<QuarantineReason, number>>;
  violations: string[];
}

/** How to pair the later ranges elsewhere, and into how many ranges to cut the tasks. */
export interface PairRanges {
  count: number;
  pair(job: PairRangeJob, signal: AbortSignal): Promise<PairedRange>;
}

/**
 * Below this many bytes of sorted entries the pairing stays in one process: a range's process
 * starts, opens the index and reads the entries before its range for ~0.5 s on the 2-core bench
 * machine. Test seam: DISTILL_STREAM_PARALLEL_PAIRING_BYTES.
 */
const PARALLEL_PAIRING_BYTES = Number(process.env['DISTILL_STREAM_PARALLEL_PAIRING_BYTES'] ?? 8 << 20);

/** How much of a sorted file is read at a time to find a line in it: an entry is a few hundred bytes. */
const LINE_WINDOW_BYTES = 4 << 10;

const sortedFile = (folder: string): string => path.join(folder, 'out');

/**
 * Shards' sorted entries merged into pairing order, each moved past the valid rows of the shards
 * before it; with `from`, each file read from its first entry of that group on (found by bisection).
 */
export async function* mergedEntries<T>(folders: readonly string[], shifts: readonly number[], pairer: Pairer<T>, from?: string): AsyncGenerator<T> {
  const starts = await Promise.all(folders.map((folder) => (from === undefined ? 0 : startOfGroup(sortedFile(folder), from, pairer))));
  const sources = folders.map((folder, n) => shifted(entriesOf<T>(sortedFile(folder), starts[n]), (entry) => pairer.shifted(entry, shifts[n]!)));
  yield* mergeSorted(sources, (a, b) => pairer.compare(a, b));
}

/** The line of a sorted file that starts first at or after `position`: where it starts and its group (undefined at the end). */
async function lineFrom<T>(handle: FileHandle, position: number, pairer: Pairer<T>, window: Buffer): Promise<{ start: number; group: string | undefined }> {
  let start = position;
  if (position > 0) {
    // The line holding byte position - 1 ends at the first newline from there: the next one starts after it.
    for (let at = position - 1; ; at += window.length) {
      const { bytesRead } = await handle.read(window, 0, window.length, at);
      if (bytesRead === 0) return { start: at, group: undefined };
      const newline = window.subarray(0, bytesRead).indexOf(0x0a);
      if (newline >= 0) {
        start = at + newline + 1;
        break;
      }
    }
  }
  const parts: Buffer[] = [];
  for (let at = start; ; at += window.length) {
    const { bytesRead } = await handle.read(window, 0, window.length, at);
    if (bytesRead === 0) return { start, group: undefined };
    const newline = window.subarray(0, bytesRead).indexOf(0x0a);
    parts.push(Buffer.from(window.subarray(0, newline < 0 ? bytesRead : newline)));
    if (newline >= 0) return { start, group: pairer.group(JSON.parse(Buffer.concat(parts).toString('utf8')) as T) };
  }
}

/** Where the first entry of a group at or after `from` starts in a sorted file (its size when there is none). */
async function startOfGroup<T>(file: string, from: string, pairer: Pairer<T>): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const window = Buffer.allocUnsafe(LINE_WINDOW_BYTES);
    const reaches = async (position: number): Promise<{ start: number; reached: boolean }> => {
      const line = await lineFrom(handle, position, pairer, window);
      return { start: line.start, reached: line.group === undefined || byCodeUnits(line.group, from) >= 0 };
    };
    // The smallest position whose next line is of `from` or later: positions past it only reach later lines.
    let [low, high] = [0, (await handle.stat()).size];
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if ((await reaches(middle)).reached) high = middle;
      else low = middle + 1;
    }
    return (await reaches(low)).start;
  } finally {
    await handle.close();
  }
}

async function* shifted<T>(entries: AsyncIterable<T>, shift: (entry: T) => T): AsyncGenerator<T, undefined> {
  for await (const entry of entries) yield shift(entry);
  return undefined;
}

/** The entries of the groups in [from, until) (either end open when absent); stops reading at `until`. */
async function* withinGroups<T>(entries: AsyncIterable<T>, group: (entry: T) => string, from: string | undefined, until: string | undefined): AsyncGenerator<T> {
  for await (const entry of entries) {
    const name = group(entry);
    if (from !== undefined && byCodeUnits(name, from) < 0) continue;
    if (until !== undefined && byCodeUnits(name, until) >= 0) return;
    yield entry;
  }
}

/**
 * Where to cut the tasks into `count` ranges: the group of the entry at each k/count of the
 * largest shard's sorted file (shards cut the input by bytes, so each holds a like share of every
 * part of the order). Increasing, after the first group; fewer when cuts fall in one group; none
 * below the size bound.
 */
export async function groupCuts<T>(folders: readonly string[], pairer: Pairer<T>, count: number): Promise<string[]> {
  const sizes = await Promise.all(folders.map(async (folder) => (await stat(sortedFile(folder))).size));
  if (count < 2 || sizes.reduce((sum, size) => sum + size, 0) < PARALLEL_PAIRING_BYTES) return [];
  const largest = sizes.indexOf(Math.max(...sizes));
  const handle = await open(sortedFile(folders[largest]!), 'r');
  const cuts: string[] = [];
  try {
    const window = Buffer.allocUnsafe(LINE_WINDOW_BYTES);
    const first = (await lineFrom(handle, 0, pairer, window)).group;
    for (let k = 1; k < count; k++) {
      const { group } = await lineFrom(handle, Math.floor((sizes[largest]! * k) / count), pairer, window);
      // A cut at the first group would leave this process's range empty.
      if (group !== undefined && byCodeUnits(group, cuts.at(-1) ?? first!) > 0) cuts.push(group);
    }
  } finally {
    await handle.close();
  }
  return cuts;
}

/** A range's written pairs, with their ids sent to `ids` as they pass. */
async function* recordingIds(outcomes: AsyncIterable<PairOutcome>, ids: Writable): AsyncGenerator<PairOutcome> {
  for await (const outcome of outcomes) {
    if (outcome.kind === 'written' && !ids.write(`${outcome.id}\n`)) await drained(ids);
    yield outcome;
  }
}

/** Pairs the tasks of `job` into the files of `into` (the work of a range's process): its counts. */
export async function pairRangeToFiles<T>(job: PairRangeJob, pairer: Pairer<T>, context: { stage: StageName; recordedAt: string }, into: Omit<PairedRange, 'counts'>, counts: PairCounts): Promise<RangeCounts> {
  const [output, quarantine, ids] = [into.output, into.quarantine, into.ids].map((file) => createWriteStream(file));
  try {
    const writer = new QuarantineWriter(quarantine!, context.stage, context.recordedAt);
    const entries = withinGroups(mergedEntries(job.folders, job.shifts, pairer, job.from), (entry) => pairer.group(entry), job.from, job.until);
    await writePairs(recordingIds(pairer.pairs(entries, new IdSet()), ids!), output!, writer, counts);
    await writer.flushed();
  } finally {
    for (const stream of [output, quarantine, ids]) stream!.end();
    await Promise.all([output, quarantine, ids].map((stream) => finished(stream!)));
  }
  return { out: counts.out, paired: counts.paired, quarantinedPairs: counts.quarantinedPairs, byReason: Object.fromEntries(counts.byReason), violations: counts.violations };
}

/** The ids of a file of written ids, one a line. */
async function* idsIn(file: string): AsyncGenerator<string> {
  for await (const batch of createReadStream(file).pipe(new LineSplitter({ maxLineBytes: 1 << 10 })) as AsyncIterable<Array<{ text: string }>>) for (const line of batch) yield line.text;
}

/** Whether a range written elsewhere holds an id already written; when not, its ids are added. */
async function takeIds(file: string, written: IdSet): Promise<boolean> {
  for await (const id of idsIn(file)) if (written.has(idDigits(id))) return false;
  for await (const id of idsIn(file)) written.add(idDigits(id));
  return true;
}

function addCounts(counts: PairCounts, range: RangeCounts): void {
  counts.out += range.out;
  counts.paired += range.paired;
  counts.quarantinedPairs += range.quarantinedPairs;
  for (const [reason, n] of Object.entries(range.byReason) as Array<[QuarantineReason, number]>) counts.countReason(reason, n);
  counts.violations.push(...range.violations);
}

/**
 * Pass 2 of a merge: the shards' sorted entries paired into `output` and `quarantine` (after the
 * row quarantines), in ranges across processes when `ranges` allows and the entries are many.
 */
export async function pairMerged<T>(
  job: Omit<PairRangeJob, 'from' | 'until'>,
  pairer: Pairer<T>,
  context: { stage: StageName; recordedAt: string; keyed?: boolean },
  output: Writable,
  quarantine: Writable,
  counts: PairCounts,
  ranges: PairRanges | undefined,
  copy: (file: string, out: Writable) => Promise<void>,
): Promise<void> {
  const writer = new QuarantineWriter(quarantine, context.stage, context.recordedAt);
  const written = new IdSet();
  const group = (entry: T): string => pairer.group(entry);
  const pairHere = async (from: string | undefined, until: string | undefined): Promise<void> => {
    await writePairs(pairer.pairs(withinGroups(mergedEntries(job.folders, job.shifts, pairer, from), group, from, until), written), output, writer, counts, context.keyed);
    await writer.flushed();
  };
  // A keyed output (Parquet) takes its pairs as keyed lines, not as bytes a part can hold.
  const cuts = ranges === undefined || context.keyed === true ? [] : await groupCuts(job.folders, pairer, ranges.count);
  if (cuts.length === 0) return pairHere(undefined, undefined);
  const stop = new AbortController();
  const elsewhere = cuts.map((from, k) => ranges!.pair({ ...job, from, ...(k + 1 < cuts.length ? { until: cuts[k + 1]! } : {}) }, stop.signal));
  for (const pending of elsewhere) pending.catch(() => undefined); // each is awaited in turn below, or abandoned
  try {
    await pairHere(undefined, cuts[0]);
    for (const [k, pending] of elsewhere.entries()) {
      const range = await pending;
      if (!(await takeIds(range.ids, written))) {
        stop.abort(); // a pair there repeats one written before it: the rest is paired here, in order
        return await pairHere(cuts[k], undefined);
      }
      addCounts(counts, range.counts);
      await copy(range.output, output);
      await copy(range.quarantine, quarantine);
    }
  } finally {
    stop.abort();
    await Promise.allSettled(elsewhere);
  }
}

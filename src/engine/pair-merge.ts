import { createWriteStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { IdSet } from '../core/id-set.js';
import { DistillError, ioError } from '../errors.js';
import { entriesOf, mergeSorted } from '../io/external-sort.js';
import type { QuarantineReason, StageName } from '../records.js';
import { PairCounts } from './counts.js';
import { QuarantineWriter } from './quarantine.js';
import { writePairs } from './run.js';
import { copyInto, DUPLICATE_KEYS, mergeCounts, RecordFile, recordChunks, type ShardCounts } from './shards.js';
import type { PairOutcome, Pairer } from './stage.js';

/**
 * The merge of a pairing stage's shards (preference). Pairing needs every row of a group (a task)
 * together, so it waits for all shards and was the serial tail of a sharded run: the last 7-8 s of
 * a 2-shard export-all at 1 GB. The shards' sorted runs are cut into ranges of whole groups,
 * paired side by side (this process takes the first range, other processes the rest), and appended
 * in range order.
 *
 * Only the pair ids tie one range to another: a pair whose id an earlier range wrote is a
 * duplicate_id. A range paired apart starts from no ids, so until it meets such an id it does
 * exactly what one process would; if it wrote one, it is paired again here, after the ranges
 * before it. The bytes are one process's either way.
 */

/**
 * A sorted run of a shard's entries: the bytes [start, end) of its `out` part (a shard writes its
 * sort's runs one after the other), whose input positions move by `shift` (past the earlier shards' rows).
 */
export interface SortedRun {
  file: string;
  start: number;
  end: number;
  shift: number;
}

/** A range of groups: in each sorted run, the bytes [start, end) of its lines in that range. */
export interface PairRange {
  starts: number[];
  ends: number[];
}

/** What pairing changes in a stage's counts (see writePairs). */
export interface PairingCounts {
  out: number;
  paired: number;
  quarantinedPairs: number;
  byReason: Partial<Record<QuarantineReason, number>>;
  violations: string[];
}

/** A range paired in another process: its files (output lines, pair quarantine rows, written pair ids) and counts. */
export interface PairedRange {
  output: string;
  quarantine: string;
  written: string;
  counts: PairingCounts;
}

/** One range for another process: the shards' sorted runs and the range. */
export interface RangeShare {
  runs: SortedRun[];
  range: PairRange;
}

/** Pairs ranges in other processes, beside this one. */
export interface PairElsewhere {
  /** Processes the pairing may use, this one included. */
  processes: number;
  /** Pairs range `n` in another process (its files in a folder of its own); rejects with that process's error, or once `signal` aborts. */
  pair(share: RangeShare, n: number, signal: AbortSignal): Promise<PairedRange>;
}

/**
 * Below this many bytes of sorted entries a range is not worth a process: one starts, opens the
 * index and compiles its schemas in ~0.4 s on the 2-core bench machine, and pairs ~10 MB/s of entries.
 * Test seam: DISTILL_STREAM_MIN_PAIR_RANGE_BYTES lets a small input pair in ranges too.
 */
const MIN_RANGE_BYTES = Number(process.env['DISTILL_STREAM_MIN_PAIR_RANGE_BYTES'] ?? 8 << 20);

/** A written pair id: its 16 hex digits as two unsigned 32-bit halves. */
const ID_BYTES = 8;

/** The sorted runs of each shard's `out` part, in shard order; each shard's input positions move past the valid rows of the shards before it. */
export async function sortedRuns(folders: readonly string[], shards: readonly ShardCounts[]): Promise<SortedRun[]> {
  const runs: SortedRun[] = [];
  let shift = 0;
  for (const [n, folder] of folders.entries()) {
    const file = path.join(folder, 'out');
    const { size } = await stat(file);
    const ends = shards[n]!.runEnds ?? [size];
    if ((ends.at(-1) ?? 0) !== size) throw new DistillError('DS_IO', `${file}: ${size} bytes where the shard wrote ${ends.at(-1) ?? 0}; run the shard again`, { path: file });
    let start = 0;
    for (const end of ends) {
      if (end > start) runs.push({ file, start, end, shift });
      start = end;
    }
    shift += shards[n]!.validRows ?? 0;
  }
  return runs;
}

/** The sorted runs' entries (all, or one range of them) merged into one pairing order. */
export function mergedEntries(runs: readonly SortedRun[], pairer: Pairer<unknown>, range?: PairRange): AsyncGenerator<unknown> {
  const sources = runs.map((run, n) =>
    shifted(entriesOf<unknown>(run.file, range === undefined ? run : { start: range.starts[n]!, end: range.ends[n]! }), (entry) => pairer.shifted(entry, run.shift)),
  );
  return mergeSorted(sources, (a, b) => pairer.compare(a, b));
}

async function* shifted<T>(entries: AsyncIterable<T>, shift: (entry: T) => T): AsyncGenerator<T, undefined> {
  for await (const entry of entries) yield shift(entry);
  return undefined;
}

/**
 * A pairing merge begun: the shards' sorted runs, and — with other processes and enough entries —
 * its ranges after the first already being paired there. Begun before the merge writes anything,
 * so those processes start up and pair while the merge still writes the datasets before it.
 */
export interface PairsBegun {
  folders: readonly string[];
  pairer: Pairer<unknown>;
  /** Whether the stage's parts are sets that take rows with their keys (written in one range, by the merge). */
  keyed: boolean;
  runs: SortedRun[];
  /** The ranges, the first paired by the merge itself; empty for one range (all of it paired by the merge). */
  ranges: PairRange[];
  others: Array<Promise<PairedRange>>;
  stop: AbortController;
}

/** Reads a pairing stage's sorted runs and hands its later ranges to `elsewhere` (see the module comment). */
export async function beginPairs(folders: readonly string[], shards: readonly ShardCounts[], pairer: Pairer<unknown>, keyed: boolean, elsewhere?: PairElsewhere): Promise<PairsBegun> {
  const runs = await sortedRuns(folders, shards);
  // A set of parts takes rows with their keys, not a file's bytes: it is paired by the merge, in one range.
  const cut = elsewhere === undefined || keyed ? [] : await pairRanges(runs, pairer, elsewhere.processes);
  const ranges = cut.length < 2 ? [] : cut;
  const stop = new AbortController();
  const others = ranges.slice(1).map((range, n) => elsewhere!.pair({ runs, range }, n + 1, stop.signal));
  for (const other of others) other.catch(() => undefined); // each is awaited by the merge, or settled once stopped
  return { folders, pairer, keyed, runs, ranges, others, stop };
}

/** Stops what a begun merge handed to other processes, once they have ended: the merge will not take it. */
export async function abandonPairs(begun: PairsBegun): Promise<void> {
  begun.stop.abort();
  await Promise.allSettled(begun.others);
}

/**
 * Merges a pairing stage's shards: the row quarantines in shard order, then the shards' sorted
 * runs merged into one pairing order (each shard's input positions moved past the earlier
 * shards' rows) and paired as one process would, pair quarantines after the rows'. The ranges
 * `begun` handed to other processes are appended after the merge's own, in order.
 */
export async function mergePairs(
  begun: PairsBegun,
  shards: readonly ShardCounts[],
  context: { stage: StageName; recordedAt: string },
  output: Writable,
  quarantine: Writable,
  counts: PairCounts,
): Promise<void> {
  const { folders, pairer, keyed, runs, ranges, others } = begun;
  try {
    mergeCounts(shards, counts);
    for (const folder of folders) await copyInto(path.join(folder, 'quarantine'), quarantine);
    const written = new IdSet();
    const writer = new QuarantineWriter(quarantine, context.stage, context.recordedAt);
    const pairHere = async (range?: PairRange): Promise<void> => {
      await writePairs(pairer.pairs(mergedEntries(runs, pairer, range), written), output, writer, counts, keyed);
      await writer.flushed();
    };
    await pairHere(ranges[0]);
    for (const [n, other] of others.entries()) {
      const paired = await other;
      if (await anyWritten(paired.written, written)) {
        await pairHere(ranges[n + 1]); // it wrote a pair an earlier range wrote: paired again, after them
        continue;
      }
      for await (const [high, low] of idsIn(paired.written)) written.addKey(high, low);
      await copyInto(paired.output, output);
      await copyInto(paired.quarantine, quarantine);
      addPairing(counts, paired.counts);
    }
  } catch (error) {
    await abandonPairs(begun);
    throw error;
  }
}

/** The pair ids a range paired apart wrote, each as its high and low 32 bits. */
async function* idsIn(file: string): AsyncGenerator<[high: number, low: number]> {
  for await (const chunk of recordChunks(file, ID_BYTES)) for (let at = 0; at < chunk.length; at += ID_BYTES) yield [chunk.readUInt32LE(at), chunk.readUInt32LE(at + 4)];
}

/** Whether a range paired apart wrote a pair id already in `written`. */
async function anyWritten(file: string, written: IdSet): Promise<boolean> {
  for await (const [high, low] of idsIn(file)) if (written.hasKey(high, low)) return true;
  return false;
}

function addPairing(counts: PairCounts, paired: PairingCounts): void {
  counts.out += paired.out;
  counts.paired += paired.paired;
  counts.quarantinedPairs += paired.quarantinedPairs;
  for (const [reason, n] of Object.entries(paired.byReason)) counts.countReason(reason as QuarantineReason, n);
  counts.violations.push(...paired.violations);
}

/**
 * Pairs one range of a merge's groups into `folder` (another process's share): its output lines,
 * its pair quarantine rows and the ids of the pairs it wrote, each a file there.
 */
export async function pairRange({ runs, range }: RangeShare, pairer: Pairer<unknown>, context: { stage: StageName; recordedAt: string }, folder: string): Promise<PairedRange> {
  const files = { output: path.join(folder, 'out'), quarantine: path.join(folder, 'quarantine'), written: path.join(folder, 'written') };
  const output = createWriteStream(files.output, { highWaterMark: 1 << 20 });
  const quarantine = createWriteStream(files.quarantine);
  const ids = new RecordFile(files.written, ID_BYTES);
  const counts = new PairCounts();
  try {
    const writer = new QuarantineWriter(quarantine, context.stage, context.recordedAt);
    await writePairs(recordingIds(pairer.pairs(mergedEntries(runs, pairer, range)), ids), output, writer, counts);
    await writer.flushed();
    output.end();
    quarantine.end();
    await Promise.all([finished(output), finished(quarantine), ids.close()]);
  } catch (cause) {
    output.destroy();
    quarantine.destroy();
    throw ioError(folder, cause);
  }
  const { out, paired, quarantinedPairs, violations } = counts;
  return { ...files, counts: { out, paired, quarantinedPairs, violations, byReason: Object.fromEntries(counts.byReason) } };
}

async function* recordingIds(outcomes: AsyncIterable<PairOutcome>, ids: RecordFile): AsyncGenerator<PairOutcome> {
  for await (const outcome of outcomes) {
    if (outcome.kind === 'written') {
      const [high, low] = DUPLICATE_KEYS['written-id'](outcome.id);
      const { buffer, at } = ids.next();
      buffer.writeUInt32LE(high, at);
      buffer.writeUInt32LE(low, at + 4);
    }
    yield outcome;
  }
}

/**
 * The sorted runs cut into at most `processes` ranges of whole groups, each about MIN_RANGE_BYTES
 * or more: the cuts are the groups found at even fractions of the largest run, and each run is cut
 * where its first line of that group or a later one begins (a binary search over its bytes).
 * Empty ranges are left out; fewer than two means pairing in one range.
 */
export async function pairRanges(runs: readonly SortedRun[], pairer: Pairer<unknown>, processes: number): Promise<PairRange[]> {
  const total = runs.reduce((sum, run) => sum + run.end - run.start, 0);
  const count = Math.min(processes, Math.floor(total / MIN_RANGE_BYTES));
  if (count < 2) return [];
  const handles = new Map<string, FileHandle>();
  try {
    for (const { file } of runs) if (!handles.has(file)) handles.set(file, await open(file, 'r'));
    const lines = (run: SortedRun): RunLines => new RunLines(handles.get(run.file)!, run);
    const groupAt = (text: string): string => pairer.group(JSON.parse(text));
    const largest = runs.reduce((big, run) => (run.end - run.start > big.end - big.start ? run : big));
    const cuts: string[] = [];
    for (let k = 1; k < count; k++) {
      const line = await lines(largest).from(largest.start + Math.floor(((largest.end - largest.start) * k) / count));
      const group = line === undefined ? undefined : groupAt(line.text);
      if (group !== undefined && group !== cuts.at(-1)) cuts.push(group);
    }
    const at: number[][] = [];
    for (const cut of cuts) at.push(await Promise.all(runs.map((run) => lines(run).first((text) => groupAt(text) >= cut))));
    const bounds = [runs.map((run) => run.start), ...at, runs.map((run) => run.end)];
    return bounds.slice(1).map((ends, r) => ({ starts: bounds[r]!, ends })).filter(({ starts, ends }) => ends.some((end, n) => end > starts[n]!));
  } catch (cause) {
    throw ioError(runs[0]!.file, cause);
  } finally {
    await Promise.all([...handles.values()].map((handle) => handle.close()));
  }
}

/** Bytes read at a time while looking for a line's end: sorted entries are a few hundred bytes. */
const PROBE_BYTES = 4096;

/** The lines of a sorted run, read by position. */
class RunLines {
  constructor(
    private readonly handle: FileHandle,
    private readonly run: SortedRun,
  ) {}

  /** Where the first line that satisfies `test` begins, in a run whose lines answer false then true: the run's end if none. */
  async first(test: (text: string) => boolean): Promise<number> {
    // The smallest position whose next line starts at or past the answer: ~27 reads for 100 MB.
    let low = this.run.start;
    let high = this.run.end;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const line = await this.from(middle);
      if (line === undefined || test(line.text)) high = middle;
      else low = middle + 1;
    }
    return (await this.from(low))?.start ?? this.run.end;
  }

  /** The first whole line that begins at or after `position` (its start and text), or undefined past the last. */
  async from(position: number): Promise<{ start: number; text: string } | undefined> {
    const start = position === this.run.start ? position : await this.afterNewline(position - 1);
    if (start >= this.run.end) return undefined;
    const end = await this.afterNewline(start);
    const bytes = Buffer.allocUnsafe(end - start);
    await this.handle.read(bytes, 0, bytes.length, start);
    return { start, text: bytes.toString('utf8').replace(/\n$/, '') };
  }

  /** The position just past the first newline at or after `from`; the run's end when there is none. */
  private async afterNewline(from: number): Promise<number> {
    const chunk = Buffer.allocUnsafe(PROBE_BYTES);
    for (let at = from; at < this.run.end; ) {
      const { bytesRead } = await this.handle.read(chunk, 0, Math.min(PROBE_BYTES, this.run.end - at), at);
      if (bytesRead === 0) break;
      const newline = chunk.subarray(0, bytesRead).indexOf(10);
      if (newline >= 0) return at + newline + 1;
      at += bytesRead;
    }
    return this.run.end;
  }
}

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
 * paired side by side and appended in range order: this process takes ranges from the front,
 * writing them straight to the output, other processes take them from the back, one at a time,
 * until the two meet. So the one that starts late (the merge, after the datasets before it) or
 * pairs slowly takes fewer, and they end within one range of each other.
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

/** Pairs ranges in other processes, beside this one. */
export interface PairElsewhere {
  /** Processes the pairing may use, this one included. */
  processes: number;
  /** Starts another process pairing ranges of these runs; it is stopped once `signal` aborts. */
  start(runs: readonly SortedRun[], signal: AbortSignal): RangePairing;
}

/** Another process pairing ranges of a merge's groups, one at a time. */
export interface RangePairing {
  /** Pairs range `n` (its files in a folder of its own); rejects with that process's error, or once the signal aborts. */
  pair(range: PairRange, n: number): Promise<PairedRange>;
  /** No more ranges: resolves once the process has ended. */
  end(): Promise<void>;
}

/**
 * Below this many bytes of sorted entries a range is not worth cutting: below two ranges no
 * process is started, and one starts, opens the index and compiles its schemas in ~0.4 s on the
 * 2-core bench machine, then pairs ~10 MB/s of entries.
 * Test seam: DISTILL_STREAM_MIN_PAIR_RANGE_BYTES lets a small input pair in ranges too.
 */
const MIN_RANGE_BYTES = Number(process.env['DISTILL_STREAM_MIN_PAIR_RANGE_BYTES'] ?? 8 << 20);

/**
 * Ranges cut per process: the merge and the others end within one range of each other, so the
 * smaller the ranges the better they balance, while each costs only opening the runs again.
 */
const RANGES_PER_PROCESS = 4;

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
 * Which ranges are taken: the merge takes them in order from the front, other processes from the
 * back, until none is left between them.
 */
class RangeClaims {
  /** The first range not taken from the front. */
  front = 0;
  private back: number;

  constructor(count: number) {
    this.back = count;
  }

  takeFront(): number | undefined {
    return this.front < this.back ? this.front++ : undefined;
  }

  takeBack(): number | undefined {
    return this.front < this.back ? --this.back : undefined;
  }

  /** Nothing more is taken (another process failed): the merge goes on to what it must wait for. */
  close(): void {
    this.back = this.front;
  }
}

/**
 * A pairing merge begun: the shards' sorted runs, and — with other processes and enough entries —
 * its ranges, the later ones already being paired there. Begun before the merge writes anything,
 * so those processes start up and pair while the merge still writes the datasets before it.
 */
export interface PairsBegun {
  folders: readonly string[];
  pairer: Pairer<unknown>;
  runs: SortedRun[];
  /** The ranges, the first one the merge's own; empty for one range (all of it paired by the merge). */
  ranges: PairRange[];
  claims: RangeClaims;
  /** The ranges other processes took, by index. */
  pairedElsewhere: Map<number, Promise<PairedRange>>;
  /** The other processes, each done when no range is left for it. */
  processes: Array<Promise<void>>;
  stop: AbortController;
}

/** Reads a pairing stage's sorted runs and starts `elsewhere`'s processes on its ranges from the back (see the module comment). */
export async function beginPairs(folders: readonly string[], shards: readonly ShardCounts[], pairer: Pairer<unknown>, keyed: boolean, elsewhere?: PairElsewhere): Promise<PairsBegun> {
  const runs = await sortedRuns(folders, shards);
  // A set of parts takes rows with their keys, not a file's bytes: it is paired by the merge, in one range.
  const cut = elsewhere === undefined || keyed ? [] : await pairRanges(runs, pairer, elsewhere.processes * RANGES_PER_PROCESS);
  const ranges = cut.length < 2 ? [] : cut;
  const claims = new RangeClaims(ranges.length);
  claims.takeFront(); // the first range is the merge's: it writes straight to the output
  const stop = new AbortController();
  const pairedElsewhere = new Map<number, Promise<PairedRange>>();
  const processes = ranges.length === 0 ? [] : Array.from({ length: Math.min(elsewhere!.processes, ranges.length) - 1 }, () => pairFromTheBack(elsewhere!.start(runs, stop.signal), ranges, claims, pairedElsewhere));
  for (const other of processes) other.catch(() => undefined); // awaited by the merge when it must, or settled once stopped
  return { folders, pairer, runs, ranges, claims, pairedElsewhere, processes, stop };
}

/** One other process's work: the last range not taken, until none is left; it ends either way. */
async function pairFromTheBack(pairing: RangePairing, ranges: readonly PairRange[], claims: RangeClaims, pairedElsewhere: Map<number, Promise<PairedRange>>): Promise<void> {
  try {
    for (let n = claims.takeBack(); n !== undefined; n = claims.takeBack()) {
      const paired = pairing.pair(ranges[n]!, n);
      paired.catch(() => undefined); // awaited by the merge in range order
      pairedElsewhere.set(n, paired);
      await paired;
    }
  } catch (error) {
    claims.close();
    throw error;
  } finally {
    await pairing.end();
  }
}

/** Stops what a begun merge handed to other processes, once they have ended: the merge will not take it. */
export async function abandonPairs(begun: PairsBegun): Promise<void> {
  begun.stop.abort();
  await Promise.allSettled(begun.processes);
}

/**
 * Merges a pairing stage's shards: the row quarantines in shard order, then the shards' sorted
 * runs merged into one pairing order (each shard's input positions moved past the earlier
 * shards' rows) and paired as one process would, pair quarantines after the rows'. The ranges
 * other processes took are appended after the merge's own, in order.
 */
export async function mergePairs(
  begun: PairsBegun,
  shards: readonly ShardCounts[],
  context: { stage: StageName; recordedAt: string; keyed?: boolean },
  output: Writable,
  quarantine: Writable,
  counts: PairCounts,
): Promise<void> {
  const { folders, pairer, runs, ranges, claims, pairedElsewhere, processes } = begun;
  try {
    mergeCounts(shards, counts);
    for (const folder of folders) await copyInto(path.join(folder, 'quarantine'), quarantine);
    const written = new IdSet();
    const writer = new QuarantineWriter(quarantine, context.stage, context.recordedAt);
    const pairHere = async (range?: PairRange): Promise<void> => {
      await writePairs(pairer.pairs(mergedEntries(runs, pairer, range), written), output, writer, counts, context.keyed);
      await writer.flushed();
    };
    await pairHere(ranges[0]);
    for (let n = claims.takeFront(); n !== undefined; n = claims.takeFront()) await pairHere(ranges[n]);
    for (let n = claims.front; n < ranges.length; n++) {
      const other = pairedElsewhere.get(n);
      if (other === undefined) {
        await Promise.all(processes); // only a failed process leaves a range to nobody: this throws its error
        throw new DistillError('DS_INTERNAL', `pairing range ${n} of the ${context.stage} merge was taken by no process`);
      }
      const paired = await other;
      if (await anyWritten(paired.written, written)) {
        await pairHere(ranges[n]); // it wrote a pair an earlier range wrote: paired again, after them
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
export async function pairRange(runs: readonly SortedRun[], range: PairRange, pairer: Pairer<unknown>, context: { stage: StageName; recordedAt: string }, folder: string): Promise<PairedRange> {
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
 * The sorted runs cut into at most `most` ranges of whole groups, each about MIN_RANGE_BYTES
 * or more: the cuts are the groups found at even fractions of the largest run, and each run is cut
 * where its first line of that group or a later one begins (a binary search over its bytes).
 * Empty ranges are left out; fewer than two means pairing in one range.
 */
export async function pairRanges(runs: readonly SortedRun[], pairer: Pairer<unknown>, most: number): Promise<PairRange[]> {
  const total = runs.reduce((sum, run) => sum + run.end - run.start, 0);
  const count = Math.min(most, Math.floor(total / MIN_RANGE_BYTES));
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

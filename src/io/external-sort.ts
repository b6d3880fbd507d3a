import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { ioError } from '../errors.js';
import { trackTemp, untrackTemp } from './temp-path.js';
import { removeAbandonedFolders } from './temp-path.js';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream';
import { finished } from 'node:stream/promises';
import { LineSplitter } from './line-splitter.js';
import { Heap } from '../core/heap.js';

/**
 * Entries sorted in memory before a run is spilled: preference rows take ~400 bytes each as objects,
 * so a run holds ~10 MB. On the 1 GB bench export-all's two processes peaked at 355 MB together with
 * 25,000, at 397-443 MB with 50,000, in the same time.
 */
export const DEFAULT_RUN_ENTRIES = 25_000;

/** Test seam: DISTILL_STREAM_SORT_RUN_ENTRIES=<n> spills every n entries, so a small input spills too. */
const RUN_ENTRIES = Number(process.env['DISTILL_STREAM_SORT_RUN_ENTRIES'] ?? DEFAULT_RUN_ENTRIES) || DEFAULT_RUN_ENTRIES;

/** `distill-sort-<pid>-<random>`: a spill folder names the process that made it, so a killed one's can be told apart. */
const SPILL_PREFIX = 'distill-sort-';

/** Where a spill failure is reported: the temp folder, named as the user sets it. */
const spillLabel = (): string => os.tmpdir();

/**
 * Bytes read at a time from each run while merging. Every run is open at once, so this times the
 * number of runs (which grows with the input) is what the merge holds: small chunks keep it flat.
 * Each open run held ~2 MB with 64 KiB chunks (the chunks and the lines cut from them), ~0.2 MB
 * with 16 KiB: preference over 61 runs peaked at 303 MB, now 194 MB (181 MB over 7 runs), and ran
 * no slower.
 */
const RUN_READ_CHUNK_BYTES = 16 << 10;

/**
 * Sorts more entries than fit in memory: runs of `runEntries` are sorted in memory and spilled as
 * JSON lines to a temp folder, then merged. Memory holds one run while adding and one entry per run
 * while merging. The comparator must be a total order for the result to be deterministic.
 */
export class ExternalSorter<T> {
  private buffer: T[] = [];
  private readonly runFiles: string[] = [];
  private folder: string | undefined;

  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly runEntries = RUN_ENTRIES,
  ) {}

  async add(entry: T): Promise<void> {
    this.buffer.push(entry);
    if (this.buffer.length >= this.runEntries) await this.spill();
  }

  /** Every entry added, in order; the sorter cleans its temp files when iteration ends. */
  async *sorted(): AsyncGenerator<T> {
    try {
      if (this.runFiles.length === 0) {
        yield* this.buffer.sort(this.compare);
        return;
      }
      if (this.buffer.length > 0) await this.spill();
      yield* this.merge();
    } finally {
      this.buffer = [];
      await this.dispose();
    }
  }

  /**
   * Every entry added, as sorted runs: JSON-lines files, each sorted, for a merge elsewhere to merge
   * (a shard's, with the other shards' runs). They stay until dispose.
   */
  async runs(): Promise<string[]> {
    if (this.buffer.length > 0) await this.spill();
    return [...this.runFiles];
  }

  /** Removes the spilled runs; a run that fails or stops early calls it, and a signal or exit removes them too. */
  async dispose(): Promise<void> {
    if (this.folder === undefined) return;
    await rm(this.folder, { recursive: true, force: true });
    untrackTemp(this.folder);
    this.folder = undefined;
  }

  private async spill(): Promise<void> {
    try {
      if (this.folder === undefined) {
        await removeAbandonedFolders(SPILL_PREFIX);
        this.folder = await mkdtemp(path.join(os.tmpdir(), `${SPILL_PREFIX}${process.pid}-`));
        trackTemp(this.folder);
      }
      const file = path.join(this.folder, `run-${this.runFiles.length}.jsonl`);
      const out = createWriteStream(file, { highWaterMark: 1 << 20 });
      try {
        for (const entry of this.buffer.sort(this.compare)) {
          if (!out.write(`${JSON.stringify(entry)}\n`)) await once(out, 'drain'); // rejects on the stream's error
        }
        out.end();
        await finished(out);
      } finally {
        out.destroy();
      }
      this.runFiles.push(file);
      this.buffer = [];
    } catch (cause) {
      await this.dispose().catch(() => undefined); // the error to report is the spill's
      throw ioError(spillLabel(), cause, 'TMPDIR');
    }
  }

  private merge(): AsyncGenerator<T> {
    return mergeSorted(this.runFiles.map((file) => entriesOf<T>(file)), this.compare);
  }
}

/**
 * k-way merge of sorted sequences; ties go to the earlier sequence, so equal entries keep their
 * order. The heads sit in a heap: each entry costs O(log k) comparisons, not k (a large input
 * sorts into many runs, and a merge of many shards reads one sequence per shard).
 */
export async function* mergeSorted<T>(sources: ReadonlyArray<AsyncIterator<T, undefined>>, compare: (a: T, b: T) => number): AsyncGenerator<T> {
  const heads = new Heap<{ entry: T; source: number }>((a, b) => {
    const order = compare(a.entry, b.entry);
    return order < 0 || (order === 0 && a.source < b.source);
  });
  for (const [source, iterator] of sources.entries()) {
    const first = await iterator.next();
    if (!first.done) heads.push({ entry: first.value, source });
  }
  for (let head = heads.top(); head !== undefined; head = heads.top()) {
    yield head.entry;
    const next = await sources[head.source]!.next();
    if (next.done) heads.pop();
    else heads.replaceTop({ entry: next.value, source: head.source });
  }
}

/** The entries of a JSON-lines file written by a sort (or a shard), in order; with `bytes`, those of its lines in [start, end). */
export async function* entriesOf<T>(file: string, bytes?: { start: number; end: number }): AsyncGenerator<T, undefined> {
  if (bytes !== undefined && bytes.end <= bytes.start) return undefined;
  const range = bytes === undefined ? {} : { start: bytes.start, end: bytes.end - 1 }; // a read stream's end is inclusive
  const lines = pipeline(createReadStream(file, { highWaterMark: RUN_READ_CHUNK_BYTES, ...range }), new LineSplitter({ maxLineBytes: Number.MAX_SAFE_INTEGER }), () => {});
  for await (const batch of lines as AsyncIterable<Array<{ text: string }>>) for (const line of batch) yield JSON.parse(line.text) as T;
  return undefined;
}

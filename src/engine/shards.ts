import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { runIdKey } from '../core/ids.js';
import { IdSet } from '../core/id-set.js';
import { SmallestHashSample } from '../core/sample.js';
import { DistillError, ioError } from '../errors.js';
import { drained } from '../io/drain.js';
import type { Category, QuarantineReason, SourceLocation, StageName } from '../records.js';
import type { FileDigest } from '../receipts.js';
import { PairCounts, SHAPES_PER_REASON, StageCounts, type RejectedShape } from './counts.js';
import { quarantineParts, quarantineRow } from './quarantine.js';
import type { Kept } from './row.js';
import type { RowRecorder } from './row-stage.js';

/**
 * Sharding: each shard runs a stage on its pieces of the input and writes, besides its parts of
 * the outputs, what only the whole input can decide — which rows it kept under which duplicate key,
 * and where its quarantine rows stand — so the merge settles cross-shard duplicates and keeps
 * input order exactly, giving the bytes one process would.
 */

const CATEGORIES: readonly Category[] = ['accepted', 'partially_accepted', 'rejected', 'needs_human_review'];
const NO_CATEGORY = 255;

/** A kept row's record: duplicate key (64 bits), input position (file, line), category, bytes written, partition. */
const KEPT_BYTES = 4 + 4 + 4 + 8 + 1 + 4 + 4;
/** A quarantine row's record: input position and bytes. */
const PLACED_BYTES = 4 + 8 + 4;
/**
 * How much of a shard's part the merge reads at a time. 1 MiB instead of 64 KiB: the merge of a
 * 2-shard sft over 1 GB (420 MB of parts) went from 3.7 s to 2.7 s.
 */
const PART_READ_BYTES = 1 << 20;

/** The 64-bit key two rows share exactly when the stage calls them duplicates, as its high and low 32 bits. */
export type DuplicateKey = (sampleKey: string) => [high: number, low: number];

/** The hex tail of a sample id (`sft-<16 hex>`) as its two halves. */
function idTailKey(id: string): [number, number] {
  const tail = id.slice(id.indexOf('-') + 1);
  return [Number.parseInt(tail.slice(0, 8), 16) >>> 0, Number.parseInt(tail.slice(8, 16), 16) >>> 0];
}

/** sft/rag: the hex tail of the sample id; collect: the run_id's key (the first 64 bits of sha256 of its UTF-16 units). */
export const DUPLICATE_KEYS: Readonly<Record<'written-id' | 'run-id', DuplicateKey>> = {
  'written-id': idTailKey,
  'run-id': runIdKey,
};

const NO_KEY: [number, number] = [0, 0];

/** Appends fixed-size records to a file, a buffer at a time. */
export class RecordFile {
  private readonly stream: WriteStream;
  private chunk: Buffer;
  private at = 0;

  constructor(
    file: string,
    private readonly size: number,
  ) {
    this.stream = createWriteStream(file);
    this.chunk = Buffer.allocUnsafe(size * 4096);
  }

  next(): { buffer: Buffer; at: number } {
    if (this.at + this.size > this.chunk.length) this.flush();
    const at = this.at;
    this.at += this.size;
    return { buffer: this.chunk, at };
  }

  private flush(): void {
    if (this.at === 0) return;
    this.stream.write(this.chunk.subarray(0, this.at));
    this.chunk = Buffer.allocUnsafe(this.chunk.length);
    this.at = 0;
  }

  async close(): Promise<void> {
    this.flush();
    this.stream.end();
    await finished(this.stream);
  }
}

/** What a shard records of each row it decided: see the module comment. */
export class ShardRecorder implements RowRecorder {
  private readonly kepts: RecordFile;
  private readonly placed: RecordFile;
  /** Partition names in the order first met (collect), by index. */
  readonly partitions: string[] = [];
  private readonly partitionIndex = new Map<string, number>();

  constructor(
    folder: string,
    private readonly ordinalOf: (display: string) => number,
    private readonly duplicateKey: DuplicateKey | undefined,
  ) {
    this.kepts = new RecordFile(path.join(folder, 'kept'), KEPT_BYTES);
    this.placed = new RecordFile(path.join(folder, 'placed'), PLACED_BYTES);
  }

  kept(location: SourceLocation, kept: Kept<unknown>, bytes: number): void {
    const { buffer, at } = this.kepts.next();
    const [high, low] = kept.sampleKey === undefined || this.duplicateKey === undefined ? NO_KEY : this.duplicateKey(kept.sampleKey);
    buffer.writeUInt32LE(high, at);
    buffer.writeUInt32LE(low, at + 4);
    buffer.writeUInt32LE(this.ordinalOf(location.source_file), at + 8);
    buffer.writeDoubleLE(location.line_offset, at + 12);
    buffer.writeUInt8(kept.category === undefined ? NO_CATEGORY : CATEGORIES.indexOf(kept.category), at + 20);
    buffer.writeUInt32LE(bytes, at + 21);
    buffer.writeUInt32LE(this.partitionOf(kept.value), at + 25);
  }

  quarantined(location: SourceLocation, bytes: number): void {
    const { buffer, at } = this.placed.next();
    buffer.writeUInt32LE(this.ordinalOf(location.source_file), at);
    buffer.writeDoubleLE(location.line_offset, at + 4);
    buffer.writeUInt32LE(bytes, at + 12);
  }

  private partitionOf(value: unknown): number {
    const partition = typeof value === 'object' && value !== null ? (value as { partition?: unknown }).partition : undefined;
    if (typeof partition !== 'string') return 0;
    let index = this.partitionIndex.get(partition);
    if (index === undefined) {
      index = this.partitions.length;
      this.partitions.push(partition);
      this.partitionIndex.set(partition, index);
    }
    return index;
  }

  async close(): Promise<void> {
    await this.kepts.close();
    await this.placed.close();
  }
}

/** One stage's result in a shard: its counts as the merge needs them. */
export interface ShardCounts {
  stage: StageName;
  in: number;
  out: number;
  quarantined: number;
  byReason: Partial<Record<QuarantineReason, number>>;
  byCategory: Partial<Record<Category, number>>;
  violations: string[];
  /** Files the shard read whole (a file cut across shards is hashed by the plan). */
  inputs: FileDigest[];
  /** Its parts of the outputs, each named by the output it is a part of. */
  outputs?: FileDigest[];
  /** Each sample metric's kept records, [id, value]. */
  samples: Record<string, Array<[string, number]>>;
  /** Pairing stages: rows that passed the row gates (pass 1). */
  validRows?: number;
  /** Pairing stages: where each sorted run ends in the `out` part (absent: the part is one run). */
  runEnds?: number[];
  /** Partitioned trees: partition names by index (as the kept records name them). */
  partitions?: string[];
  /** Rows scored by the default rule, by source. */
  unruledSources?: Record<string, number>;
  /** The first rejected rows' shapes, per reason. */
  rejectedShapes?: RejectedShape[];
}

export function shardCountsOf(stage: StageName, counts: StageCounts, partitions?: string[]): ShardCounts {
  return {
    stage,
    in: counts.in,
    out: counts.out,
    quarantined: counts.quarantined,
    byReason: Object.fromEntries(counts.byReason),
    byCategory: Object.fromEntries(counts.byCategory),
    violations: [...counts.violations],
    inputs: [...counts.inputs],
    outputs: [...counts.outputs],
    samples: counts.sampleEntries(),
    unruledSources: Object.fromEntries(counts.unruledSources),
    rejectedShapes: [...counts.rejectedShapes],
    ...(counts instanceof PairCounts ? { validRows: counts.validRows, runEnds: [...counts.runEnds] } : {}),
    ...(partitions === undefined ? {} : { partitions }),
  };
}

/** Sums the shards' counts into one stage's counts; samples merged with an id kept once (its earliest shard's value). */
export function mergeCounts(shards: readonly ShardCounts[], counts: StageCounts): void {
  const samples = new Map<string, { sample: SmallestHashSample; seen: Set<string> }>();
  const shapesKept = new Map<QuarantineReason, number>();
  for (const shard of shards) {
    counts.in += shard.in;
    counts.out += shard.out;
    counts.quarantined += shard.quarantined;
    for (const [reason, n] of Object.entries(shard.byReason)) counts.countReason(reason as QuarantineReason, n);
    for (const [category, n] of Object.entries(shard.byCategory)) counts.countCategory(category as Category, n);
    for (const [source, n] of Object.entries(shard.unruledSources ?? {})) counts.countUnruled(source, n);
    // Shards are in input order, so the first shapes of a reason are the earliest shard's.
    for (const shape of shard.rejectedShapes ?? []) {
      const kept = shapesKept.get(shape.reason) ?? 0;
      if (kept >= SHAPES_PER_REASON) continue;
      shapesKept.set(shape.reason, kept + 1);
      counts.rejectedShapes.push(shape);
    }
    counts.violations.push(...shard.violations);
    if (counts instanceof PairCounts) counts.validRows += shard.validRows ?? 0;
    for (const [metric, entries] of Object.entries(shard.samples)) {
      let merged = samples.get(metric);
      if (merged === undefined) samples.set(metric, (merged = { sample: new SmallestHashSample(), seen: new Set() }));
      for (const [id, value] of entries) {
        if (merged.seen.has(id)) continue; // a row a later shard repeats: one process would not have sampled it
        merged.seen.add(id);
        counts.sample(metric, id, value);
      }
    }
  }
}

/**
 * A chunk of a shard's kept records, read in place: one object per 4096 records, not one per record
 * (an object and a hex string per record were a third of a 2-shard collect merge at 1 GB).
 */
class KeptBatch {
  readonly count: number;

  constructor(private readonly chunk: Buffer) {
    this.count = chunk.length / KEPT_BYTES;
  }

  high = (n: number): number => this.chunk.readUInt32LE(n * KEPT_BYTES);
  low = (n: number): number => this.chunk.readUInt32LE(n * KEPT_BYTES + 4);
  /** The duplicate key as 16 hex digits (a sample id's tail): for the rare row that needs it. */
  hex = (n: number): string => hex8(this.high(n)) + hex8(this.low(n));
  file = (n: number): number => this.chunk.readUInt32LE(n * KEPT_BYTES + 8);
  line = (n: number): number => this.chunk.readDoubleLE(n * KEPT_BYTES + 12);
  category = (n: number): number => this.chunk.readUInt8(n * KEPT_BYTES + 20);
  bytes = (n: number): number => this.chunk.readUInt32LE(n * KEPT_BYTES + 21);
  partition = (n: number): number => this.chunk.readUInt32LE(n * KEPT_BYTES + 25);
}

const hex8 = (value: number): string => value.toString(16).padStart(8, '0');

/** A shard's kept records, in input order, a batch at a time; a file that ends inside a record is refused. */
async function* keptBatches(folder: string): AsyncGenerator<KeptBatch> {
  for await (const chunk of recordChunks(path.join(folder, 'kept'), KEPT_BYTES)) yield new KeptBatch(chunk);
}

/** A file of fixed-size records, 4096 records a chunk (the last may hold fewer); a file that ends inside a record is refused. */
export async function* recordChunks(file: string, size: number): AsyncGenerator<Buffer> {
  let held: Buffer | undefined; // the start of a record a short read cut
  for await (const read of createReadStream(file, { highWaterMark: size * 4096 }) as AsyncIterable<Buffer>) {
    const chunk = held === undefined ? read : Buffer.concat([held, read]);
    const whole = chunk.length - (chunk.length % size);
    held = whole === chunk.length ? undefined : chunk.subarray(whole);
    if (whole > 0) yield chunk.subarray(0, whole);
  }
  if (held !== undefined) throw new DistillError('DS_IO', `${file}: cut short inside a record (${held.length} of ${size} bytes); run the shard again`, { path: file });
}

/**
 * Input rows read again by (file, line): the repeats a merge found, asked for in input order, so
 * a reader can serve them all in one forward pass over the inputs.
 */
export interface SourceRecords {
  at(file: number, line: number): Promise<{ record: unknown; location: SourceLocation }>;
  close(): Promise<void>;
}

/**
 * Which of a shard's kept records repeat an earlier shard's key, by index: a bit each, allocated
 * at the first repeat. Not the repeats' quarantine rows: a shard whose input repeats an earlier
 * shard's wholly (the same file given twice) repeats every row it kept, and holding those rows
 * took 0.6 GB and 220 s for a 2-shard sft of 2 × 130 MB that one process ran in 17 s.
 */
class Repeats {
  private bits: Uint8Array | undefined;
  size = 0;

  constructor(private readonly keptCount: number) {}

  add(index: number): void {
    this.bits ??= new Uint8Array((this.keptCount + 7) >>> 3);
    this.bits[index >>> 3]! |= 1 << (index & 7);
    this.size++;
  }

  has(index: number): boolean {
    return this.bits !== undefined && (this.bits[index >>> 3]! & (1 << (index & 7))) !== 0;
  }
}

/** How the merge writes the quarantine row of a repeat: the stage, the run's time and the stage's words for it. */
export interface RepeatRows {
  stage: StageName;
  recordedAt: string;
  sourceRecords: SourceRecords;
  duplicateError: (key: string, record: unknown) => string;
}

/** The number of kept records a shard wrote. */
async function keptCount(folder: string): Promise<number> {
  return Math.floor((await stat(path.join(folder, 'kept'))).size / KEPT_BYTES);
}

/**
 * Finds the rows of later shards that repeat an earlier shard's key (in input order a shard's
 * rows all come after the previous shard's) and counts them as duplicate_id rows. Returns, per
 * shard, the kept records to drop (their quarantine rows are written later, by writeQuarantine).
 */
async function repeatsOf(folders: readonly string[], counts: StageCounts): Promise<Repeats[]> {
  const repeats: Repeats[] = [];
  const sizes = await Promise.all(folders.map(keptCount));
  // Sized for every key but the last shard's (no shard comes after it to repeat them): no resize on the way.
  const taken = new IdSet(sizes.slice(0, -1).reduce((sum, size) => sum + size, 0));
  for (const [s, folder] of folders.entries()) {
    const mine = new Repeats(sizes[s]!);
    let index = 0;
    for await (const kept of keptBatches(folder)) {
      for (let n = 0; n < kept.count; n++, index++) {
        if (!taken.hasKey(kept.high(n), kept.low(n))) continue;
        mine.add(index);
        counts.out--;
        counts.quarantined++;
        counts.countReason('duplicate_id');
        const category = kept.category(n);
        if (category !== NO_CATEGORY) uncount(counts, CATEGORIES[category]!);
      }
    }
    // Added after the shard is read: a repeat inside one shard was settled there.
    if (s < folders.length - 1) for await (const kept of keptBatches(folder)) for (let n = 0; n < kept.count; n++) taken.addKey(kept.high(n), kept.low(n));
    repeats.push(mine);
  }
  return repeats;
}

function uncount(counts: StageCounts, category: Category): void {
  const n = counts.byCategory.get(category)! - 1;
  if (n === 0) counts.byCategory.delete(category);
  else counts.byCategory.set(category, n);
}

/** A piece of a merged tree's file: a shard's part of it, less the byte ranges (sorted) to drop. */
export interface TreePart {
  file: string;
  skip: ReadonlyArray<[number, number]>;
}

/** Writes one file of a merged tree (relative to the tree) from its shards' parts, in order. */
export type WriteTreeFile = (relative: string, parts: readonly TreePart[]) => Promise<void>;

/** Copies the parts of a tree file to `out`, in order, each less its dropped ranges. */
export async function copyParts(parts: readonly TreePart[], out: Writable): Promise<void> {
  for (const part of parts) await copyDropping(part.file, out, part.skip);
}

/** Copies a file's bytes to `out` with backpressure, dropping the byte ranges `skip` (sorted). */
async function copyDropping(file: string, out: Writable, skip: ReadonlyArray<[number, number]>): Promise<void> {
  let position = 0;
  let next = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: PART_READ_BYTES }) as AsyncIterable<Buffer>) {
    let from = 0;
    while (from < chunk.length) {
      const [skipStart, skipEnd] = skip[next] ?? [Infinity, Infinity];
      const here = position + from;
      if (here >= skipEnd) {
        next++;
        continue;
      }
      if (here >= skipStart) {
        from = Math.min(chunk.length, skipEnd - position);
        continue;
      }
      const until = Math.min(chunk.length, skipStart - position);
      if (!out.write(chunk.subarray(from, until))) await drained(out);
      from = until;
    }
    position += chunk.length;
  }
}

/**
 * The byte ranges of the kept rows to drop in each of a shard's parts, by partition index (0 for an
 * output that is not partitioned), in one pass over its kept records.
 */
async function droppedRanges(folder: string, drop: Repeats): Promise<Map<number, Array<[number, number]>>> {
  const ranges = new Map<number, Array<[number, number]>>();
  if (drop.size === 0) return ranges;
  const written = new Map<number, number>(); // bytes so far in each partition's part
  let index = 0;
  for await (const kept of keptBatches(folder)) {
    for (let n = 0; n < kept.count; n++, index++) {
      const partition = kept.partition(n);
      const at = written.get(partition) ?? 0;
      written.set(partition, at + kept.bytes(n));
      if (!drop.has(index)) continue;
      let list = ranges.get(partition);
      if (list === undefined) ranges.set(partition, (list = []));
      list.push([at, at + kept.bytes(n)]);
    }
  }
  return ranges;
}

/** A shard's quarantine row places, in input order. */
async function* placedRecords(folder: string): AsyncGenerator<{ file: number; line: number; bytes: number }> {
  for await (const chunk of createReadStream(path.join(folder, 'placed'), { highWaterMark: PLACED_BYTES * 4096 }) as AsyncIterable<Buffer>) {
    for (let at = 0; at + PLACED_BYTES <= chunk.length; at += PLACED_BYTES) yield { file: chunk.readUInt32LE(at), line: chunk.readDoubleLE(at + 4), bytes: chunk.readUInt32LE(at + 12) };
  }
}

/** Reads a file's bytes a given count at a time, in order. */
class ByteReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private held: Buffer = Buffer.alloc(0);

  constructor(file: string) {
    this.chunks = (createReadStream(file, { highWaterMark: PART_READ_BYTES }) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async take(bytes: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let missing = bytes;
    while (missing > 0) {
      if (this.held.length === 0) {
        const { value, done } = await this.chunks.next();
        if (done) throw new Error('a shard part is shorter than its records say');
        this.held = value;
      }
      const part = this.held.subarray(0, missing);
      parts.push(part);
      missing -= part.length;
      this.held = this.held.subarray(part.length);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}

/** The kept records a shard's repeats stand for, in input order: where each was read and its key. */
async function* repeatedRecords(folder: string, repeats: Repeats): AsyncGenerator<{ file: number; line: number; key: string }> {
  let index = 0;
  for await (const kept of keptBatches(folder)) {
    for (let n = 0; n < kept.count; n++, index++) if (repeats.has(index)) yield { file: kept.file(n), line: kept.line(n), key: kept.hex(n) };
  }
}

/**
 * A shard's quarantine part with the merge's new rows for it (repeats of earlier shards) put in
 * their input places: both are in input order, so they interleave by (file, line), streamed, and
 * each repeat's source record is read again as its row is written.
 */
async function writeQuarantine(folder: string, repeats: Repeats, rows: RepeatRows, out: Writable): Promise<void> {
  if (repeats.size === 0) return copyDropping(path.join(folder, 'quarantine'), out, []);
  const [prefix, recordedAtJson] = quarantineParts(rows.stage, rows.recordedAt);
  const pending = repeatedRecords(folder, repeats);
  const part = new ByteReader(path.join(folder, 'quarantine'));
  let next = await pending.next();
  const writeRepeat = async (repeat: { file: number; line: number; key: string }): Promise<void> => {
    const { record, location } = await rows.sourceRecords.at(repeat.file, repeat.line);
    if (!out.write(quarantineRow(prefix, recordedAtJson, 'duplicate_id', [rows.duplicateError(repeat.key, record)], record, location))) await drained(out);
  };
  try {
    for await (const row of placedRecords(folder)) {
      for (; next.done !== true && before(next.value, row); next = await pending.next()) await writeRepeat(next.value);
      if (!out.write(await part.take(row.bytes))) await drained(out);
    }
    for (; next.done !== true; next = await pending.next()) await writeRepeat(next.value);
  } catch (cause) {
    throw ioError(folder, cause);
  } finally {
    await Promise.all([part.close(), pending.return(undefined)]);
  }
}

const before = (a: { file: number; line: number }, b: { file: number; line: number }): boolean => a.file < b.file || (a.file === b.file && a.line < b.line);

/**
 * Merges a dataset stage's shards (sft, rag): each shard's output part, less the rows that repeat
 * an earlier shard's sample id, and its quarantine part with those repeats put in place as
 * duplicate_id rows — byte for byte what one process writes. `keyed` outputs (a set of parts or
 * splits) take each row with its sample id, which the kept records hold.
 */
export async function mergeDataset(
  folders: readonly string[],
  shards: readonly ShardCounts[],
  context: RepeatRows & {
    duplicateKey: 'written-id' | 'run-id' | 'none';
    keyed?: boolean;
    /** The outputs already begin with the first shard's part (see firstParts): it is not copied again. */
    begunWith?: { output: boolean; quarantine: boolean };
  },
  output: Writable,
  quarantine: Writable,
  counts: StageCounts,
): Promise<void> {
  mergeCounts(shards, counts);
  const repeats = context.duplicateKey === 'none' ? folders.map(() => new Repeats(0)) : await repeatsOf(folders, counts);
  // The first shard repeats no earlier shard: its parts are the outputs' first bytes as they stand.
  const begun = (n: number, which: 'output' | 'quarantine'): boolean => n === 0 && context.begunWith?.[which] === true;
  for (const [n, folder] of folders.entries()) {
    if (context.keyed) await copyKeyed(folder, `${context.stage}-`, repeats[n]!, output);
    // A dataset row's value is its line (no partition), so the recorder filed every row under partition 0.
    else if (!begun(n, 'output')) await copyDropping(path.join(folder, 'out'), output, (await droppedRanges(folder, repeats[n]!)).get(0) ?? []);
    if (!begun(n, 'quarantine')) await writeQuarantine(folder, repeats[n]!, context, quarantine);
  }
}

/** A dataset stage's parts in the first shard's folder, which the merged output and quarantine can begin with. */
export const firstParts = (folder: string): { output: string; quarantine: string } => ({ output: path.join(folder, 'out'), quarantine: path.join(folder, 'quarantine') });

/** Rows handed to a keyed output at a time. */
const KEYED_BATCH = 256;

/**
 * A shard's output part as KeyedLine batches, less the dropped rows: each kept record gives its
 * row's bytes and the id's hex tail (the id is `prefix` + tail, as written-id keys are made).
 */
async function copyKeyed(folder: string, prefix: string, drop: Repeats, out: Writable): Promise<void> {
  const part = new ByteReader(path.join(folder, 'out'));
  let batch: Array<{ key: string; line: Uint8Array }> = [];
  let index = 0;
  try {
    for await (const kept of keptBatches(folder)) {
      for (let n = 0; n < kept.count; n++) {
        const line = await part.take(kept.bytes(n));
        if (!drop.has(index++)) batch.push({ key: prefix + kept.hex(n), line });
        if (batch.length === KEYED_BATCH) {
          if (!out.write(batch)) await drained(out);
          batch = [];
        }
      }
    }
    if (batch.length > 0 && !out.write(batch)) await drained(out);
  } catch (cause) {
    throw ioError(folder, cause);
  } finally {
    await part.close();
  }
}

/**
 * Merges a partitioned tree's shards (collect): each partition file is its shards' parts in shard
 * order less the rows that repeat an earlier shard's run_id, which become duplicate_id rows in the
 * quarantine. `writePartition` writes the final file of a partition (its name relative to the tree) from its parts.
 */
export async function mergePartitioned(
  folders: readonly string[],
  shards: readonly ShardCounts[],
  context: RepeatRows,
  writePartition: WriteTreeFile,
  quarantine: Writable,
  counts: StageCounts,
): Promise<void> {
  mergeCounts(shards, counts);
  const repeats = await repeatsOf(folders, counts);
  const partitions = [...new Set(shards.flatMap((shard) => shard.partitions ?? []))].sort();
  const dropped = await Promise.all(folders.map((folder, n) => droppedRanges(folder, repeats[n]!)));
  for (const partition of partitions) {
    const parts: TreePart[] = [];
    for (const [n, folder] of folders.entries()) {
      const index = shards[n]!.partitions?.indexOf(partition) ?? -1;
      if (index >= 0) parts.push({ file: path.join(folder, 'tree', partition), skip: dropped[n]!.get(index) ?? [] });
    }
    await writePartition(partition, parts);
  }
  for (const [n, folder] of folders.entries()) await writeQuarantine(folder, repeats[n]!, context, quarantine);
}

/** The files of a mirrored tree part (score), relative to the tree, in string order. */
export async function treeFiles(folder: string): Promise<string[]> {
  const found = await readdir(path.join(folder, 'tree'), { recursive: true, withFileTypes: true }).catch(() => []);
  return found
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(path.join(folder, 'tree'), path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

/** Streams `file` into `out` with backpressure. */
export const copyInto = (file: string, out: Writable): Promise<void> => copyDropping(file, out, []);


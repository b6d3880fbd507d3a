import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { sha256Hex } from '../core/canonical.js';
import { runIdKey } from '../core/ids.js';
import { analyseEvidenceLine, textOfLine, type EvidenceProjection } from '../core/evidence-line.js';
import { textJson } from '../core/evidence-text.js';
import { DistillError, ioError } from '../errors.js';
import type { ProgressSink } from '../progress.js';
import type { EvidenceText, JoinedEvidence } from '../records.js';
import { ensureFolder } from './folders.js';
import { killPoint } from './kill-point.js';
import { acquireLock } from './lock.js';
import { isBlankRange } from './line-splitter.js';
import { displayPath } from './paths.js';
import { readOwnJson, writeWhole } from './small-file.js';
import { walkInputFiles, type InputFile } from './walk.js';

export interface IndexReport {
  indexPath: string;
  files: number;
  /** Files read this time; the others were unchanged since the last build. */
  filesRead: number;
  rows: number;
  /** Rows that do not parse or fail the EvidenceRecord schema: they can never be joined. */
  unjoinable: number;
  durationMs: number;
  /** The generation joined (its index file's name): a plan pins it, so its shards and merge join that one or none. */
  generation: string;
}

/**
 * What the index knows of one evidence file: where it is in walk order (its position is the file's
 * ordinal in the entries), how to tell that it changed (size, mtime, ctime — which no user-space
 * tool can set back — inode and device), the CRC-32 of its content (so a copy or a `touch` is told
 * from a change without a rebuild), and its row counts.
 */
interface IndexedFile {
  path: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  crc32: number;
  rows: number;
  unjoinable: number;
}

interface Manifest {
  format: typeof FORMAT;
  /** The longest line the build accepted: it serves runs with that limit or a smaller one. */
  maxLineBytes: number;
  /** The index file of this generation, its size and CRC-32 (checked on open). */
  index: { file: string; bytes: number; crc32: number };
  files: IndexedFile[];
}

const FORMAT = 'distill-stream-evidence-index/3';
const MANIFEST_NAME = 'manifest.json';
const LOCK_NAME = 'writer.lock';
const INDEX_DIR_NAME = '.distill-index';
const MAGIC = Buffer.from('DSEVIDX3');
const HEADER_BYTES = 64;

/**
 * Entry layout (little endian): u32 entry bytes, u32 key high, u32 key low, u32 file ordinal,
 * u32 line offset high, u32 line offset low, u32 line length, u32 text start in the line, u32 text
 * end (0, 0: re-serialise from the line), u32 UTF-16 units, u32 embedding prefix, u8 flags
 * (bit 0: blank), u8 0, u16 projection bytes, then the projection as JSON.
 */
const ENTRY_FIXED = 48;
const FLAG_BLANK = 1;
/** Entries a bucket holds on average: one read of ~6 KB finds a run id. */
const ENTRIES_PER_BUCKET = 32;
/** Bytes of entries per spill partition while building: one partition is sorted in memory at a time. */
const PARTITION_BYTES = 16 << 20;
const READ_CHUNK = 1 << 20;
const NEWLINE = 0x0a;
const CR = 0x0d;

type Projected = EvidenceProjection & { title: string };

function encodeEntry(key: [number, number], ordinal: number, offset: number, length: number, analysed: NonNullable<ReturnType<typeof analyseEvidenceLine>>): Buffer {
  const { projection, facts, literal } = analysed;
  const meta = Buffer.from(
    JSON.stringify([
      projection.run_id,
      projection.task_id,
      projection.model_role,
      projection.model_name,
      projection.source_files,
      projection.matrix_corpora,
      projection.pathway_fingerprints_seen,
      projection.contractor,
      projection.source_file,
      facts.title,
    ]),
  );
  const entry = Buffer.allocUnsafe(ENTRY_FIXED + meta.length);
  entry.writeUInt32LE(entry.length, 0);
  entry.writeUInt32LE(key[0], 4);
  entry.writeUInt32LE(key[1], 8);
  entry.writeUInt32LE(ordinal, 12);
  entry.writeUInt32LE(Math.floor(offset / 2 ** 32), 16);
  entry.writeUInt32LE(offset % 2 ** 32, 20);
  entry.writeUInt32LE(length, 24);
  entry.writeUInt32LE(literal?.start ?? 0, 28);
  entry.writeUInt32LE(literal?.end ?? 0, 32);
  entry.writeUInt32LE(facts.units, 36);
  entry.writeUInt32LE(facts.embeddingPrefix, 40);
  entry.writeUInt8(facts.blank ? FLAG_BLANK : 0, 44);
  entry.writeUInt8(0, 45);
  entry.writeUInt16LE(meta.length, 46);
  meta.copy(entry, ENTRY_FIXED);
  if (meta.length > 0xffff) throw new DistillError('DS_IO', `an evidence row's projected fields take ${meta.length} bytes (at most 65535)`);
  return entry;
}

function decodeProjection(entry: Buffer, at: number): Projected {
  const length = entry.readUInt16LE(at + 46);
  const [run_id, task_id, model_role, model_name, source_files, matrix_corpora, pathway_fingerprints_seen, contractor, source_file, title] = JSON.parse(
    entry.toString('utf8', at + ENTRY_FIXED, at + ENTRY_FIXED + length),
  ) as [string, string, string, string, string[], string[], number, string, string, string];
  return { run_id, task_id, model_role, model_name, source_files, matrix_corpora, pathway_fingerprints_seen, contractor, source_file, title };
}

/** Total order of entries: key, then walk position (file, then offset) — so the first row of a run id comes first. */
function compareEntries(a: Buffer, aAt: number, b: Buffer, bAt: number): number {
  for (const field of [4, 8, 12, 16, 20]) {
    const x = a.readUInt32LE(aAt + field);
    const y = b.readUInt32LE(bAt + field);
    if (x !== y) return x - y;
  }
  return 0;
}

/** The evidence files in walk order, with the name each has in the manifest. */
interface EvidenceLayout {
  root: string;
  isFolder: boolean;
  files: InputFile[];
  relative: (file: InputFile) => string;
}

async function evidenceLayout(evidencePath: string, label: string): Promise<EvidenceLayout> {
  const root = path.resolve(evidencePath);
  const info = await stat(root).catch((cause: unknown) => {
    throw ioError(label, cause);
  });
  const base = info.isDirectory() ? root : path.dirname(root);
  const files: InputFile[] = [];
  for await (const file of walkInputFiles(root)) files.push(file); // stats only: a few hundred bytes a file
  return { root, isFolder: info.isDirectory(), files, relative: (file) => path.relative(base, file.absolute) };
}

/** Beside the evidence when it is writable, else in the temp folder under a name derived from its path. */
async function indexLocation(layout: EvidenceLayout): Promise<string> {
  const beside = layout.isFolder ? path.join(layout.root, INDEX_DIR_NAME) : path.join(path.dirname(layout.root), `.${path.basename(layout.root)}${INDEX_DIR_NAME}`);
  try {
    await ensureFolder(beside);
    return beside;
  } catch {
    const fallback = path.join(os.tmpdir(), 'distill-stream-index', sha256Hex(layout.root).slice(0, 16));
    await ensureFolder(fallback);
    return fallback;
  }
}

/** A manifest lists each evidence file in ~250 bytes: 256 MiB is a million files, so a larger one is not ours. */
const MAX_MANIFEST_BYTES = 256 << 20;

/** The committed manifest; undefined when there is none, or it is damaged or foreign (that only costs a rebuild). */
async function readManifest(file: string): Promise<Manifest | undefined> {
  const manifest = (await readOwnJson(file, MAX_MANIFEST_BYTES)) as Partial<Manifest> | undefined;
  return manifest?.format === FORMAT && Array.isArray(manifest.files) && typeof manifest.index?.file === 'string' ? (manifest as Manifest) : undefined;
}

const sameStat = (known: IndexedFile, now: Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino' | 'dev'>): boolean =>
  known.size === now.size && known.mtimeMs === now.mtimeMs && known.ctimeMs === now.ctimeMs && known.ino === now.ino && known.dev === now.dev;

/** CRC-32 of a file's bytes, read in 1 MiB chunks. */
async function fileCrc(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let crc = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, null);
      if (bytesRead === 0) return crc;
      crc = crc32(chunk.subarray(0, bytesRead), crc);
    }
  } finally {
    await handle.close();
  }
}

/** Whether an open evidence file still holds the bytes the manifest describes, by size and content CRC (read in 1 MiB chunks). */
function sameContent(known: IndexedFile, fd: number, now: Stats): boolean {
  if (now.size !== known.size) return false;
  const chunk = Buffer.allocUnsafe(READ_CHUNK);
  let crc = 0;
  for (let position = 0; position < now.size; ) {
    const n = readSync(fd, chunk, 0, READ_CHUNK, position);
    if (n === 0) return false;
    crc = crc32(chunk.subarray(0, n), crc);
    position += n;
  }
  return crc === known.crc32;
}

/**
 * How many files at the start of the walk the manifest still describes: same name, same stat, or —
 * when only times or the inode moved (a copy, `touch`) — the same size and content CRC. The first
 * file that differs ends the prefix: later rows may win a run id from it, so the rest is re-read.
 */
async function unchangedPrefix(manifest: Manifest, layout: EvidenceLayout, fresh: IndexedFile[]): Promise<number> {
  let n = 0;
  for (; n < manifest.files.length && n < layout.files.length; n++) {
    const known = manifest.files[n]!;
    const now = layout.files[n]!;
    if (known.path !== layout.relative(now)) break;
    if (!sameStat(known, now)) {
      if (known.size !== now.size || (await fileCrc(now.absolute).catch(() => -1)) !== known.crc32) break;
    }
    fresh.push({ ...known, size: now.size, mtimeMs: now.mtimeMs, ctimeMs: now.ctimeMs, ino: now.ino, dev: now.dev });
  }
  return n;
}

/**
 * Bytes of entries buffered for all partitions together before they are appended to their files,
 * 16-64 KiB a partition, each a chunk the entries are copied into. When each entry was kept as
 * its own Buffer until its partition was written, the 1 GB build ran ~7 % slower (11.3-12.0 s
 * against 10.7-11.0 s, three runs alternated).
 */
const SPILL_BUFFER_BYTES = 4 << 20;

/** Spill appends under way at once, each holding its chunk of at most 64 KiB. */
const MAX_APPENDS = 16;

async function appendTo(file: string, bytes: Buffer): Promise<void> {
  const handle = await open(file, 'a');
  try {
    await handle.write(bytes);
  } finally {
    await handle.close();
  }
}

/** Key bits a partition too large to sort in memory is split by again: 256 partitions, each ~1/256 of it. */
const SPLIT_BITS = 8;

/**
 * A partition is sorted in memory up to this many bytes. The build sizes its partitions to ~16 MiB
 * until there are 256 of them (~40 GB of evidence); past that a partition grows with the evidence,
 * so one larger than this is split on disk by the key's next bits before it is sorted, and the
 * build's memory stays the same for any size of evidence. Test seam: DISTILL_STREAM_INDEX_SORT_BYTES.
 */
const MAX_SORTED_BYTES = Number(process.env['DISTILL_STREAM_INDEX_SORT_BYTES'] ?? 2 * PARTITION_BYTES);

/**
 * Spills entries into partitions by their key's top bits while building (after the `keyBitsBefore`
 * bits that made the partition being split), so the final sort holds one partition in memory at a time.
 */
class Partitions {
  /** Each partition's entries not yet appended to its file, copied into one chunk of `chunkBytes`. */
  private readonly chunks: Array<Buffer | undefined>;
  private readonly filled: number[];
  private readonly files: string[];
  private readonly chunkBytes: number;
  /** Each partition's appends under way, one after the other: the scan goes on while a full chunk is written. */
  private readonly appending: Array<Promise<void>>;
  /** The appends under way, each settled (it never rejects; the first failure is kept). */
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;

  constructor(
    private readonly folder: string,
    readonly bits: number,
    private readonly keyBitsBefore = 0,
  ) {
    const count = 1 << bits;
    this.chunkBytes = Math.min(64 << 10, Math.max(16 << 10, SPILL_BUFFER_BYTES / count));
    this.chunks = Array.from({ length: count }, () => undefined);
    this.filled = Array.from({ length: count }, () => 0);
    this.files = Array.from({ length: count }, (_, n) => path.join(folder, `part-${n}`));
    this.appending = Array.from({ length: count }, () => Promise.resolve());
  }

  private partitionOf(entry: Buffer): number {
    return this.bits === 0 ? 0 : (entry.readUInt32LE(4) << this.keyBitsBefore) >>> (32 - this.bits);
  }

  /** Copies the entry in: `entry` may be a view of a larger buffer (a read chunk, an allocator slab) that the spill must not keep. */
  async add(entry: Buffer): Promise<void> {
    const p = this.partitionOf(entry);
    if (this.filled[p]! + entry.length > this.chunkBytes) await this.flush(p);
    if (entry.length > this.chunkBytes) return this.append(p, Buffer.from(entry)); // larger than a chunk: appended on its own
    const chunk = (this.chunks[p] ??= Buffer.allocUnsafeSlow(this.chunkBytes));
    entry.copy(chunk, this.filled[p]);
    this.filled[p]! += entry.length;
  }

  /** Hands a partition's chunk to its appends; the next entries go to a new chunk. */
  private async flush(p: number): Promise<void> {
    if (this.filled[p] === 0) return;
    const bytes = this.chunks[p]!.subarray(0, this.filled[p]);
    this.chunks[p] = undefined;
    this.filled[p] = 0;
    await this.append(p, bytes);
  }

  /**
   * Queues `bytes` after the partition's earlier appends. Waiting for each append (an open, a write
   * and a close) left the scan idle ~7 % of a build; at most MAX_APPENDS are under way at once, so
   * the chunks they hold stay bounded.
   */
  private async append(p: number, bytes: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const done: Promise<void> = this.appending[p]!.then(() => appendTo(this.files[p]!, bytes)).then(
      () => void this.pending.delete(done),
      (cause: unknown) => {
        this.pending.delete(done);
        this.failure ??= cause;
      },
    );
    this.appending[p] = done;
    this.pending.add(done);
    while (this.pending.size > MAX_APPENDS) await Promise.race(this.pending);
  }

  /** Every append under way ended, whatever came of it: before the spill folder is removed. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.race(this.pending);
  }

  /** The partition's entries all in its file (every append under way done); the first failed append's error. */
  private async settled(p: number): Promise<void> {
    await this.flush(p);
    await this.appending[p];
    if (this.failure !== undefined) throw this.failure;
  }

  async flushAll(): Promise<void> {
    for (let p = 0; p < this.chunks.length; p++) await this.settled(p);
  }

  /**
   * Each partition's entries sorted (key, file, offset), in key order across partitions, with the
   * same partition of the scanner processes that spilled into `others` (one folder each). Every
   * partition is read into the same `reused` buffer: what is yielded holds until the next is asked for.
   */
  async *sorted(others: readonly string[], reused = new ReusedBuffer()): AsyncGenerator<SortedEntries> {
    for (let p = 0; p < this.chunks.length; p++) {
      await this.settled(p); // nothing more is added to a partition once it is read
      const spilled = [this.files[p]!, ...others.map((folder) => path.join(folder, path.basename(this.files[p]!)))];
      yield* sortedSpills(spilled, this.keyBitsBefore + this.bits, path.join(this.folder, `split-${p}`), reused);
    }
  }
}

/**
 * One buffer for every partition read, grown when a larger one comes. With a new one for each
 * ~10 MB partition, the 8 GB build peaked at 170-178 MB against 135-148 MB at 1 GB; with one,
 * at 153-154 MB against 122-128 MB (GNU time, the largest process).
 */
class ReusedBuffer {
  private bytes = Buffer.alloc(0);

  take(size: number): Buffer {
    if (size > this.bytes.length) this.bytes = Buffer.allocUnsafeSlow(Math.max(size, Math.ceil(this.bytes.length * 1.25)));
    return this.bytes.subarray(0, size);
  }
}

/** Entries in one buffer, and the offsets of each in sort order. */
interface SortedEntries {
  bytes: Buffer;
  offsets: number[];
}

/**
 * The entries of one partition's spills (every process's), sorted: read and sorted whole when they
 * fit MAX_SORTED_BYTES, else split by the key's next bits into `scratch` first, one file at a time.
 * Only entries that share all 32 of the key's first bits (rows of one run id) stay together, and
 * are sorted whole.
 */
async function* sortedSpills(files: readonly string[], keyBitsUsed: number, scratch: string, reused: ReusedBuffer): AsyncGenerator<SortedEntries> {
  const sizes = await Promise.all(files.map(spillSize));
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= MAX_SORTED_BYTES || keyBitsUsed + SPLIT_BITS > 32) {
    // Read straight into one buffer: reading each file and concatenating held the partition twice.
    const bytes = reused.take(total);
    let at = 0;
    for (const [n, file] of files.entries()) {
      if (sizes[n] !== 0) await withSpill(file, (fd) => readExactly(fd, sizes[n]!, 0, file, bytes.subarray(at)));
      at += sizes[n]!;
    }
    yield sortedInMemory(bytes);
    return;
  }
  await ensureFolder(scratch);
  const split = new Partitions(scratch, SPLIT_BITS, keyBitsUsed);
  try {
    for (const [n, file] of files.entries()) {
      if (sizes[n] === 0) continue;
      await withSpill(file, (fd) => forEachEntry(fd, 0, sizes[n]!, file, (entry) => split.add(entry)));
      await rm(file, { force: true }); // its entries are in the split now
    }
    yield* split.sorted([], reused);
  } finally {
    await split.drain();
  }
  await rm(scratch, { recursive: true, force: true });
}

/** `use` with a spill file open for reading; a failure to open it names the file. */
async function withSpill<T>(file: string, use: (fd: number) => T | Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (cause) {
    throw ioError(file, cause);
  }
  try {
    return await use(fd);
  } finally {
    closeSync(fd);
  }
}

/** A spill file's size; 0 when nothing was spilled to it. */
const spillSize = (file: string): Promise<number> =>
  stat(file).then(
    (stats) => stats.size,
    (cause: NodeJS.ErrnoException) => (cause.code === 'ENOENT' ? 0 : Promise.reject(ioError(file, cause))),
  );

function sortedInMemory(bytes: Buffer): SortedEntries {
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += bytes.readUInt32LE(at)) offsets.push(at);
  offsets.sort((a, b) => compareEntries(bytes, a, bytes, b));
  return { bytes, offsets };
}

/** Calls `each` with every entry in a file's bytes [start, end), read a chunk at a time; an entry is a view of the chunk. */
async function forEachEntry(fd: number, start: number, end: number, label: string, each: (entry: Buffer) => Promise<void>): Promise<void> {
  for (let position = start; position < end; ) {
    const bytes = readExactly(fd, Math.min(READ_CHUNK, end - position), position, label);
    let at = 0;
    while (at + 4 <= bytes.length) {
      const length = bytes.readUInt32LE(at);
      if (at + length > bytes.length) break; // the rest of the entry is in the next read
      if (length < ENTRY_FIXED) throw new DistillError('DS_IO', `${label}: a damaged entry at byte ${position + at}`, { path: label });
      await each(bytes.subarray(at, at + length));
      at += length;
    }
    if (at === 0) throw new DistillError('DS_IO', `${label}: an entry larger than a read`, { path: label });
    position += at;
  }
}

/**
 * Reads the lines of one evidence file with their byte offsets (the line rules of every input: split
 * on LF, a CR before it belongs to the terminator, blank lines are no rows, a line longer than the
 * limit is a row that can never be joined) and spills an entry per joinable row.
 */
async function scanFile(
  file: InputFile,
  ordinal: number,
  maxLineBytes: number,
  partitions: Partitions,
  progress: ProgressSink | undefined,
): Promise<{ crc32: number; rows: number; unjoinable: number }> {
  const handle = await open(file.absolute, 'r');
  const counts = { crc32: 0, rows: 0, unjoinable: 0 };
  // The current line: its start offset, its bytes while within the limit (+1 for a CR that may end
  // it), or — once past it — only whether it is blank so far.
  let lineStart = 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let overflow = false;
  let blankSoFar = true;
  const take = (segment: Buffer): void => {
    if (overflow) {
      blankSoFar &&= isBlankRange(segment, 0, segment.length);
      return;
    }
    held.push(segment);
    heldBytes += segment.length;
    if (heldBytes > maxLineBytes + 1) {
      const bytes = Buffer.concat(held);
      blankSoFar = isBlankRange(bytes, 0, bytes.length);
      overflow = true;
      held = [];
    }
  };
  const finishLine = async (): Promise<void> => {
    if (overflow) {
      if (!blankSoFar) {
        counts.rows++;
        counts.unjoinable++; // longer than --max-line-bytes: quarantined by every stage, never joined
      }
    } else {
      const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
      let end = bytes.length;
      if (end > 0 && bytes[end - 1] === CR) end--;
      if (!isBlankRange(bytes, 0, end)) {
        counts.rows++;
        const analysed = end > maxLineBytes ? undefined : analyseEvidenceLine(bytes.subarray(0, end));
        if (analysed === undefined) counts.unjoinable++;
        else await partitions.add(encodeEntry(runIdKey(analysed.projection.run_id), ordinal, lineStart, end, analysed));
      }
    }
    held = [];
    heldBytes = 0;
    overflow = false;
    blankSoFar = true;
  };
  // The next chunk is read while this one is scanned: waiting for each read left the scanner idle 12 % of a build.
  const chunks = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let reading = handle.read(chunks[0]!, 0, READ_CHUNK, 0);
  try {
    for (let position = 0, n = 0; ; n++) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const data = chunks[n % 2]!.subarray(0, bytesRead);
      reading = handle.read(chunks[(n + 1) % 2]!, 0, READ_CHUNK, position + bytesRead);
      counts.crc32 = crc32(data, counts.crc32);
      progress?.bytes(bytesRead);
      let start = 0;
      for (let lf = data.indexOf(NEWLINE); lf !== -1; lf = data.indexOf(NEWLINE, start)) {
        // A line inside the chunk is not copied; a held start of a line was (the chunk is read into again).
        take(held.length === 0 ? data.subarray(start, lf) : Buffer.from(data.subarray(start, lf)));
        await finishLine();
        start = lf + 1;
        lineStart = position + start;
      }
      if (start < data.length) take(Buffer.from(data.subarray(start)));
      position += bytesRead;
    }
    if (heldBytes > 0 || overflow) await finishLine();
  } finally {
    await reading.catch(() => undefined); // never close the file under a read
    await handle.close();
  }
  return counts;
}

type Scanned = Awaited<ReturnType<typeof scanFile>>;

/** Evidence files one process reads while building: each with its ordinal and the name errors give it. */
export interface ScanJob {
  files: Array<{ file: InputFile; ordinal: number; display: string }>;
  maxLineBytes: number;
  /** Where its partitions are spilled. */
  folder: string;
  bits: number;
}

async function scanFiles(job: ScanJob, partitions: Partitions, progress: ProgressSink | undefined): Promise<Scanned[]> {
  const results: Scanned[] = [];
  try {
    for (const { file, ordinal, display } of job.files) {
      results.push(
        await scanFile(file, ordinal, job.maxLineBytes, partitions, progress).catch((cause: unknown) => {
          throw ioError(display, cause);
        }),
      );
    }
    await partitions.flushAll();
  } finally {
    await partitions.drain();
  }
  return results;
}

/** What a scanner process does with its job (src/io/index-scanner.ts): its files' counts and CRCs, in job order. */
export const runScanJob = (job: ScanJob): Promise<Scanned[]> => scanFiles(job, new Partitions(job.folder, job.bits), undefined);

const SCANNER_JS = fileURLToPath(new URL('./index-scanner.js', import.meta.url));

/**
 * A scanner's young generation is kept small: what it allocates dies young (a line, its analysis,
 * its entry), and with V8's default the heap grew over a long scan. A scanner given half the 8 GB
 * archive's evidence peaked at 159-165 MB against 133 MB for the 1 GB archive's half; with 2 MiB
 * semi-spaces, at 129-133 MB for both, and no slower (52.6-64.7 s against 57.7-68.5 s, alternated).
 * The exports keep the default: their rows live longer, and sft at 1 GB ran 10-17 % slower with it.
 */
const SCANNER_NODE_FLAGS = ['--max-semi-space-size=2'];

/**
 * Below this many bytes to read, one process builds: a scanner process took 0.84-1.14 s to start and exit with no files on the loaded 2-core bench machine.
 * Test seam: DISTILL_STREAM_PARALLEL_INDEX_BYTES makes small evidence use scanner processes too.
 */
const PARALLEL_INDEX_BYTES = Number(process.env['DISTILL_STREAM_PARALLEL_INDEX_BYTES'] ?? 32 << 20);

/**
 * The files to read, dealt to `count` processes balanced by bytes (largest first to the least
 * loaded). Whole files only: an evidence tree holds many files of a few MB each (256 files of at
 * most 6.4 MB in the 1 GB bench), and a whole file keeps its CRC-32 in one process.
 */
function dealFiles(files: ScanJob['files'], count: number): Array<ScanJob['files']> {
  const groups = Array.from({ length: count }, () => ({ bytes: 0, files: [] as ScanJob['files'] }));
  for (const entry of [...files].sort((a, b) => b.file.size - a.file.size)) {
    const lightest = groups.reduce((best, group) => (group.bytes < best.bytes ? group : best));
    lightest.files.push(entry);
    lightest.bytes += entry.file.size;
  }
  return groups.map((group) => group.files.sort((a, b) => a.ordinal - b.ordinal));
}

/** Runs one scan job in a child process; its error (naming the path) is the build's. */
function runScanner(job: ScanJob, label: string, started: Set<ChildProcess>): Promise<Scanned[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...SCANNER_NODE_FLAGS, SCANNER_JS], { stdio: ['pipe', 'pipe', 'pipe'] });
    started.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (cause) => reject(ioError(label, cause)));
    child.on('close', (code, signal) => {
      started.delete(child);
      if (code === 0) resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as Scanned[]);
      else reject(new DistillError('DS_IO', Buffer.concat(err).toString('utf8').trim() || `${label}: an evidence index scanner stopped (${signal ?? `exit ${code}`})`, { path: label }));
    });
    child.stdin.end(JSON.stringify(job));
  });
}

/**
 * Reads the files of `job` — in this process and, with enough bytes and cores, in scanner
 * processes beside it (each its own share of whole files and its own spill folder) — and returns
 * each file's counts by ordinal, and the scanners' spill folders.
 */
async function scanAll(job: ScanJob, partitions: Partitions, progress: ProgressSink | undefined, label: string): Promise<{ scanned: Map<number, Scanned>; folders: string[] }> {
  const bytes = job.files.reduce((sum, { file }) => sum + file.size, 0);
  const count = bytes < PARALLEL_INDEX_BYTES ? 1 : Math.max(1, Math.min(os.availableParallelism(), job.files.length));
  const [own, ...theirs] = dealFiles(job.files, count).map((files, n) => ({ ...job, files, folder: n === 0 ? job.folder : path.join(job.folder, `scan-${n}`) }));
  for (const other of theirs) await ensureFolder(other.folder);
  const started = new Set<ChildProcess>();
  try {
    const results = await Promise.all([
      scanFiles(own!, partitions, progress),
      ...theirs.map((other) =>
        runScanner(other, label, started).then((counts) => {
          progress?.bytes(other.files.reduce((sum, { file }) => sum + file.size, 0));
          return counts;
        }),
      ),
    ]);
    const scanned = new Map<number, Scanned>();
    [own!, ...theirs].forEach((part, n) => part.files.forEach(({ ordinal }, k) => scanned.set(ordinal, results[n]![k]!)));
    return { scanned, folders: theirs.map((other) => other.folder) };
  } finally {
    for (const child of started) child.kill('SIGKILL'); // a failed build stops its scanners
  }
}

/** An open generation's index file: its bucket directory in memory, its entries read on demand. */
interface OpenIndex {
  fd: number;
  bucketBits: number;
  /** Byte offset where each bucket's entries start (and one past the last bucket). */
  buckets: Float64Array;
}

/** Closes a checked index file; whether there was one. */
function closeIndex(index: OpenIndex | undefined): boolean {
  if (index !== undefined) closeSync(index.fd);
  return index !== undefined;
}

const readExactly = (fd: number, length: number, position: number, label: string, into?: Buffer): Buffer => {
  const bytes = into === undefined ? Buffer.allocUnsafe(length) : into.subarray(0, length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) throw new DistillError('DS_IO', `${label}: ended early (it was cut short or changed while read)`, { path: label });
    done += n;
  }
  return bytes;
};

/** Opens and checks an index file: magic, header, and the CRC-32 the manifest recorded (entries, then header and directory). */
async function openIndexFile(file: string, expected: Manifest['index']): Promise<OpenIndex | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size !== expected.bytes || size < HEADER_BYTES) return undefined;
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    if ((await handle.read(header, 0, HEADER_BYTES, 0)).bytesRead !== HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const bucketBits = header.readUInt32LE(8);
    if (bucketBits > 28) return undefined;
    const count = 2 ** bucketBits + 1;
    const bodyStart = HEADER_BYTES + count * 8;
    if (size < bodyStart) return undefined;
    const directory = Buffer.allocUnsafe(count * 8);
    if ((await handle.read(directory, 0, directory.length, HEADER_BYTES)).bytesRead !== directory.length) return undefined;
    let crc = 0;
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    for (let position = bodyStart; position < size; ) {
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, position);
      if (bytesRead === 0) return undefined;
      crc = crc32(chunk.subarray(0, bytesRead), crc);
      position += bytesRead;
    }
    if (crc32(directory, crc32(header, crc)) !== expected.crc32) return undefined;
    const buckets = new Float64Array(count);
    for (let n = 0; n < count; n++) buckets[n] = directory.readDoubleLE(n * 8);
    for (let n = 1; n < count; n++) if (!(buckets[n]! >= buckets[n - 1]!) || buckets[n]! > size) return undefined;
    const fd = openSync(file, 'r');
    return { fd, bucketBits, buckets };
  } catch {
    return undefined; // missing or unreadable: rebuilt
  } finally {
    await handle?.close();
  }
}

/**
 * The evidence join. An index beside the evidence maps each run_id to where its row's line is and
 * what the exports need of it (a few projected fields and the text's facts — length, blankness,
 * title, embedding cut); the text is read from the evidence file itself at join time and written
 * out as its bytes stand, so nothing is copied and nothing decoded. The index holds a small
 * fraction of the evidence's bytes (no text), is read with positional reads (never mapped: memory
 * stays flat), and is checked on open (a damaged one is rebuilt, never trusted).
 *
 * Every joinable row of a run_id is kept, in walk order; a lookup takes the first whose line fits
 * the run's --max-line-bytes, so an index built with a larger limit serves a smaller one exactly.
 * Builds are one at a time (a lock a killed builder cannot leave stuck); each writes a new
 * generation and commits the manifest last, so a reader always sees one whole generation, and an
 * evidence file that changed since the build — even at the same size and mtime — is re-read.
 */
export class EvidenceIndex {
  /** Each evidence file read by this join: its descriptor and the stat it was checked at. */
  private readonly evidenceFds = new Map<number, { fd: number; seen: Stats }>();
  /**
   * A bucket's entries, read into the same bytes each lookup (nothing kept from one to the next):
   * a fresh ~6 KB buffer per lookup cost 3 µs of a 22 µs lookup, and the GC after it.
   */
  private bucketBytes = Buffer.allocUnsafeSlow(16 << 10);

  private constructor(
    private readonly index: OpenIndex,
    private readonly manifest: Manifest,
    private readonly layout: EvidenceLayout,
    private readonly maxLineBytes: number,
    private readonly label: string,
    private readonly removeSpool: () => Promise<void>,
  ) {}

  /**
   * Opens the index of `evidencePath`, building or refreshing it first when it is missing, stale or
   * damaged. With `generation` (a plan's), only that generation is opened, never built: when the
   * evidence or its index moved on since, the run is refused. Evidence that is not a file or a
   * folder (a pipe, `<(…)`) is copied to a temp file first, indexed there and removed on close.
   */
  static async open(
    evidencePath: string,
    options: { root: string; maxLineBytes: number; progress?: ProgressSink | undefined; label?: string | undefined; generation?: string | undefined },
  ): Promise<{ index: EvidenceIndex; report: IndexReport }> {
    const label = options.label ?? (displayPath(options.root, path.resolve(evidencePath)) || evidencePath);
    const spool = await spoolUnseekable(evidencePath, label);
    try {
      return await EvidenceIndex.openFile(spool?.file ?? evidencePath, { ...options, label }, spool?.remove ?? (() => Promise.resolve()));
    } catch (error) {
      await spool?.remove();
      throw error;
    }
  }

  private static async openFile(
    evidencePath: string,
    options: { maxLineBytes: number; progress?: ProgressSink | undefined; label: string; generation?: string | undefined },
    removeSpool: () => Promise<void>,
  ): Promise<{ index: EvidenceIndex; report: IndexReport }> {
    const started = performance.now();
    const { label } = options;
    const layout = await evidenceLayout(evidencePath, label);
    const folder = await indexLocation(layout);
    const manifestPath = path.join(folder, MANIFEST_NAME);
    let filesRead = 0;
    for (let attempt = 0; ; attempt++) {
      const manifest = await readManifest(manifestPath);
      const pinned = options.generation === undefined || manifest?.index.file === options.generation;
      const current = manifest === undefined || !pinned ? undefined : await usable(manifest, layout, options.maxLineBytes, folder);
      if (current !== undefined) {
        const index = new EvidenceIndex(current.index, current.manifest, layout, options.maxLineBytes, label, removeSpool);
        const report: IndexReport = {
          indexPath: folder,
          files: layout.files.length,
          filesRead,
          rows: current.manifest.files.reduce((sum, f) => sum + f.rows, 0),
          unjoinable: current.manifest.files.reduce((sum, f) => sum + f.unjoinable, 0),
          durationMs: performance.now() - started,
          generation: current.manifest.index.file,
        };
        return { index, report };
      }
      if (options.generation !== undefined) {
        throw new DistillError('DS_IO', `${label}: the evidence or its index changed since the plan was written (the plan joins generation ${options.generation}); write a new plan`, { path: label });
      }
      if (attempt > 2) throw new DistillError('DS_IO', `${label}: the evidence index in ${folder} could not be built (its files keep changing)`, { path: label });
      const lock = await acquireLock(path.join(folder, LOCK_NAME), { purpose: 'building the evidence index', wait: true, label: path.join(folder, LOCK_NAME) });
      try {
        // Another build may have finished while we waited for the lock.
        const now = await readManifest(manifestPath);
        if (now === undefined || (await usable(now, layout, options.maxLineBytes, folder)) === undefined) {
          filesRead += await build(folder, layout, now, Math.max(options.maxLineBytes, now?.maxLineBytes ?? 0), options.progress, label);
        }
      } finally {
        await lock.release();
      }
    }
  }

  /**
   * Whether the index beside the evidence matches it, without building anything: the number of
   * evidence files a refresh would read (0 when fresh), or undefined when there is no index yet.
   */
  static async staleFiles(evidencePath: string, root: string): Promise<number | undefined> {
    const layout = await evidenceLayout(evidencePath, displayPath(root, path.resolve(evidencePath)));
    const manifest = await readManifest(path.join(await indexLocation(layout), MANIFEST_NAME));
    if (manifest === undefined) return undefined;
    const unchanged = await unchangedPrefix(manifest, layout, []);
    return layout.files.length - unchanged + (manifest.files.length === unchanged ? 0 : manifest.files.length - unchanged);
  }

  /** The evidence for a run_id: its first joinable row in walk order whose line fits this run's limit. */
  get(runId: string): JoinedEvidence | undefined {
    const [high, low] = runIdKey(runId);
    const bucket = high >>> (32 - this.index.bucketBits) || 0;
    const start = this.index.buckets[this.index.bucketBits === 0 ? 0 : bucket]!;
    const end = this.index.buckets[(this.index.bucketBits === 0 ? 0 : bucket) + 1]!;
    if (end === start) return undefined;
    if (end - start > this.bucketBytes.length) this.bucketBytes = Buffer.allocUnsafeSlow(2 * (end - start));
    const entries = readExactly(this.index.fd, end - start, start, this.label, this.bucketBytes);
    for (let at = 0; at < entries.length; at += entries.readUInt32LE(at)) {
      if (entries.readUInt32LE(at + 4) !== high || entries.readUInt32LE(at + 8) !== low) continue;
      if (entries.readUInt32LE(at + 24) > this.maxLineBytes) continue;
      const projected = decodeProjection(entries, at);
      if (projected.run_id !== runId) continue; // a 64-bit key shared by another run id
      return { ...projected, text: this.textOf(entries, at, projected.title) };
    }
    return undefined;
  }

  /** The text of an entry: its JSON bytes read from the evidence file, and its facts from the index. */
  private textOf(entries: Buffer, at: number, title: string): EvidenceText {
    const ordinal = entries.readUInt32LE(at + 12);
    const offset = entries.readUInt32LE(at + 16) * 2 ** 32 + entries.readUInt32LE(at + 20);
    const length = entries.readUInt32LE(at + 24);
    const textStart = entries.readUInt32LE(at + 28);
    const textEnd = entries.readUInt32LE(at + 32);
    const facts = { units: entries.readUInt32LE(at + 36), embeddingPrefix: entries.readUInt32LE(at + 40), blank: (entries.readUInt8(at + 44) & FLAG_BLANK) !== 0, title };
    const file = this.manifest.files[ordinal];
    if (file === undefined) throw new DistillError('DS_IO', `${this.label}: the evidence index names a file it does not list`, { path: this.label });
    const { fd } = this.evidenceFd(ordinal);
    if (textEnd > 0) return { ...facts, json: readExactly(fd, textEnd - textStart, offset + textStart, file.path) };
    // Text bytes that are not JSON.stringify's own (escapes written another way, bytes not UTF-8): serialised
    // again; the facts were computed from the same text when it was indexed.
    return { ...facts, json: textJson(textOfLine(readExactly(fd, length, offset, file.path))) };
  }

  /**
   * An evidence file opened once, and checked to be the file the index describes: the same stat,
   * or — when only its times moved (a `touch` while the join runs) — the same content CRC.
   */
  private evidenceFd(ordinal: number): { fd: number; seen: Stats } {
    const known = this.evidenceFds.get(ordinal);
    if (known !== undefined) return known;
    const file = this.manifest.files[ordinal]!;
    const absolute = this.layout.files[ordinal]!.absolute;
    let fd: number;
    try {
      fd = openSync(absolute, 'r');
    } catch (cause) {
      throw ioError(file.path, cause);
    }
    const opened = { fd, seen: fstatSync(fd) };
    this.evidenceFds.set(ordinal, opened);
    if (!sameStat(file, opened.seen) && !sameContent(file, fd, opened.seen)) throw changed(file.path);
    return opened;
  }

  /**
   * Confirms that no evidence file read by this join changed while it was read (the outputs are
   * committed only after): a changed file means rows may mix two versions, so the run stops. A file
   * whose bytes are still the indexed ones passes: a read during an identical rewrite got those
   * bytes or ended early (which stops the run).
   */
  verifyUnchanged(): void {
    for (const [ordinal, { fd, seen }] of this.evidenceFds) {
      const file = this.manifest.files[ordinal]!;
      const now = fstatSync(fd);
      if (!sameStat({ ...file, ...statOf(seen) }, now) && !sameContent(file, fd, now)) throw changed(file.path);
    }
  }

  async close(): Promise<void> {
    for (const { fd } of this.evidenceFds.values()) closeSync(fd);
    this.evidenceFds.clear();
    closeSync(this.index.fd);
    await this.removeSpool();
  }
}

const statOf = (info: Stats): Pick<IndexedFile, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino' | 'dev'> => ({ size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev });

/**
 * Evidence that cannot be read at an offset (a pipe, `<(…)`, a character device) is copied once to
 * a private temp folder, where it is indexed and joined like a file; undefined for files and folders.
 */
async function spoolUnseekable(evidencePath: string, label: string): Promise<{ file: string; remove: () => Promise<void> } | undefined> {
  const info = await stat(evidencePath).catch((cause: unknown) => {
    throw ioError(label, cause);
  });
  if (info.isDirectory() || info.isFile()) return undefined;
  const folder = await mkdtemp(path.join(os.tmpdir(), 'distill-evidence-'));
  const remove = (): Promise<void> => rm(folder, { recursive: true, force: true });
  const file = path.join(folder, 'evidence.jsonl');
  try {
    await pipeline(createReadStream(evidencePath, { highWaterMark: READ_CHUNK }), createWriteStream(file));
  } catch (cause) {
    await remove();
    throw ioError(label, cause);
  }
  return { file, remove };
}

const changed = (file: string): DistillError =>
  new DistillError('DS_IO', `${file}: the evidence file changed while it was being joined; nothing was written — run again`, { path: file });

/** The manifest's generation, opened, when it describes the evidence as it is now for this run's limit. */
async function usable(manifest: Manifest, layout: EvidenceLayout, maxLineBytes: number, folder: string): Promise<{ manifest: Manifest; index: OpenIndex } | undefined> {
  if (manifest.maxLineBytes < maxLineBytes) return undefined;
  const fresh: IndexedFile[] = [];
  const unchanged = await unchangedPrefix(manifest, layout, fresh);
  if (unchanged !== layout.files.length || unchanged !== manifest.files.length) return undefined;
  const index = await openIndexFile(path.join(folder, manifest.index.file), manifest.index);
  if (index === undefined) return undefined;
  return { manifest: { ...manifest, files: fresh }, index };
}

/**
 * Builds a new generation: the entries of files still unchanged are carried over from the previous
 * one, the rest of the evidence is read; entries are spilled by key, sorted a partition at a time
 * and written under a bucket directory; the manifest is committed last. Returns the files read.
 */
async function build(folder: string, layout: EvidenceLayout, previous: Manifest | undefined, maxLineBytes: number, progress: ProgressSink | undefined, label: string): Promise<number> {
  await removeLeftovers(folder, previous?.index.file);
  const files: IndexedFile[] = [];
  // Entries are carried over only from a previous generation built the same way that still opens whole.
  const reusable = previous !== undefined && previous.maxLineBytes === maxLineBytes && (await openIndexFile(path.join(folder, previous.index.file), previous.index).then(closeIndex));
  const unchanged = reusable ? await unchangedPrefix(previous, layout, files) : 0;
  const evidenceBytes = layout.files.reduce((sum, file) => sum + file.size, 0);
  const spill = path.join(folder, `.build-${process.pid}-${Date.now().toString(36)}`);
  await rm(spill, { recursive: true, force: true });
  await ensureFolder(spill);
  try {
    const partitions = new Partitions(spill, Math.min(8, Math.max(0, Math.ceil(Math.log2(evidenceBytes / 10 / PARTITION_BYTES)))));
    if (unchanged > 0) await carryOver(path.join(folder, previous!.index.file), previous!.index, unchanged, partitions, label);
    progress?.begin('index', layout.files.slice(unchanged).reduce((sum, file) => sum + file.size, 0));
    const toRead = layout.files.slice(unchanged).map((file, n) => ({ file, ordinal: unchanged + n, display: displayPath(layout.root, file.absolute) || file.absolute }));
    const { scanned: counts, folders } = await scanAll({ files: toRead, maxLineBytes, folder: spill, bits: partitions.bits }, partitions, progress, label);
    for (let ordinal = unchanged; ordinal < layout.files.length; ordinal++) {
      const file = layout.files[ordinal]!;
      const scanned = counts.get(ordinal)!;
      const now = await stat(file.absolute);
      if (now.size !== file.size || now.mtimeMs !== file.mtimeMs) throw changed(layout.relative(file));
      files.push({ path: layout.relative(file), size: now.size, mtimeMs: now.mtimeMs, ctimeMs: now.ctimeMs, ino: now.ino, dev: now.dev, ...scanned });
      if (ordinal === unchanged) killPoint('index-after-first-file');
    }
    const name = `evidence-${process.pid}-${Date.now().toString(36)}.idx`;
    const written = await writeIndexFile(path.join(folder, name), partitions, folders, files.reduce((sum, f) => sum + f.rows - f.unjoinable, 0));
    const manifest: Manifest = { format: FORMAT, maxLineBytes, index: { file: name, ...written }, files };
    killPoint('index-before-manifest');
    await writeWhole(path.join(folder, MANIFEST_NAME), JSON.stringify(manifest));
    // Older generations: a reader that still has one open keeps reading it; new readers see this one.
    for (const other of await readdir(folder)) if (other.endsWith('.idx') && other !== name) await rm(path.join(folder, other), { force: true });
    return layout.files.length - unchanged;
  } finally {
    await rm(spill, { recursive: true, force: true });
  }
}

/**
 * Removes what killed builds left (spill folders, index files no manifest names, manifest temps).
 * Only a lock holder calls it, so no other build is writing them; a reader that still has an older
 * generation open keeps its descriptor.
 */
async function removeLeftovers(folder: string, keep: string | undefined): Promise<void> {
  for (const name of await readdir(folder)) {
    // `.idx.body`: where builds of the index's format 2 wrote the entries first.
    const abandoned = name.startsWith('.build-') || name.endsWith('.idx.body') || (name.startsWith(`.${MANIFEST_NAME}.`) && name.endsWith('.tmp')) || (name.endsWith('.idx') && name !== keep);
    if (abandoned) await rm(path.join(folder, name), { recursive: true, force: true });
  }
}

/** Re-spills the entries of the first `count` files from the previous generation (no evidence read). */
async function carryOver(file: string, expected: Manifest['index'], count: number, partitions: Partitions, label: string): Promise<void> {
  const previous = await openIndexFile(file, expected);
  if (previous === undefined) throw new DistillError('DS_IO', `${label}: the previous evidence index is damaged`, { path: label });
  try {
    const copy = (entry: Buffer): Promise<void> => (entry.readUInt32LE(12) < count ? partitions.add(entry) : Promise.resolve());
    await forEachEntry(previous.fd, previous.buckets[0]!, previous.buckets[previous.buckets.length - 1]!, file, copy);
  } finally {
    closeSync(previous.fd);
  }
}

/** Bucket bits for `entries`: ENTRIES_PER_BUCKET a bucket on average. */
const bucketBitsFor = (entries: number): number => Math.min(28, Math.max(0, Math.ceil(Math.log2(Math.max(1, entries / ENTRIES_PER_BUCKET)))));

/**
 * Writes the sorted entries under a header and a bucket directory; returns the file's size and
 * CRC-32 (over the entries, then the header and the directory: the order they are known in).
 * `entries` (the joinable rows the manifest counts) sizes the directory up front, so the entries go
 * straight to their place after it and the directory is filled as they stream past: holding every
 * key and offset until the end cost 16 bytes an entry (41 MB of the builder's peak at 2.5 M rows),
 * and writing the entries to a file of their own first wrote and read them twice more.
 */
async function writeIndexFile(file: string, partitions: Partitions, others: readonly string[], entries: number): Promise<{ bytes: number; crc32: number }> {
  const bucketBits = bucketBitsFor(entries);
  const count = 2 ** bucketBits;
  const bodyStart = HEADER_BYTES + (count + 1) * 8;
  // Each bucket's first entry (or, for a bucket with none, the next bucket's): where the body has reached when its first key is met.
  const directory = Buffer.alloc((count + 1) * 8);
  let bucket = 0;
  let written = 0;
  let size = 0;
  let crc = 0;
  const handle = await open(file, 'w');
  try {
    // Sorted entries are copied into a chunk, written while the other chunk fills.
    const chunks = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
    let out = chunks[0]!;
    let at = 0;
    let writing: Promise<unknown> = Promise.resolve();
    const flush = async (): Promise<void> => {
      await writing;
      crc = crc32(out.subarray(0, at), crc);
      writing = handle.write(out, 0, at, bodyStart + size);
      size += at;
      out = out === chunks[0] ? chunks[1]! : chunks[0]!;
      at = 0;
    };
    try {
      for await (const { bytes, offsets: order } of partitions.sorted(others)) {
        for (const offset of order) {
          const length = bytes.readUInt32LE(offset);
          if (at + length > out.length) await flush(); // an entry is at most ENTRY_FIXED + 64 KiB
          const entryBucket = bucketBits === 0 ? 0 : bytes.readUInt32LE(offset + 4) >>> (32 - bucketBits);
          for (; bucket <= entryBucket; bucket++) directory.writeDoubleLE(bodyStart + size + at, bucket * 8);
          bytes.copy(out, at, offset, offset + length);
          written++;
          at += length;
        }
      }
      await flush();
    } finally {
      await writing.catch(() => undefined); // never close the file under a write
    }
    await writing;
    if (written !== entries) throw new DistillError('DS_INTERNAL', `the evidence index holds ${written} entries where its files count ${entries} joinable rows`);
    for (; bucket <= count; bucket++) directory.writeDoubleLE(bodyStart + size, bucket * 8);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(bucketBits, 8);
    header.writeUInt32LE(entries, 12);
    await handle.write(header, 0, HEADER_BYTES, 0);
    await handle.write(directory, 0, directory.length, HEADER_BYTES);
    await handle.sync();
    crc = crc32(directory, crc32(header, crc));
  } catch (error) {
    await handle.close();
    await rm(file, { force: true });
    throw error;
  }
  await handle.close();
  return { bytes: bodyStart + size, crc32: crc };
}

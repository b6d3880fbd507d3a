import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ioError } from '../errors.js';
import type { FileDigest } from '../receipts.js';
import { isJsonArrayName } from './walk.js';
import { HEAD_BYTES, isCompressed } from './line-source.js';

/** An input file of a plan, with what tells that it changed since. */
export interface PlannedFile {
  /** Absolute path. */
  path: string;
  /** As records and receipts name it. */
  display: string;
  size: number;
  mtimeMs: number;
}

/** A piece of a planned file: bytes [start, end) starting at line `firstLine` (0-based). */
export interface Piece {
  file: number;
  start: number;
  end: number;
  firstLine: number;
}

const READ_CHUNK = 1 << 20;
const LF = 0x0a;
/**
 * A cut this close to a file's start or end snaps to the file's edge: pieces smaller than this are
 * not worth a process. Test seam: DISTILL_STREAM_MIN_PIECE_BYTES makes small files cut too.
 */
const MIN_PIECE_BYTES = Number(process.env['DISTILL_STREAM_MIN_PIECE_BYTES'] ?? 4 << 20);

/**
 * Whether a file is read whole by one shard: compressed (gzip or zstd magic) or a JSON array,
 * neither of which can start reading mid-file.
 */
async function isWholeOnly(file: PlannedFile): Promise<boolean> {
  if (isJsonArrayName(file.path)) return true;
  const handle = await open(file.path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return isCompressed(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/**
 * Reads a file once, front to back: its SHA-256 (a file cut into pieces is hashed here, since no
 * shard reads all of it) and, for each wanted offset, where the first line at or after it starts
 * and its number.
 */
async function lineStartsAndHash(file: PlannedFile, offsets: readonly number[]): Promise<{ cuts: Array<{ at: number; line: number }>; sha256: string }> {
  const hash = createHash('sha256');
  const cuts: Array<{ at: number; line: number }> = [];
  const handle = await open(file.path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let lines = 0;
    let next = 0; // the offset whose line start is sought
    let seeking = false; // past offsets[next]: the next line start is the cut
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, position);
      if (bytesRead === 0) break;
      const data = chunk.subarray(0, bytesRead);
      hash.update(data);
      let from = 0;
      while (from < bytesRead) {
        if (next < offsets.length && !seeking && position + bytesRead > offsets[next]!) {
          // Count the lines up to the wanted offset, then look for the next line start.
          const until = Math.max(from, offsets[next]! - position);
          for (let lf = data.indexOf(LF, from); lf !== -1 && lf < until; lf = data.indexOf(LF, lf + 1)) lines++;
          from = until;
          seeking = true;
          // A cut that falls on a line start needs no search.
          if (position + from === 0 || data[from - 1] === LF) {
            cuts.push({ at: position + from, line: lines });
            next++;
            seeking = false;
          }
          continue;
        }
        if (seeking) {
          const lf = data.indexOf(LF, from);
          if (lf === -1) {
            from = bytesRead;
            break;
          }
          lines++;
          cuts.push({ at: position + lf + 1, line: lines });
          next++;
          seeking = false;
          from = lf + 1;
          continue;
        }
        for (let lf = data.indexOf(LF, from); lf !== -1; lf = data.indexOf(LF, lf + 1)) lines++;
        from = bytesRead;
      }
      position += bytesRead;
    }
    // A wanted offset past the last line start has none: the cut falls at the end.
    while (cuts.length < offsets.length) cuts.push({ at: file.size, line: lines });
  } finally {
    await handle.close();
  }
  return { cuts, sha256: hash.digest('hex') };
}

/**
 * Cuts the inputs, in walk order, into `count` contiguous pieces of about equal bytes. A boundary
 * that falls inside a large uncompressed file cuts it at the next line start (its lines keep their
 * numbers); inside a compressed or small file, or near a file's edge, it moves to the file's edge.
 * Files cut this way are hashed here; the others are hashed by the shard that reads them.
 */
export async function cutIntoPieces(files: readonly PlannedFile[], count: number, minPieceBytes = MIN_PIECE_BYTES): Promise<{ shards: Piece[][]; hashed: Map<number, FileDigest> }> {
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const starts: number[] = [];
  for (let at = 0, n = 0; n < files.length; n++) {
    starts.push(at);
    at += files[n]!.size;
  }
  // Each boundary as (file, offset), or a file edge.
  const wanted = new Map<number, number[]>();
  const boundaries: Array<{ file: number; offset: number }> = [];
  for (let j = 1; j < count; j++) {
    const target = Math.round((total * j) / count);
    let file = files.findIndex((_, n) => starts[n]! + files[n]!.size > target);
    if (file === -1) file = files.length;
    const offset = file === files.length ? 0 : target - starts[file]!;
    boundaries.push({ file, offset });
    if (file < files.length) wanted.set(file, [...(wanted.get(file) ?? []), offset]);
  }
  const hashed = new Map<number, FileDigest>();
  const resolved = new Map<string, { file: number; at: number; line: number }>();
  for (const [n, offsets] of wanted) {
    const file = files[n]!;
    const edge = (offset: number): number => (offset < file.size / 2 ? 0 : file.size);
    const inside = file.size >= 2 * minPieceBytes && !(await isWholeOnly(file).catch((cause: unknown) => {
      throw ioError(file.display, cause);
    }));
    const cutOffsets = inside ? offsets.filter((offset) => offset >= minPieceBytes && offset <= file.size - minPieceBytes) : [];
    const found = cutOffsets.length === 0 ? { cuts: [], sha256: '' } : await lineStartsAndHash(file, cutOffsets).catch((cause: unknown) => {
      throw ioError(file.display, cause);
    });
    if (found.cuts.length > 0) hashed.set(n, { path: file.display, bytes: file.size, sha256: found.sha256 });
    for (const offset of offsets) {
      const cut = found.cuts[cutOffsets.indexOf(offset)];
      resolved.set(`${n}:${offset}`, cut === undefined ? { file: edge(offset) === 0 ? n : n + 1, at: 0, line: 0 } : { file: n, at: cut.at, line: cut.line });
    }
  }
  // Boundaries as positions (file, byte, line), in order; then the pieces between them.
  const points = [{ file: 0, at: 0, line: 0 }, ...boundaries.map((b) => (b.file === files.length ? { file: files.length, at: 0, line: 0 } : resolved.get(`${b.file}:${b.offset}`)!)), { file: files.length, at: 0, line: 0 }];
  for (let n = 1; n < points.length; n++) {
    const [a, b] = [points[n - 1]!, points[n]!];
    if (b.file < a.file || (b.file === a.file && b.at < a.at)) points[n] = { ...a };
  }
  const shards: Piece[][] = [];
  for (let j = 0; j + 1 < points.length; j++) {
    const from = points[j]!;
    const to = points[j + 1]!;
    const pieces: Piece[] = [];
    for (let file = from.file; file <= to.file && file < files.length; file++) {
      const start = file === from.file ? from.at : 0;
      const end = file === to.file ? to.at : files[file]!.size;
      const firstLine = file === from.file ? from.line : 0;
      // A whole empty file is still a piece: it gives its (empty) output file.
      if (end > start || (start === 0 && end === files[file]!.size && file !== to.file)) pieces.push({ file, start, end, firstLine });
    }
    shards.push(pieces);
  }
  return { shards, hashed };
}

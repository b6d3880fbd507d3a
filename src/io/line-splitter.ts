import { Transform, type TransformCallback } from 'node:stream';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Bytes of an over-long line kept for quarantine: enough for 200 code points of any UTF-8. */
export const TOO_LONG_PREFIX_BYTES = 800;

export interface RawLine {
  /** 0-based physical line number. */
  line: number;
  /** The decoded line, terminator excluded; for a too-long line, the decoded first min(800, length) bytes. */
  text: string;
  /** UTF-8 length exceeded maxLineBytes. */
  tooLong: boolean;
  /** Set when the input cannot be read as rows from here on (a broken JSON array): why, in words. */
  unreadable?: string;
  /** The line's bytes as read, terminator excluded, when it came whole from a JSONL input (not too long, not a JSON array element). */
  bytes?: Buffer | undefined;
}

export interface LineSplitterOptions {
  maxLineBytes?: number;
  /** The number of the first line (a piece of a file cut at a line start keeps its lines' numbers). */
  firstLine?: number;
}

/** Batches the readable side may hold before the splitter stops taking input: 2 keep both cores busy, more only hold strings (16 cost collect ~120 MB). */
export const READABLE_HIGH_WATER_BATCHES = 2;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const isBlankByte = (byte: number): boolean => byte === SPACE || byte === TAB || byte === CR;

/** Whether bytes[start, end) hold only what a blank line may: spaces, tabs and CRs. */
export function isBlankRange(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isBlankByte(bytes[i]!)) return false;
  return true;
}

function maxLineBytesOf(options: LineSplitterOptions): number {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`maxLineBytes must be a non-negative integer, got ${max}`);
  return max;
}

/**
 * Buffers in, RawLine[] batches out (one per input chunk that completed a non-blank line), by the
 * line rules of docs/records.md. Lines are found with indexOf(0x0a) and decoded only when whole, so
 * multi-byte characters split across chunks come out intact; a line inside one chunk is decoded in
 * place. A partial line is held as slices up to the limit (+1 for a CR that may be the
 * terminator's); past it, only an 800-byte prefix, a byte count and flags stay until the next LF.
 */
export class LineSplitter extends Transform {
  private readonly maxLineBytes: number;
  private lineNumber = 0;
  /** Slices of the current unterminated line while it is within the limit. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** The current line passed the limit: it is too long whatever follows, its bytes are dropped. */
  private overflowing = false;
  private readonly prefix = Buffer.allocUnsafe(TOO_LONG_PREFIX_BYTES);
  private prefixLength = 0;
  private overflowBytes = 0;
  private overflowBlank = true;
  private overflowEndsWithCr = false;

  constructor(options: LineSplitterOptions = {}) {
    super({ readableObjectMode: true, writableObjectMode: false, readableHighWaterMark: READABLE_HIGH_WATER_BATCHES });
    this.maxLineBytes = maxLineBytesOf(options);
    this.lineNumber = options.firstLine ?? 0;
  }

  /** Bytes of the current partial line kept in memory (tests assert it stays bounded). */
  get pendingBytes(): number {
    return this.pendingLength + this.prefixLength;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const lines: RawLine[] = [];
    let start = 0;
    let lf: number;
    while ((lf = chunk.indexOf(LF, start)) !== -1) {
      if (this.pendingLength === 0 && !this.overflowing) {
        this.pushLine(chunk, start, lf, true, lines); // fast path: the whole line is in this chunk
      } else {
        this.hold(chunk, start, lf);
        this.endHeldLine(true, lines);
      }
      start = lf + 1;
    }
    this.hold(chunk, start, chunk.length);
    callback(null, lines.length > 0 ? lines : undefined);
  }

  /** End of input: the last line needs no terminator, so a trailing CR is content. */
  override _flush(callback: TransformCallback): void {
    const lines: RawLine[] = [];
    if (this.pendingLength > 0 || this.overflowing) this.endHeldLine(false, lines);
    callback(null, lines.length > 0 ? lines : undefined);
  }

  /** The whole line `bytes[start, lf)`; when `terminated`, a CR right before the LF is the terminator's. */
  private pushLine(bytes: Buffer, start: number, lf: number, terminated: boolean, out: RawLine[]): void {
    const end = terminated && lf > start && bytes[lf - 1] === CR ? lf - 1 : lf;
    const line = this.lineNumber++;
    if (end === start || (isBlankByte(bytes[start]!) && isBlankRange(bytes, start, end))) return;
    const tooLong = end - start > this.maxLineBytes;
    const textEnd = tooLong ? Math.min(end, start + TOO_LONG_PREFIX_BYTES) : end;
    out.push({ line, text: bytes.toString('utf8', start, textEnd), tooLong, bytes: tooLong ? undefined : bytes.subarray(start, end) });
  }

  /** Ends the held line, at an LF (`terminated`) or at the end of input. */
  private endHeldLine(terminated: boolean, out: RawLine[]): void {
    if (!this.overflowing) {
      const whole = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
      this.pending = [];
      this.pendingLength = 0;
      this.pushLine(whole, 0, whole.length, terminated, out);
      return;
    }
    const line = this.lineNumber++;
    if (!this.overflowBlank) {
      // Only a line that fits in the prefix has its terminator's CR in it.
      const cutCr = terminated && this.overflowEndsWithCr && this.overflowBytes <= TOO_LONG_PREFIX_BYTES;
      out.push({ line, text: this.prefix.toString('utf8', 0, cutCr ? this.prefixLength - 1 : this.prefixLength), tooLong: true, bytes: undefined });
    }
    this.overflowing = false;
    this.prefixLength = 0;
  }

  /**
   * Keeps `chunk[start, end)` of an unterminated line. Within the limit the slice is held; one byte
   * over is allowed while that byte is a CR, since an LF may follow and make it the terminator's.
   * Past that, the line is too long even if a terminating CR follows.
   */
  private hold(chunk: Buffer, start: number, end: number): void {
    if (start === end) return;
    if (this.overflowing) {
      this.absorb(chunk, start, end);
      return;
    }
    const length = this.pendingLength + (end - start);
    if (length <= this.maxLineBytes || (length === this.maxLineBytes + 1 && chunk[end - 1] === CR)) {
      this.pending.push(chunk.subarray(start, end));
      this.pendingLength = length;
      return;
    }
    this.overflowing = true;
    this.overflowBytes = 0;
    this.overflowBlank = true;
    for (const slice of this.pending) this.absorb(slice, 0, slice.length);
    this.pending = [];
    this.pendingLength = 0;
    this.absorb(chunk, start, end);
  }

  /** Accounts bytes of an over-long line: copies what the prefix still lacks, drops the rest. */
  private absorb(bytes: Buffer, start: number, end: number): void {
    if (this.prefixLength < TOO_LONG_PREFIX_BYTES) {
      this.prefixLength += bytes.copy(this.prefix, this.prefixLength, start, Math.min(end, start + TOO_LONG_PREFIX_BYTES - this.prefixLength));
    }
    this.overflowBytes += end - start;
    this.overflowBlank &&= isBlankRange(bytes, start, end);
    this.overflowEndsWithCr = bytes[end - 1] === CR;
  }
}

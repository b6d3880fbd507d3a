import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';
import { getManyValues, isMany, none } from 'stream-chain/defs.js';
import { jsonParser } from 'stream-json/parser.js';
import { streamArray } from 'stream-json/core/streamers/stream-array.js';
import { DistillError } from '../errors.js';
import { READABLE_HIGH_WATER_BATCHES, TOO_LONG_PREFIX_BYTES, type RawLine } from './line-splitter.js';

/**
 * Bytes handed to the tokenizer at a time. Where the array breaks, the tokens of the piece that
 * failed are lost, so the piece bounds both what a break can cost and how exactly it is placed;
 * 1 KiB pieces cost ~9 % more CPU than 64 KiB ones (2.26–2.39 s against 2.07–2.21 s on 224 MB,
 * `npm run bench:decoders`).
 */
const PIECE_BYTES = 1024;

const BLANK = new Set([0x20, 0x09, 0x0a, 0x0d]);
const UTF8_BOM = [0xef, 0xbb, 0xbf];
const OPEN_BRACKET = 0x5b;

type Tokens = ReturnType<ReturnType<typeof jsonParser>>;
type Element = { key: number; value: unknown };

/**
 * Bytes of one `.json` file in, RawLine[] batches out, one line per element of its top-level array:
 * `line` is the element's index, `text` its JSON as stream-json's assembler rebuilt it (measured
 * against re-serialising the tokens directly: 4.25 s of CPU against 4.94 s on 106 MB; the bytes
 * themselves cannot be sliced, since the tokenizer reports no offsets). Elements are assembled one
 * at a time, so memory holds one element, never the array. An element longer than the limit keeps
 * the first 800 bytes and is flagged too long, as a line would be.
 *
 * A file that does not start with `[` is refused (DS_IO). Where the array breaks — bad syntax, a
 * truncated file, anything after the closing `]` — one unreadable line names the byte range, and
 * nothing after it is read.
 */
export class JsonArrayReader extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private readonly tokens = jsonParser({ packValues: true, streamValues: false });
  private readonly elements = streamArray();
  /** Bytes fed to the tokenizer so far (the offset of the next piece). */
  private offset = 0;
  private opened = false;
  private broken = false;
  private nextIndex = 0;

  constructor(
    private readonly label: string,
    private readonly maxLineBytes: number,
  ) {
    super({ readableObjectMode: true, writableObjectMode: false, readableHighWaterMark: READABLE_HIGH_WATER_BATCHES });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.broken) return callback(); // read to the end all the same: the input's digest covers every byte
    const lines: RawLine[] = [];
    try {
      for (let at = 0; at < chunk.length && !this.broken; at += PIECE_BYTES) this.feedPiece(chunk.subarray(at, at + PIECE_BYTES), lines);
    } catch (error) {
      return callback(error as Error);
    }
    callback(null, lines.length > 0 ? lines : undefined);
  }

  override _flush(callback: TransformCallback): void {
    if (this.broken) return callback();
    if (!this.opened) return callback(this.notAnArray('it is empty'));
    const lines: RawLine[] = [];
    try {
      this.deliver(this.tokens(this.decoder.end()), lines);
      this.deliver(this.tokens(none as never), lines);
    } catch (cause) {
      this.breakAt(lines, `it ends at byte ${this.offset} before the array is closed (${(cause as Error).message})`, '');
    }
    callback(null, lines.length > 0 ? lines : undefined);
  }

  private feedPiece(piece: Buffer, lines: RawLine[]): void {
    const start = this.opened ? 0 : this.open(piece);
    if (start === piece.length) {
      this.offset += piece.length;
      return;
    }
    const text = this.decoder.write(start === 0 ? piece : piece.subarray(start));
    try {
      this.deliver(this.tokens(text), lines);
    } catch (cause) {
      const end = this.offset + piece.length;
      this.breakAt(lines, `it breaks within bytes ${this.offset}–${end} (${(cause as Error).message}); nothing from byte ${this.offset} on is read`, text);
      return;
    }
    this.offset += piece.length;
  }

  /** Skips a byte-order mark and blanks up to the `[`; where the array starts in `piece`, or its length when not yet. */
  private open(piece: Buffer): number {
    let at = 0;
    if (this.offset === 0 && UTF8_BOM.every((byte, n) => piece[n] === byte)) at = UTF8_BOM.length;
    while (at < piece.length && BLANK.has(piece[at]!)) at++;
    if (at === piece.length) return at;
    if (piece[at] !== OPEN_BRACKET) throw this.notAnArray(`it starts with ${JSON.stringify(String.fromCharCode(piece[at]!))}`);
    this.opened = true;
    return at;
  }

  private deliver(tokens: Tokens, lines: RawLine[]): void {
    if (!isMany(tokens)) return;
    for (const token of getManyValues(tokens)) {
      const element = this.elements(token) as Element | typeof none;
      if (element !== none) lines.push(this.lineOf(element));
    }
  }

  private lineOf(element: Element): RawLine {
    this.nextIndex = element.key + 1;
    let text: string;
    try {
      text = JSON.stringify(element.value);
    } catch (cause) {
      return { line: element.key, text: '', tooLong: false, unreadable: `element ${element.key} cannot be rebuilt: ${(cause as Error).message}` };
    }
    // Each UTF-16 unit is at most 3 UTF-8 bytes: most elements never need counting.
    if (text.length * 3 <= this.maxLineBytes || Buffer.byteLength(text) <= this.maxLineBytes) return { line: element.key, text, tooLong: false };
    return { line: element.key, text: Buffer.from(text.slice(0, TOO_LONG_PREFIX_BYTES)).toString('utf8', 0, TOO_LONG_PREFIX_BYTES), tooLong: true };
  }

  private breakAt(lines: RawLine[], why: string, text: string): void {
    this.broken = true;
    lines.push({ line: this.nextIndex, text, tooLong: false, unreadable: `the JSON array is broken: ${why}` });
  }

  private notAnArray(why: string): DistillError {
    return new DistillError('DS_IO', `${this.label}: not a JSON array of records (${why}); a .json input holds one top-level array`, { path: this.label });
  }
}

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  DEFAULT_MAX_LINE_BYTES,
  LineSplitter,
  READABLE_HIGH_WATER_BATCHES,
  TOO_LONG_PREFIX_BYTES,
  type LineSplitterOptions,
  type RawLine,
} from '../src/io/line-splitter.js';
import { mulberry32 } from '../data-fixtures/prng.js';

const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));

/** A whole line: its text, and its bytes as read (the text's UTF-8 unless given). */
const ok = (line: number, text: string, raw = Buffer.from(text)): RawLine => ({ line, text, tooLong: false, bytes: raw });

/**
 * The splitter's rules over a whole buffer, written independently of its streaming state machine:
 * the oracle the streaming splitter is held to. A line ends at LF (a CR before it is dropped);
 * lines of only spaces, tabs and CRs are no records; a line longer than the limit keeps a prefix.
 */
function splitLinesSync(input: Buffer, options: LineSplitterOptions = {}): RawLine[] {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const lines: RawLine[] = [];
  let line = 0;
  for (let start = 0; start < input.length; line++) {
    const lf = input.indexOf(0x0a, start);
    const next = lf === -1 ? input.length : lf + 1;
    let end = lf === -1 ? input.length : lf;
    if (lf !== -1 && end > start && input[end - 1] === 0x0d) end--;
    const content = input.subarray(start, end);
    start = next;
    if (content.every((byte) => byte === 0x20 || byte === 0x09 || byte === 0x0d)) continue;
    const tooLong = content.length > max;
    lines.push({ line, text: (tooLong ? content.subarray(0, TOO_LONG_PREFIX_BYTES) : content).toString('utf8'), tooLong, bytes: tooLong ? undefined : Buffer.from(content) });
  }
  return lines;
}
const long = (line: number, text: string): RawLine => ({ line, text, tooLong: true, bytes: undefined });

/** Writes `chunks` one by one (each after the previous is taken) and collects the batches. */
async function feedChunks(chunks: Uint8Array[], options?: LineSplitterOptions): Promise<RawLine[][]> {
  const splitter = new LineSplitter(options);
  const batches: RawLine[][] = [];
  splitter.on('data', (batch: RawLine[]) => batches.push(batch));
  for (const chunk of chunks) if (!splitter.write(chunk)) await once(splitter, 'drain');
  splitter.end();
  await once(splitter, 'end');
  return batches;
}

function chunksOf(input: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  return chunks;
}

/** Every chunk size from 1 byte to the whole input, each checked against `expected` with its chunking named. */
async function assertEverySplit(input: Buffer, expected: RawLine[], options?: LineSplitterOptions): Promise<void> {
  for (let size = 1; size <= Math.max(1, input.length); size++) {
    const batches = await feedChunks(chunksOf(input, size), options);
    assert.ok(batches.every((batch) => batch.length > 0), `empty batch at chunk size ${size}`);
    assert.deepEqual(batches.flat(), expected, `chunk size ${size}, options ${JSON.stringify(options)}`);
  }
}


const BOM = '\uFEFF';
/** Exercises every rule at once: CRLF, lone CR, blanks, multi-byte and invalid bytes, BOM, limits. */
const VARIED = bytes(
  '{"a":1}\r\n',
  'lone\rcr inside\n',
  '\n',
  '  \t\r\n',
  '\r\n',
  'é€😀 two-, three-, four-byte\n',
  [0x62, 0x61, 0x64, 0xff, 0xc3, 0x28, 0xf0, 0x9f, 0x98, 0x0a], // invalid and truncated sequences
  `${BOM}{"bom":true}\n`,
  'x'.repeat(16),
  '\r\n', // exactly 16 bytes + CRLF
  'y'.repeat(17),
  '\r\n', // 17 bytes
  'z'.repeat(15),
  '\r\r\n', // 16 bytes, the first CR is content
  ' '.repeat(40),
  '\t\r\n', // blank and longer than the limit
  `${'😀'.repeat(300)}\n`, // 1200 bytes: prefix of 800
  'é'.repeat(30),
  '\n',
  'no final newline\r',
);

describe('splitLinesSync (the oracle)', () => {
  it('follows the docs/records.md rules on a hand-written input', () => {
    const input = bytes('a\r\nb\rc\n\n  \t\r\n\r\nd\r\r\n\re\r');
    assert.deepEqual(splitLinesSync(input), [ok(0, 'a'), ok(1, 'b\rc'), ok(5, 'd\r'), ok(6, '\re\r')]);
  });

  it('handles the varied input with a 16-byte limit', () => {
    const lines = splitLinesSync(VARIED, { maxLineBytes: 16 });
    assert.deepEqual(lines.map((l) => [l.line, l.tooLong]), [
      [0, false],
      [1, false],
      [5, true],
      [6, false],
      [7, false],
      [8, false],
      [9, true],
      [10, false],
      [12, true],
      [13, true],
      [14, true],
    ]);
    assert.equal(lines[3]!.text, 'bad\uFFFD\uFFFD(\uFFFD');
    assert.equal(lines[4]!.text, `${BOM}{"bom":true}`);
    assert.equal(lines[5]!.text, 'x'.repeat(16));
    assert.equal(lines[7]!.text, `${'z'.repeat(15)}\r`);
    assert.equal(lines[8]!.text, '😀'.repeat(200));
    assert.equal(lines[10]!.text, 'no final newline\r');
  });
});

describe('LineSplitter', () => {
  it('matches a hand-written expectation at every chunk size', async () => {
    const input = bytes('a\r\nb\rc\n\n  \t\r\n\r\nd\r\r\n\re\r');
    await assertEverySplit(input, [ok(0, 'a'), ok(1, 'b\rc'), ok(5, 'd\r'), ok(6, '\re\r')]);
  });

  it('matches the oracle on the varied input at every chunk size, for several limits', async () => {
    for (const maxLineBytes of [0, 1, 15, 16, 17, 40, 799, 800, 1199, 1200, DEFAULT_MAX_LINE_BYTES]) {
      const expected = splitLinesSync(VARIED, { maxLineBytes });
      assert.ok(expected.length >= 10);
      await assertEverySplit(VARIED, expected, { maxLineBytes });
    }
  });

  it('matches the oracle on random inputs, limits and chunkings', async () => {
    const random = mulberry32(0x5eed);
    const pieces = ['a', '{}', 'é', '€', '😀', '\r', '\n', '\r\n', ' ', '\t', BOM, '\uFFFD'];
    const raw = [[0xff], [0xf0, 0x9f], [0xe2, 0x82], [0xc3]];
    for (let round = 0; round < 300; round++) {
      const parts: (string | number[])[] = [];
      const count = Math.floor(random() * 60);
      for (let i = 0; i < count; i++) {
        parts.push(random() < 0.1 ? raw[Math.floor(random() * raw.length)]! : pieces[Math.floor(random() * pieces.length)]!);
      }
      const input = bytes(...parts);
      const maxLineBytes = Math.floor(random() * 12);
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * 8);
        chunks.push(input.subarray(at, at + size));
        at += size;
      }
      const batches = await feedChunks(chunks, { maxLineBytes });
      assert.ok(batches.every((batch) => batch.length > 0));
      assert.deepEqual(batches.flat(), splitLinesSync(input, { maxLineBytes }), `round ${round}: ${JSON.stringify(input.toString('latin1'))}`);
    }
  });

  it('decodes multi-byte characters fed one byte at a time', async () => {
    const text = 'é€😀𝄞 ünïcödé';
    const input = bytes(`${text}\n${text}`);
    const batches = await feedChunks(chunksOf(input, 1));
    assert.deepEqual(batches.flat(), [ok(0, text), ok(1, text)]);
  });

  it('turns invalid bytes into U+FFFD (the line\'s bytes stay as read) and keeps a BOM', async () => {
    const input = bytes([0xef, 0xbb, 0xbf], '{"k":1}\n', [0x61, 0xfe, 0x62, 0xc3]);
    const lines = (await feedChunks(chunksOf(input, 3))).flat();
    assert.deepEqual(lines, [ok(0, `${BOM}{"k":1}`), ok(1, 'a\uFFFDb\uFFFD', Buffer.from([0x61, 0xfe, 0x62, 0xc3]))]);
    assert.throws(() => JSON.parse(lines[0]!.text), SyntaxError);
  });

  it('tells a line of exactly the limit followed by CRLF from one byte more, with CR and LF in different chunks', async () => {
    const options = { maxLineBytes: 4 };
    const cases: [Buffer[], RawLine[]][] = [
      [[bytes('abcd\r'), bytes('\n')], [ok(0, 'abcd')]],
      [[bytes('abcd'), bytes('\r'), bytes('\nnext')], [ok(0, 'abcd'), ok(1, 'next')]],
      [[bytes('abcde\r'), bytes('\n')], [long(0, 'abcde')]],
      [[bytes('abcd\r'), bytes('\r\n')], [long(0, 'abcd\r')]],
      [[bytes('abc\r'), bytes('\r\n')], [ok(0, 'abc\r')]],
      [[bytes('abcd\r')], [long(0, 'abcd\r')]], // a trailing CR at EOF is content
      [[bytes('abcd\r'), bytes('x\n')], [long(0, 'abcd\rx')]],
    ];
    for (const [chunks, expected] of cases) {
      assert.deepEqual((await feedChunks(chunks, options)).flat(), expected, JSON.stringify(chunks.map(String)));
      assert.deepEqual(splitLinesSync(Buffer.concat(chunks), options), expected);
    }
  });

  it('never holds more than the limit of a 10 MB line, and keeps its first 800 bytes', async () => {
    const maxLineBytes = 1024;
    const splitter = new LineSplitter({ maxLineBytes });
    const batches: RawLine[][] = [];
    splitter.on('data', (batch: RawLine[]) => batches.push(batch));
    const head = 'é'.repeat(TOO_LONG_PREFIX_BYTES); // 1600 bytes, so the prefix is 400 whole 'é'
    const line = bytes(head, 'q'.repeat(10 * 1024 * 1024 - head.length * 2));
    let mostHeld = 0;
    for (const chunk of chunksOf(bytes(line, '\r\n{"after":1}\n'), 64 * 1024 + 7)) {
      await new Promise<void>((resolve, reject) => splitter.write(chunk, (error) => (error ? reject(error) : resolve())));
      mostHeld = Math.max(mostHeld, splitter.pendingBytes);
    }
    splitter.end();
    await once(splitter, 'end');
    assert.ok(mostHeld <= maxLineBytes + 1, `held ${mostHeld} bytes`);
    assert.equal(mostHeld, TOO_LONG_PREFIX_BYTES);
    assert.equal(splitter.pendingBytes, 0);
    assert.deepEqual(batches.flat(), [long(0, 'é'.repeat(400)), ok(1, '{"after":1}')]);
  });

  it('holds at most limit + 1 bytes while a line may still end in CRLF', async () => {
    const splitter = new LineSplitter({ maxLineBytes: 8 });
    const held: number[] = [];
    for (const chunk of ['abcd', 'efgh', '\r', '\n', 'abcdefgh', 'i']) {
      splitter.write(bytes(chunk));
      held.push(splitter.pendingBytes);
    }
    assert.deepEqual(held, [4, 8, 9, 0, 8, 9]); // the last is the 9-byte prefix of an over-long line
    splitter.destroy();
  });

  it('cuts the too-long text at 800 bytes, even mid-character', async () => {
    const input = bytes('a'.repeat(799), '😀', 'tail\n', 'b'.repeat(900));
    const expected = [long(0, bytes('a'.repeat(799), [0xf0]).toString('utf8')), long(1, 'b'.repeat(800))];
    assert.equal(expected[0]!.text, `${'a'.repeat(799)}\uFFFD`);
    await assertEverySplit(input, expected, { maxLineBytes: 100 });
  });

  it('keeps the whole text of a too-long line shorter than 800 bytes, terminator excluded', async () => {
    await assertEverySplit(bytes('abcdefghij\r\n', 'klmnop\r'), [long(0, 'abcdefghij'), long(1, 'klmnop\r')], { maxLineBytes: 5 });
  });

  it('skips a blank line longer than the limit but counts it', async () => {
    const input = bytes(' \t'.repeat(50), '\r\n', '\r'.repeat(30), '\n', '{}\n', ' '.repeat(20), '\r');
    await assertEverySplit(input, [ok(2, '{}')], { maxLineBytes: 3 });
  });

  it('numbers lines after blank lines by their physical position', async () => {
    const input = bytes('\n\n{"n":2}\n \n\t\n{"n":5}\r\n\r\n\r\n{"n":8}');
    await assertEverySplit(input, [ok(2, '{"n":2}'), ok(5, '{"n":5}'), ok(8, '{"n":8}')]);
  });

  it('emits nothing for empty input, for "\\n\\n", or for a lone CR', async () => {
    for (const input of [bytes(''), bytes('\n\n'), bytes('\r'), bytes('\r\n\r\n')]) {
      assert.deepEqual(await feedChunks(chunksOf(input, 1)), []);
      assert.deepEqual(splitLinesSync(input), []);
    }
    assert.deepEqual(await feedChunks([]), []);
  });

  it('keeps a trailing CR at end of input, and treats the first of "\\r\\r\\n" as content', async () => {
    await assertEverySplit(bytes('a\r'), [ok(0, 'a\r')]);
    await assertEverySplit(bytes('x\r\r\ny'), [ok(0, 'x\r'), ok(1, 'y')]);
  });

  it('pushes one batch per chunk that completed a non-blank line, never an empty one', async () => {
    const chunks = ['a\nb', '\n\n', '  \n', 'c', '\r', '\nd\ne\n', '\n'].map((chunk) => bytes(chunk));
    assert.deepEqual(await feedChunks(chunks), [[ok(0, 'a')], [ok(1, 'b')], [ok(4, 'c'), ok(5, 'd'), ok(6, 'e')]]);
    assert.deepEqual(await feedChunks([bytes('a\n'), bytes('tail')]), [[ok(0, 'a')], [ok(1, 'tail')]]); // the flush batch
  });

  it('stays within its readable high-water mark when the consumer is slow', async () => {
    const lineCount = 5000;
    const input = bytes(...Array.from({ length: lineCount }, (_, i) => `{"i":${i}}\n`));
    const splitter = new LineSplitter();
    assert.equal(splitter.readableObjectMode, true);
    assert.equal(splitter.writableObjectMode, false);
    assert.equal(splitter.readableHighWaterMark, READABLE_HIGH_WATER_BATCHES);
    const seen: number[] = [];
    let mostBuffered = 0;
    await pipeline(Readable.from(chunksOf(input, 37)), splitter, async (batches: AsyncIterable<RawLine[]>) => {
      for await (const batch of batches) {
        // Once its input has ended, a Transform drains its writable buffer regardless of backpressure.
        if (!splitter.writableEnded) mostBuffered = Math.max(mostBuffered, splitter.readableLength);
        assert.ok(batch.length > 0);
        for (const { line, text } of batch) seen.push(line, (JSON.parse(text) as { i: number }).i);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    assert.deepEqual(seen, Array.from({ length: lineCount }, (_, i) => [i, i]).flat());
    assert.ok(mostBuffered <= READABLE_HIGH_WATER_BATCHES, `buffered ${mostBuffered} batches`);
    assert.ok(mostBuffered >= 1, 'backpressure never built up');
  });

  it('accepts Uint8Array chunks', async () => {
    const batches = await feedChunks([new TextEncoder().encode('é\n'), new Uint8Array([0x7b, 0x7d])]);
    assert.deepEqual(batches.flat(), [ok(0, 'é'), ok(1, '{}')]);
  });

  it('numbers lines from 0 in each instance', async () => {
    const input = bytes('\none\ntwo\n');
    assert.deepEqual((await feedChunks([input])).flat(), [ok(1, 'one'), ok(2, 'two')]);
    assert.deepEqual((await feedChunks([input])).flat(), [ok(1, 'one'), ok(2, 'two')]);
  });

  it('defaults to a 64 MiB limit and rejects a limit that is not a non-negative integer', () => {
    assert.equal(DEFAULT_MAX_LINE_BYTES, 67_108_864);
    assert.deepEqual(splitLinesSync(Buffer.alloc(1_000_000, 0x61)), [ok(0, 'a'.repeat(1_000_000))]);
    for (const maxLineBytes of [Number.NaN, -1, 1.5]) {
      assert.throws(() => new LineSplitter({ maxLineBytes }), RangeError);
    }
  });
});

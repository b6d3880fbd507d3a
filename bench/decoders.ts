/**
 * The cost of reading and writing `.jsonl.zst`, `.jsonl.gz` and `.json` inputs, against the
 * alternatives to the `zstd` command (docs/formats.md, "Decisions and measurements"):
 *
 *   npm run bench:decoders -- [--mb 224] [--repeat 3]
 *
 * Input: about `--mb` MB of evidence JSONL, generated (seed 1) by the real collect stage from the
 * `_kb` rows of data-fixtures/generate.ts; at 224 it is the evidence of a `--size 256MB` archive.
 * From it, untimed: the `.zst` and `.gz` distill-stream's encoders write, each read back through
 * its own input reader (line-source.ts) and required to give the JSONL's bytes, and a `.json` array
 * of the same rows. Every timed run must then give the same bytes (or element texts) as its checked
 * run.
 *
 * Rows: decoding through distill-stream's zstd decoder (the `zstd -dc` child process of zstd.ts)
 * and gunzip (zlib); encoding through distill-stream's encoders (`zstd -c -3` child, zlib gzip
 * level 6); zstd-napi and fzstd, which are not dependencies and are loaded when installed
 * (`npm i --no-save zstd-napi@0.0.13 fzstd@0.1.1`, then `npm ci` restores node_modules); the JSON
 * array through distill-stream's reader (1 KiB pieces) and stream-json fed as that reader feeds
 * it, in 1 KiB and 64 KiB pieces.
 *
 * CPU seconds, the steadier number on a shared machine: this process's from process.cpuUsage()
 * (all its threads, libuv's pool included); the child's is the cutime + cstime that
 * /proc/self/stat gains once the child is reaped (Linux; clock ticks, 10 ms). Runs go round the
 * rows `--repeat` times, so load falls on every row alike; min–max over the runs. Nothing is
 * pinned; files are read from the page cache.
 */
import { spawnSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Duplex, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { getManyValues, isMany, none } from 'stream-chain/defs.js';
import { jsonParser } from 'stream-json/parser.js';
import { streamArray } from 'stream-json/core/streamers/stream-array.js';
import { DEFAULT_SEED, GENERATOR_RECORDED_AT, generateArchive, recordsForSize } from '../data-fixtures/generate.js';
import { runCollect } from '../pipelines/stage.js';
import { openLines, READ_CHUNK_BYTES } from '../src/io/line-source.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { openEncoder } from '../src/io/output-format.js';
import { walkInputFiles } from '../src/io/walk.js';
import { zstdDecoder } from '../src/io/zstd.js';
import { LAYOUT } from '../src/layout.js';

const MB = 2 ** 20;
/** Evidence is 7/8 of an archive's evidence + scored bytes, the size recordsForSize aims at. */
const ARCHIVE_PER_EVIDENCE = 8 / 7;
const INSTALL_ALTERNATIVES = 'npm i --no-save zstd-napi@0.0.13 fzstd@0.1.1';
const PIECES = [1 << 10, 64 << 10];

/** Where a row's output goes: raw bytes of a codec, or element texts of a JSON array reader. */
type Sink = (chunk: Uint8Array | string) => void;
type Table = 'decoders' | 'encoders' | 'json';

interface Row {
  table: Table;
  name: string;
  /** The last column of the decoders' and JSON arrays' tables. */
  notes?: string;
  run: (sink: Sink) => Promise<void>;
  /** Encoders: where the checked run writes its bytes, to be read back by distill-stream. */
  output?: string;
}

interface Sample {
  cpu: number;
  child: number;
  wall: number;
}

interface ZstdNapi {
  CompressStream: new (parameters: { compressionLevel: number }) => Transform;
  DecompressStream: new () => Transform;
}

interface Fzstd {
  Decompress: new (ondata: (data: Uint8Array) => void) => { push(chunk: Uint8Array, final?: boolean): void };
}

const require = createRequire(import.meta.url);

/** The version in a package's own package.json, which its exports may not expose. */
function installedVersion(name: string): string {
  const entry = require.resolve(name);
  const folder = `${path.sep}node_modules${path.sep}${name}${path.sep}`;
  const root = entry.slice(0, entry.lastIndexOf(folder) + folder.length);
  return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A package that is not a dependency, or undefined when it is not installed. */
async function optional<T>(name: string): Promise<{ module: T; label: string } | undefined> {
  try {
    const module = (await import(name)) as T;
    return { module, label: `${name} ${installedVersion(name)}` };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

/** CPU seconds of this process's children, counted once each is reaped. */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3, state
  return (Number(fields[13]) + Number(fields[14])) / 100; // cutime, cstime (USER_HZ = 100)
}

const readInput = (file: string): Readable => createReadStream(file, { highWaterMark: READ_CHUNK_BYTES });
const into = (sink: Sink): Writable =>
  new Writable({
    write(chunk: Buffer, _encoding, callback) {
      sink(chunk);
      callback();
    },
  });

/** A codec row: `file` read as distill-stream reads an input, through `codec`, into the sink. */
const through =
  (file: string, codec: () => Duplex | Transform | Promise<Duplex | Transform | undefined>) =>
  async (sink: Sink): Promise<void> => {
    const stream = await codec();
    if (stream === undefined) throw new Error('no encoder');
    await pipeline(readInput(file), stream, into(sink));
  };

/** fzstd has no stream: chunks are pushed, the decoded bytes come back through its callback. */
const fzstdDecode = (fzstd: Fzstd, file: string) => async (sink: Sink) => {
  const decoder = new fzstd.Decompress((data) => sink(data));
  for await (const chunk of readInput(file)) decoder.push(chunk as Buffer);
  decoder.push(new Uint8Array(0), true);
};

/** distill-stream's reader of `.jsonl`, `.jsonl.zst`, `.jsonl.gz` and `.json` inputs: each row's text and a newline. */
async function readRows(file: string, sink: Sink): Promise<void> {
  for await (const batch of await openLines({ display: path.basename(file), absolute: file }, { maxLineBytes: DEFAULT_MAX_LINE_BYTES })) {
    for (const row of batch) {
      if (row.unreadable !== undefined || row.tooLong) throw new Error(`${file}: row ${row.line} not read whole: ${row.unreadable ?? 'too long'}`);
      sink(row.text);
      sink('\n');
    }
  }
}

/** stream-json fed as JsonArrayReader (json-array.ts) feeds it, `pieceBytes` at a time, without its bookkeeping. */
async function tokenize(file: string, pieceBytes: number, sink: Sink): Promise<void> {
  const decoder = new StringDecoder('utf8');
  const tokens = jsonParser({ packValues: true, streamValues: false });
  const elements = streamArray();
  const deliver = (out: ReturnType<typeof tokens>): void => {
    if (!isMany(out)) return;
    for (const token of getManyValues(out)) {
      const element = elements(token) as { value: unknown } | typeof none;
      if (element === none) continue;
      sink(JSON.stringify(element.value));
      sink('\n');
    }
  };
  for await (const chunk of readInput(file)) {
    for (let at = 0; at < (chunk as Buffer).length; at += pieceBytes) deliver(tokens(decoder.write((chunk as Buffer).subarray(at, at + pieceBytes))));
  }
  deliver(tokens(decoder.end()));
  deliver(tokens(none as never));
}

/** Evidence JSONL of about `mb` MB, made by the real collect stage, as one file in walk order. */
async function evidenceFile(scratch: string, mb: number, log: (message: string) => void): Promise<{ file: string; records: number }> {
  const root = path.join(scratch, 'archive');
  const records = recordsForSize(Math.round(mb * MB * ARCHIVE_PER_EVIDENCE), DEFAULT_SEED);
  log(`generating ${records} records (seed ${DEFAULT_SEED}) and collecting their evidence…`);
  await generateArchive({ out: root, records, seed: DEFAULT_SEED, kbOnly: true });
  await runCollect({ root, recordedAt: GENERATOR_RECORDED_AT, maxLineBytes: DEFAULT_MAX_LINE_BYTES });
  const file = path.join(scratch, 'evidence.jsonl');
  async function* evidence(): AsyncGenerator<Buffer> {
    for await (const input of walkInputFiles(path.join(root, LAYOUT.evidence))) yield* createReadStream(input.absolute);
  }
  await pipeline(Readable.from(evidence()), createWriteStream(file));
  await rm(root, { recursive: true, force: true });
  return { file, records };
}

/** The JSONL's rows as one `.json` array, one element a line; how many rows. */
async function writeJsonArray(jsonl: string, file: string): Promise<number> {
  let rows = 0;
  async function* text(): AsyncGenerator<string> {
    for await (const batch of await openLines({ display: path.basename(jsonl), absolute: jsonl }, { maxLineBytes: DEFAULT_MAX_LINE_BYTES })) {
      yield batch.map((row) => `${rows++ === 0 ? '[\n' : ',\n'}${row.text}`).join('');
    }
    yield '\n]\n';
  }
  await pipeline(Readable.from(text()), createWriteStream(file));
  return rows;
}

interface Checked {
  /** What a timed run's sink counts: bytes, or UTF-16 units of element texts. */
  count: number;
  digest: string;
}

/** Runs `work` into a sink that hashes and counts, and also writes its bytes to `file` when given. */
async function checkedRun(work: (sink: Sink) => Promise<void>, file?: string): Promise<Checked> {
  const hash: Hash = createHash('sha256');
  const fd = file === undefined ? undefined : openSync(file, 'w');
  let count = 0;
  try {
    await work((chunk) => {
      hash.update(chunk);
      count += chunk.length;
      if (fd !== undefined) writeSync(fd, chunk as Uint8Array);
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return { count, digest: hash.digest('hex') };
}

/** One timed run into a sink that only counts; the count must be the checked run's. */
async function timedRun(row: Row, expected: number): Promise<Sample> {
  let count = 0;
  const child = childCpuSeconds();
  const cpu = process.cpuUsage();
  const start = performance.now();
  await row.run((chunk) => {
    count += chunk.length;
  });
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const sample = { cpu: (used.user + used.system) / 1e6, child: childCpuSeconds() - child, wall };
  if (count !== expected) throw new Error(`${row.name}: ${count} out, the checked run gave ${expected}`);
  return sample;
}

function zstdVersion(): string {
  const result = spawnSync('zstd', ['--version'], { encoding: 'utf8' });
  if (result.error !== undefined) throw new Error(`the zstd command is needed: ${result.error.message} (Debian/Ubuntu: apt-get install zstd)`);
  return /v\d+\.\d+\.\d+/.exec(result.stdout)?.[0] ?? result.stdout.trim();
}

const range = (values: number[]): string => {
  const [low, high] = [Math.min(...values).toFixed(2), Math.max(...values).toFixed(2)];
  return low === high ? low : `${low}–${high}`;
};
const megabytes = (bytes: number): string => (bytes / MB).toFixed(1);
const loadAverage = (): string => os.loadavg().map((n) => n.toFixed(2)).join(' ');

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { mb: { type: 'string', default: '224' }, repeat: { type: 'string', default: '3' } } });
  const mb = Number(values.mb);
  const repeat = Number(values.repeat);
  if (!(mb > 0) || !Number.isSafeInteger(repeat) || repeat < 1) throw new RangeError('--mb takes a positive number, --repeat an integer ≥ 1');
  const log = (message: string): void => void process.stderr.write(`${message}\n`);
  const zstd = zstdVersion();
  const napi = await optional<ZstdNapi>('zstd-napi');
  const fzstd = await optional<Fzstd>('fzstd');
  const missing = [napi === undefined ? 'zstd-napi' : '', fzstd === undefined ? 'fzstd' : ''].filter((name) => name !== '');

  const scratch = await mkdtemp(path.join(os.tmpdir(), 'distill-decoders-bench-'));
  try {
    const { file: jsonl, records } = await evidenceFile(scratch, mb, log);
    const at = (name: string): string => path.join(scratch, name);
    const [zst, gz, json] = [at('evidence.jsonl.zst'), at('evidence.jsonl.gz'), at('evidence.json')];
    const elements = await writeJsonArray(jsonl, json);

    const rows: Row[] = [
      { table: 'encoders', name: '`zstd -c -3` child process (zstd.ts)', output: zst, run: through(jsonl, () => openEncoder({ kind: 'zstd' }, 'bench.jsonl.zst')) },
      ...(napi === undefined ? [] : [{ table: 'encoders' as const, name: `${napi.label} \`CompressStream\`, level 3`, output: at('napi.jsonl.zst'), run: through(jsonl, () => new napi.module.CompressStream({ compressionLevel: 3 })) }]),
      { table: 'encoders', name: 'gzip level 6 (zlib, libuv\'s thread pool)', output: gz, run: through(jsonl, () => openEncoder({ kind: 'gzip' }, 'bench.jsonl.gz')) },
      { table: 'decoders', name: '`zstd -dc` child process (zstd.ts)', notes: `the zstd command ${zstd}`, run: through(zst, () => zstdDecoder('bench.jsonl.zst').stream) },
      ...(napi === undefined ? [] : [{ table: 'decoders' as const, name: `${napi.label} (\`DecompressStream\`)`, notes: 'a native addon', run: through(zst, () => new napi.module.DecompressStream()) }]),
      ...(fzstd === undefined ? [] : [{ table: 'decoders' as const, name: `${fzstd.label} (pure JavaScript)`, notes: 'decodes only', run: fzstdDecode(fzstd.module, zst) }]),
      { table: 'decoders', name: 'gunzip (zlib), same data as `.gz`, for scale', run: through(gz, () => createGunzip()) },
      { table: 'json', name: 'JsonArrayReader, distill-stream\'s reader (1 KiB pieces)', notes: 'as a `.json` input is read (line-source.ts)', run: (sink) => readRows(json, sink) },
      ...PIECES.map((piece) => ({ table: 'json' as const, name: `stream-json fed ${piece >> 10} KiB pieces`, notes: 'tokenizer, assembler and JSON.stringify per element, as the reader feeds them', run: (sink: Sink) => tokenize(json, piece, sink) })),
    ];

    log('checking every row once (untimed)…');
    const input = await checkedRun((sink) => readRows(jsonl, sink));
    const inputBytes = statSync(jsonl).size;
    const expected = new Map<Row, number>();
    for (const row of rows) {
      const result = await checkedRun(row.run, row.output);
      // An encoder's bytes are read back by distill-stream's reader; the others give the rows themselves.
      const rowsOut = row.output === undefined ? result : await checkedRun((sink) => readRows(row.output!, sink));
      if (rowsOut.digest !== input.digest) throw new Error(`${row.name}: its output is not the input's rows`);
      expected.set(row, result.count);
    }

    const loadBefore = loadAverage();
    const samples = new Map<Row, Sample[]>(rows.map((row) => [row, []]));
    for (let round = 1; round <= repeat; round++) {
      log(`run ${round}/${repeat} (load ${loadAverage()})…`);
      for (const row of rows) samples.get(row)!.push(await timedRun(row, expected.get(row)!));
    }
    const loadAfter = loadAverage();

    const cpus = os.cpus();
    const cells = (row: Row): string => {
      const runs = samples.get(row)!;
      const child = runs.every((s) => s.child === 0) ? '—' : `${range(runs.map((s) => s.child))} (zstd)`;
      return `${range(runs.map((s) => s.cpu))} | ${child} | ${range(runs.map((s) => s.wall))}`;
    };
    /** Every table: the row, this process's CPU, the child's, wall time, then `last`. */
    const table = (which: Table, what: string, lastHead: string, last: (row: Row) => string): string[] => [
      `| ${what} | this process's CPU s | child CPU s | wall s | ${lastHead} |`,
      `| --- | ---: | ---: | ---: | ${which === 'encoders' ? '---:' : '---'} |`,
      ...rows.filter((row) => row.table === which).map((row) => `| ${row.name} | ${cells(row)} | ${last(row)} |`),
    ];
    const out = [
      `distill-stream decoders bench, ${new Date().toISOString()}`,
      `machine: ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB RAM, ${os.type()} ${os.release()}; Node ${process.version}; zstd command ${zstd}`,
      `load average (1/5/15 min): ${loadBefore} before the timed runs, ${loadAfter} after`,
      `command: npm run bench:decoders -- ${argv.join(' ')}`.trimEnd(),
      `input: ${inputBytes.toLocaleString('en-US')} bytes (${megabytes(inputBytes)} MB) of evidence JSONL, ${elements} rows, collected from ${records} generated records (seed ${DEFAULT_SEED}); page cache warm`,
      `CPU s: min–max over ${repeat} run(s); this process from process.cpuUsage(), the child from /proc/self/stat (cutime + cstime); MB = 2^20 bytes; nothing pinned`,
      ...(missing.length === 0 ? [] : [`${missing.join(' and ')} not installed, so left out; to include them: ${INSTALL_ALTERNATIVES} (then npm ci)`]),
      '',
      ...table('decoders', `decoder, ${megabytes(inputBytes)} MB out`, 'notes', (row) => row.notes ?? ''),
      '',
      ...table('encoders', `encoder, ${megabytes(inputBytes)} MB in`, 'output MB', (row) => megabytes(expected.get(row)!)),
      '',
      ...table('json', `JSON array reader, ${megabytes(statSync(json).size)} MB, ${elements} elements`, 'notes', (row) => row.notes ?? ''),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench:decoders: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof RangeError ? 2 : 1;
});

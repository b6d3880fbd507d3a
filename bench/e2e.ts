/**
 * End-to-end throughput and memory on a generated archive: each phase in its own child process
 * (pinned to CPU 0 when taskset exists), measured against a floor that only splits, parses and
 * re-serialises the same bytes.
 *
 *   npm run bench:e2e -- --size 1GB [--stage sft]… [--data DIR] [--seed S] [--repeat N]
 *
 * The archive is generated once per size and seed under .bench-data/<size>/ and reused while the
 * generator is unchanged. Rows are counted before anything is timed (which also warms the page
 * cache, so every phase reads from memory), and each phase's own summary must agree with those
 * counts. Results: a table on stdout and .bench-data/results-<size>.json. A new stage is one more
 * entry in `phases()`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { kbSourceFiles } from '../src/io/kb.js';
import { DEFAULT_SEED, GENERATOR_RECORDED_AT, generateArchive, parseSize, recordsForSize } from '../data-fixtures/generate.js';
import { LineSplitter, type RawLine } from '../src/io/line-splitter.js';
import { walkInputFiles } from '../src/io/walk.js';
import { LAYOUT } from '../src/layout.js';
import { EXIT_PROBE, EXIT_PROBE_ENV, MemorySampler, readExitReport } from './memory.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** This file runs from dist/bench. */
const PACKAGE_ROOT = path.resolve(here, '..', '..');
const BENCH_DATA = path.join(PACKAGE_ROOT, '.bench-data');
const CLI_JS = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
const FLOOR_JS = path.join(here, 'floor.js');
const GENERATOR_JS = path.join(PACKAGE_ROOT, 'dist', 'data-fixtures', 'generate.js');
const INDEX_DIR = '.distill-index';
const MB = 2 ** 20;
const PINNED_CPU = '0';
const SAMPLER_CPU = '1';

// ---------------------------------------------------------------------------------------------
// The archive and its counts

interface TreeCounts {
  files: number;
  rows: number;
  bytes: number;
}

interface ArchiveCounts {
  kb: TreeCounts;
  evidence: TreeCounts;
  scored: TreeCounts;
}

/** Rows as the pipeline counts them (the same splitter: blank lines are not rows), untimed. */
async function countFiles(files: AsyncIterable<{ absolute: string; size: number }>): Promise<TreeCounts> {
  const counts: TreeCounts = { files: 0, rows: 0, bytes: 0 };
  for await (const file of files) {
    counts.files++;
    counts.bytes += file.size;
    const batches = pipeline(createReadStream(file.absolute, { highWaterMark: 1 << 20 }), new LineSplitter(), () => {});
    for await (const batch of batches as AsyncIterable<RawLine[]>) counts.rows += batch.length;
  }
  return counts;
}

/** The raw logs collect reads: not the audit baselines, which run-all appends to. */
async function* kbSources(root: string): AsyncGenerator<{ absolute: string; size: number }> {
  for (const absolute of await kbSourceFiles(root)) yield { absolute, size: (await stat(absolute)).size };
}

interface ArchiveKey {
  size: string;
  seed: number;
  records: number;
  /** sha256 of the compiled generator: a changed generator means a new archive. */
  generator: string;
}

const KEY_FILE = 'archive-key.json';

/** The archive for `size` and `seed` under .bench-data/<size>/, generated unless an identical one is there. */
async function benchArchive(size: string, seed: number, log: (message: string) => void): Promise<string> {
  const dir = path.join(BENCH_DATA, size);
  const key: ArchiveKey = { size, seed, records: recordsForSize(parseSize(size), seed), generator: createHash('sha256').update(await readFile(GENERATOR_JS)).digest('hex') };
  const existing = await readFile(path.join(dir, KEY_FILE), 'utf8').catch(() => undefined);
  if (existing === JSON.stringify(key)) {
    log(`reusing ${path.relative(PACKAGE_ROOT, dir)} (${key.records} records, seed ${seed})`);
    return dir;
  }
  log(`generating ${path.relative(PACKAGE_ROOT, dir)}: ${key.records} records, seed ${seed}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await generateArchive({ out: dir, records: key.records, seed, log: (message) => log(`  ${message}`) });
  await writeFile(path.join(dir, KEY_FILE), JSON.stringify(key)); // last: a half-built archive has no key
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Phases: one child process each

type Summary = Record<string, unknown>;

/** What a phase sees: the archive, its counts, and a way to run another phase untimed. */
interface Bench {
  root: string;
  evidence: string;
  scored: string;
  counts: ArchiveCounts;
  run: (phase: Phase) => Promise<RunResult>;
}

interface Phase {
  name: string;
  /** What is measured and what counts as input, for the header. */
  about: string;
  /** Arguments after `node`. */
  argv: (bench: Bench) => string[];
  /** The bytes and records its throughput is measured against. */
  input: (counts: ArchiveCounts) => { bytes: number; records: number };
  /** Untimed set-up before each run. */
  before?: (bench: Bench) => Promise<void>;
  /** The child's summary (its last stderr line, JSON) against the counts: a mismatch, or undefined. */
  check: (summary: Summary, counts: ArchiveCounts) => string | undefined;
}

const expectEqual = (summary: Summary, field: string, expected: number): string | undefined =>
  summary[field] === expected ? undefined : `${field}=${String(summary[field])}, expected ${expected}`;

const scoredAndEvidence = (counts: ArchiveCounts): { bytes: number; records: number } => ({
  bytes: counts.scored.bytes + counts.evidence.bytes,
  records: counts.scored.rows + counts.evidence.rows,
});

const INDEX: Phase = {
  name: 'index',
  about: 'evidence index built from scratch (`index --evidence`); input = evidence',
  argv: ({ root, evidence }) => [CLI_JS, 'index', '--root', root, '--evidence', evidence, '--json'],
  input: (counts) => ({ bytes: counts.evidence.bytes, records: counts.evidence.rows }),
  before: ({ evidence }) => rm(path.join(evidence, INDEX_DIR), { recursive: true, force: true }),
  check: (summary, counts) => expectEqual(summary, 'rows', counts.evidence.rows) ?? expectEqual(summary, 'filesRead', counts.evidence.files),
};

/** The index brought up to date: a manifest check when it is, a full build when it is missing. */
const INDEX_REFRESH: Phase = { ...INDEX, name: 'index-refresh', before: undefined, check: (summary, counts) => expectEqual(summary, 'rows', counts.evidence.rows) };

/** The scored runs as the other input formats, made once per archive (untimed). */
const FORMATS_DIR = 'formats';

async function zstdTree(root: string): Promise<string> {
  const tree = path.join(root, FORMATS_DIR, 'scored-zst');
  if (await stat(tree).then(() => true, () => false)) return tree;
  const temp = `${tree}.partial`;
  await rm(temp, { recursive: true, force: true });
  for await (const file of walkInputFiles(path.join(root, LAYOUT.scoredRuns))) {
    const target = path.join(temp, path.relative(path.join(root, LAYOUT.scoredRuns), file.absolute));
    await mkdir(path.dirname(target), { recursive: true });
    const zstd = spawnSync('zstd', ['-q', '-3', '--single-thread', file.absolute, '-o', `${target}.zst`]);
    if (zstd.status !== 0) throw new Error(`zstd: ${String(zstd.stderr)}`);
  }
  await rename(temp, tree);
  return tree;
}

async function jsonArray(root: string): Promise<string> {
  const file = path.join(root, FORMATS_DIR, 'scored-runs.json');
  if (await stat(file).then(() => true, () => false)) return file;
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(`${file}.partial`);
  let first = true;
  out.write('[\n');
  for await (const input of walkInputFiles(path.join(root, LAYOUT.scoredRuns))) {
    const batches = pipeline(createReadStream(input.absolute, { highWaterMark: 1 << 20 }), new LineSplitter(), () => {});
    for await (const batch of batches as AsyncIterable<RawLine[]>) {
      for (const line of batch) {
        try {
          JSON.parse(line.text);
        } catch {
          continue; // a JSON array cannot hold a line that is not JSON
        }
        if (!out.write(`${first ? '' : ',\n'}${line.text}`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
        first = false;
      }
    }
  }
  await new Promise<void>((resolve, reject) => out.end('\n]\n', () => resolve()).once('error', reject));
  await rename(`${file}.partial`, file);
  return file;
}

/**
 * The input and output formats, each as `sft --include-partial` over the same scored runs: the
 * inputs made once per archive (untimed), the outputs written under <archive>/formats/out.
 */
const FORMAT_PHASES: readonly Phase[] = [
  formatPhase('sft-zst-in', 'scored runs as *.jsonl.zst (decoded by the zstd command)', (bench) => [path.join(bench.root, FORMATS_DIR, 'scored-zst')], ({ root }) => zstdTree(root)),
  formatPhase('sft-json-in', 'scored runs as one .json array (stream-json)', (bench) => [path.join(bench.root, FORMATS_DIR, 'scored-runs.json')], ({ root }) => jsonArray(root)),
  formatPhase('sft-gz-out', 'dataset written as .jsonl.gz (zlib level 6)', (bench) => [bench.scored, '--out', formatOut(bench, 'sft.jsonl.gz')]),
  formatPhase('sft-zst-out', 'dataset written as .jsonl.zst (the zstd command, level 3)', (bench) => [bench.scored, '--out', formatOut(bench, 'sft.jsonl.zst')]),
  formatPhase('sft-parquet-out', 'dataset written as Parquet (hyparquet-writer, row groups of 10,000 rows)', (bench) => [bench.scored, '--out', formatOut(bench, 'sft.parquet')]),
];

function formatOut(bench: Bench, name: string): string {
  return path.join(bench.root, FORMATS_DIR, 'out', name);
}

function formatPhase(name: string, about: string, args: (bench: Bench) => string[], prepare?: (bench: Bench) => Promise<unknown>): Phase {
  return {
    name,
    about: `\`sft --include-partial\`, ${about}, index prebuilt; input = scored + evidence, records = scored rows`,
    argv: (bench) => [CLI_JS, 'sft', '--root', bench.root, '--evidence', bench.evidence, '--recorded-at', GENERATOR_RECORDED_AT, '--include-partial', '--json', ...args(bench)],
    input: (counts) => ({ bytes: scoredAndEvidence(counts).bytes, records: counts.scored.rows }),
    before: async (bench) => {
      await prepare?.(bench);
      await bench.run(INDEX_REFRESH);
    },
    check: (summary, counts) => expectEqual(summary, 'read', counts.scored.rows),
  };
}

/** Every phase, in run order; the floor first, as the others' baseline. A new stage is a new row. */
const PHASES: readonly Phase[] = [
  {
    name: 'floor',
    about: 'LineSplitter + JSON.parse + JSON.stringify to /dev/null; input = scored + evidence',
    argv: ({ scored, evidence }) => [FLOOR_JS, scored, evidence],
    input: scoredAndEvidence,
    check: (summary, counts) => expectEqual(summary, 'records', counts.scored.rows + counts.evidence.rows),
  },
  INDEX,
  {
    name: 'sft',
    about: '`sft --include-partial` end to end, index prebuilt; input = scored + evidence (it joins what it exports), records = scored rows',
    argv: ({ root }) => [CLI_JS, 'sft', '--root', root, '--recorded-at', GENERATOR_RECORDED_AT, '--include-partial', '--json'],
    input: (counts) => ({ bytes: scoredAndEvidence(counts).bytes, records: counts.scored.rows }),
    before: async ({ run }) => void (await run(INDEX_REFRESH)),
    check: (summary, counts) => expectEqual(summary, 'read', counts.scored.rows),
  },
  ...FORMAT_PHASES,
  joinedExport('rag', '`rag --include-review`', ['--include-review']),
  joinedExport('preference', '`preference` (external sort by task, texts fetched per pair)', []),
  joinedExport('export-all', '`export-all` (sft + rag + preference in one pass); summary checked on preference', ['--include-partial', '--include-review']),
  // The stages below rebuild the archive's trees (identically: same recorded_at), so they run last.
  {
    name: 'collect',
    about: '`collect` (_kb → partitioned evidence tree, atomically); input = _kb',
    argv: ({ root }) => [CLI_JS, 'collect', '--root', root, '--recorded-at', GENERATOR_RECORDED_AT, '--json'],
    input: (counts) => ({ bytes: counts.kb.bytes, records: counts.kb.rows }),
    check: (summary, counts) => expectEqual(summary, 'read', counts.kb.rows),
  },
  {
    name: 'score',
    about: '`score` (evidence tree → scored tree); input = evidence',
    argv: ({ root }) => [CLI_JS, 'score', '--root', root, '--recorded-at', GENERATOR_RECORDED_AT, '--json'],
    input: (counts) => ({ bytes: counts.evidence.bytes, records: counts.evidence.rows }),
    check: (summary, counts) => expectEqual(summary, 'read', counts.evidence.rows),
  },
  {
    name: 'run-all',
    about: '`run-all` (collect → score → rag → sft → preference, receipts hashed while streaming, index rebuilt); input = _kb',
    argv: ({ root }) => [CLI_JS, 'run-all', '--root', root, '--recorded-at', GENERATOR_RECORDED_AT, '--json'],
    input: (counts) => ({ bytes: counts.kb.bytes, records: counts.kb.rows }),
    check: (summary) => (summary['overall_passed'] === true ? undefined : 'overall_passed is not true'),
  },
];

/** An export over the scored runs with the index prebuilt; records = scored rows. */
function joinedExport(command: string, about: string, flags: string[]): Phase {
  return {
    name: command,
    about: `${about}, index prebuilt; input = scored + evidence, records = scored rows`,
    argv: ({ root }) => [CLI_JS, command, '--root', root, '--recorded-at', GENERATOR_RECORDED_AT, ...flags, '--json'],
    input: (counts) => ({ bytes: scoredAndEvidence(counts).bytes, records: counts.scored.rows }),
    before: async ({ run }) => void (await run(INDEX_REFRESH)),
    check: (summary, counts) => expectEqual(summary, 'read', counts.scored.rows),
  };
}

interface RunResult {
  seconds: number;
  cpuSeconds: number | undefined;
  peakRssAnonKb: number;
  peakRssFileKb: number;
  vmHwmKb: number;
  samples: number;
}

/** `taskset -c 0` when it exists: per-core numbers, and the sampler keeps the other core. */
function pinning(): string[] {
  const found = spawnSync('which', ['taskset'], { encoding: 'utf8' });
  return found.status === 0 ? [found.stdout.trim(), '-c', PINNED_CPU] : [];
}

async function runPhase(phase: Phase, bench: Bench, pin: readonly string[], scratch: string): Promise<RunResult> {
  await phase.before?.(bench);
  const exitFile = path.join(scratch, `${phase.name}-exit.json`);
  await rm(exitFile, { force: true });
  const command = [...pin, process.execPath, '--import', EXIT_PROBE, ...phase.argv(bench)];
  const started = performance.now();
  // taskset execs node in place, so the pid sampled is node's.
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [EXIT_PROBE_ENV]: exitFile } });
  const sampler = new MemorySampler(child.pid!);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
  const seconds = (performance.now() - started) / 1000;
  sampler.stop();
  if (code !== 0) throw new Error(`${phase.name}: exit code ${code}\n${stderr}`);
  let summary: Summary;
  try {
    summary = JSON.parse(stderr.trimEnd().split('\n').at(-1) ?? '') as Summary;
  } catch {
    throw new Error(`${phase.name}: no JSON summary as the last line on stderr\n${stderr}`);
  }
  const mismatch = phase.check(summary, bench.counts);
  if (mismatch !== undefined) throw new Error(`${phase.name}: counts do not match the archive: ${mismatch}\n${stderr}`);
  const exit = readExitReport(exitFile);
  return {
    seconds,
    cpuSeconds: exit?.cpuSeconds,
    peakRssAnonKb: sampler.peakRssAnonKb,
    peakRssFileKb: sampler.peakRssFileKb,
    vmHwmKb: exit?.status.vmHwmKb ?? sampler.lastVmHwmKb,
    samples: sampler.samples,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

interface PhaseResult {
  name: string;
  about: string;
  argv: readonly string[];
  inputBytes: number;
  records: number;
  runs: RunResult[];
  /** Median over the runs. */
  seconds: number;
  mbPerSecond: number;
  recordsPerSecond: number;
  cpuSeconds: number | undefined;
  /** Peaks: the largest over the runs. */
  peakRssAnonMb: number;
  vmHwmMb: number;
  peakRssFileMb: number;
  /** MB/s over the floor's. */
  vsFloor: number | undefined;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function summarise(phase: Phase, bench: Bench, runs: RunResult[], floorMbPerSecond: number | undefined): PhaseResult {
  const input = phase.input(bench.counts);
  const seconds = median(runs.map((r) => r.seconds));
  const cpu = runs.map((r) => r.cpuSeconds).filter((s): s is number => s !== undefined);
  const mbPerSecond = input.bytes / MB / seconds;
  const peakMb = (pick: (r: RunResult) => number): number => Math.max(...runs.map(pick)) / 1024;
  return {
    name: phase.name,
    about: phase.about,
    argv: phase.argv(bench),
    inputBytes: input.bytes,
    records: input.records,
    runs,
    seconds,
    mbPerSecond,
    recordsPerSecond: input.records / seconds,
    cpuSeconds: cpu.length === runs.length ? median(cpu) : undefined,
    peakRssAnonMb: peakMb((r) => r.peakRssAnonKb),
    vmHwmMb: peakMb((r) => r.vmHwmKb),
    peakRssFileMb: peakMb((r) => r.peakRssFileKb),
    vsFloor: floorMbPerSecond === undefined ? undefined : mbPerSecond / floorMbPerSecond,
  };
}

function table(rows: readonly PhaseResult[]): string {
  const header = ['phase', 'input MB', 's', 'MB/s', 'records/s', 'CPU s', 'peak RssAnon MB', 'VmHWM MB', 'peak RssFile MB', 'vs floor'];
  const cells = rows.map((r) => [
    r.name,
    (r.inputBytes / MB).toFixed(0),
    r.seconds.toFixed(2),
    r.mbPerSecond.toFixed(1),
    Math.round(r.recordsPerSecond).toLocaleString('en-US'),
    r.cpuSeconds === undefined ? '-' : r.cpuSeconds.toFixed(2),
    r.peakRssAnonMb.toFixed(0),
    r.vmHwmMb.toFixed(0),
    r.peakRssFileMb.toFixed(0),
    r.vsFloor === undefined ? '-' : `${r.vsFloor.toFixed(2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** The phases run-all chains (its index rebuild included), each run alone. */
const RUN_ALL_STAGES = ['collect', 'score', 'index', 'rag', 'sft', 'preference'];

/** run-all's time and memory against its stages run alone, when all of them ran: the cost of receipts and hashing. */
function runAllAgainstStages(results: readonly PhaseResult[]): string | undefined {
  const runAll = results.find((r) => r.name === 'run-all');
  const stages = RUN_ALL_STAGES.map((name) => results.find((r) => r.name === name));
  if (runAll === undefined || stages.some((r) => r === undefined)) return undefined;
  const alone = stages.reduce((sum, r) => sum + r!.seconds, 0);
  const largest = Math.max(...stages.map((r) => r!.peakRssAnonMb));
  return (
    `run-all: ${runAll.seconds.toFixed(2)} s against ${alone.toFixed(2)} s for ${RUN_ALL_STAGES.join(' + ')} run alone (${(runAll.seconds / alone).toFixed(2)}×); ` +
    `peak RssAnon ${runAll.peakRssAnonMb.toFixed(0)} MB against ${largest.toFixed(0)} MB for the largest stage alone`
  );
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '1GB' },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
      stage: { type: 'string', multiple: true },
      data: { type: 'string' },
      repeat: { type: 'string', default: '1' },
    },
  });
  const seed = Number(values.seed);
  const repeat = Number(values.repeat);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(repeat) || repeat < 1) throw new RangeError('--seed and --repeat take integers (--repeat ≥ 1)');
  const size = values.size.toUpperCase();
  parseSize(size); // a bad size or stage fails here, before anything is generated
  const wanted = values.stage;
  const unknown = (wanted ?? []).filter((name) => !PHASES.some((phase) => phase.name === name));
  if (unknown.length > 0) throw new RangeError(`unknown --stage ${unknown.join(', ')}; known: ${PHASES.map((p) => p.name).join(', ')}`);
  const selected = PHASES.filter((phase, i) => i === 0 || wanted === undefined || wanted.includes(phase.name));
  const log = (message: string): void => void process.stderr.write(`${message}\n`);

  // The parent only samples: on the second core, out of the children's way.
  const pin = pinning();
  const cpus = os.cpus();
  if (pin.length > 0 && cpus.length > 1) spawnSync(pin[0]!, ['-cp', SAMPLER_CPU, String(process.pid)], { stdio: 'ignore' });

  const root = values.data === undefined ? await benchArchive(size, seed, log) : path.resolve(values.data);
  const label = values.data === undefined ? size : path.basename(root);
  const evidence = path.join(root, LAYOUT.evidence);
  const scored = path.join(root, LAYOUT.scoredRuns);
  log('counting rows (untimed; warms the page cache)…');
  const counts: ArchiveCounts = { kb: await countFiles(kbSources(root)), evidence: await countFiles(walkInputFiles(evidence)), scored: await countFiles(walkInputFiles(scored)) };

  const scratch = await mkdtemp(path.join(os.tmpdir(), 'distill-bench-'));
  const bench: Bench = { root, evidence, scored, counts, run: (phase) => runPhase(phase, bench, pin, scratch) };
  const results: PhaseResult[] = [];
  try {
    for (const phase of selected) {
      const runs: RunResult[] = [];
      for (let r = 0; r < repeat; r++) {
        log(`${phase.name}: run ${r + 1}/${repeat}…`);
        runs.push(await bench.run(phase));
      }
      results.push(summarise(phase, bench, runs, results[0]?.mbPerSecond));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const machine = { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGb: os.totalmem() / 2 ** 30, os: `${os.type()} ${os.release()}` };
  const pinned = pin.length > 0 ? `children pinned to CPU ${PINNED_CPU} (taskset -c ${PINNED_CPU}), sampler on CPU ${SAMPLER_CPU}` : 'not pinned (no taskset)';
  const header = [
    `distill-stream e2e bench, ${new Date().toISOString()}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb.toFixed(1)} GB RAM, ${machine.os}; Node ${process.version}`,
    `cpu: ${pinned}; ${repeat} run(s) per phase, median shown`,
    `archive: ${values.data === undefined ? `${path.relative(PACKAGE_ROOT, root)} (seed ${seed})` : root}; scored ${(counts.scored.bytes / MB).toFixed(1)} MB in ${counts.scored.rows} rows / ${counts.scored.files} files; evidence ${(counts.evidence.bytes / MB).toFixed(1)} MB in ${counts.evidence.rows} rows; page cache warm`,
    'MB = 2^20 bytes; memory from /proc/<pid>/status sampled every 50 ms (RssAnon = private, RssFile = mapped files incl. the node binary and LMDB pages), VmHWM and CPU s read by the child at exit; time includes node start-up',
    ...results.map((r) => `  ${r.name}: ${r.about}`),
  ].join('\n');
  const comparison = runAllAgainstStages(results);
  process.stdout.write(`${header}\n\n${table(results)}\n${comparison === undefined ? '' : `\n${comparison}\n`}`);
  const resultsFile = path.join(BENCH_DATA, `results-${label}.json`);
  await mkdir(BENCH_DATA, { recursive: true });
  await writeFile(resultsFile, `${JSON.stringify({ date: new Date().toISOString(), machine, node: process.version, pinned, repeat, archive: { root, seed: values.data === undefined ? seed : undefined, counts }, phases: results }, null, 2)}\n`);
  log(`results written to ${path.relative(PACKAGE_ROOT, resultsFile)}`);
}

await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench:e2e: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof RangeError ? 2 : 1;
});

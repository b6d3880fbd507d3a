/**
 * End-to-end time and memory on one generated archive, against two floors (the same bytes only
 * split, parsed and re-serialised) and DuckDB doing sft's join on the same files, with the targets
 * of speed and memory computed from the run as ratios.
 *
 *   npm run bench:e2e -- --size 1GB [--stage NAME]… [--data DIR] [--seed S] [--repeat N] [--compare results-<other>.json]
 *
 * Every phase is its own process tree with default options (so `--jobs` is every core and large
 * inputs run as shard children) unless its name ends in -jobs1; nothing is pinned. The archive is
 * generated once per size and seed under .bench-data/<size>/ and reused while the generator is
 * unchanged. Rows are counted and the join's row count computed before anything is timed (which
 * also warms the page cache, so every phase reads from memory), and each phase's own summary must
 * agree with them. Results: a table and a targets block on stdout, .bench-data/results-<size>.json.
 * A new phase is one more entry in PHASES.
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
import { EXIT_PROBE, EXIT_PROBE_ENV, readExitReports, TreeSampler } from './memory.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** This file runs from dist/bench. */
const PACKAGE_ROOT = path.resolve(here, '..', '..');
const BENCH_DATA = path.join(PACKAGE_ROOT, '.bench-data');
const CLI_JS = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
const FLOOR_JS = path.join(here, 'floor.js');
/** The floor run as two processes: how much faster two processes that share nothing go here than one. */
const FLOOR_TWO_PROCESSES = 'floor-2-processes';
const DUCKDB_JS = path.join(here, 'duckdb-join.js');
const GENERATOR_JS = path.join(PACKAGE_ROOT, 'dist', 'data-fixtures', 'generate.js');
const INDEX_DIR = '.distill-index';
const MB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// The archive, its counts and the join's row count

interface TreeCounts {
  files: number;
  rows: number;
  bytes: number;
}

/** Rows the join yields, computed here from the files: as DuckDB's query decides blank, and as sft does. */
interface JoinCounts {
  /** Blank = nothing but ' ', \t, \n, \r, \v, \f (the query's trim set). */
  duckdb: number;
  /** Blank = String.prototype.trim() leaves nothing (sft's rule); sft exports these or quarantines them as hallucinated_file_path. */
  sft: number;
}

interface ArchiveCounts {
  kb: TreeCounts;
  evidence: TreeCounts;
  scored: TreeCounts;
  /** The day folder of scored runs with the most bytes: an input too small to shard. */
  small: TreeCounts & { dir: string };
  join: JoinCounts;
}

interface CountedFile {
  absolute: string;
  size: number;
}

/** Rows as the pipeline counts them (the same splitter: blank lines are not rows), each line shown to `visit`; untimed. */
async function countFiles(files: AsyncIterable<CountedFile>, visit?: (text: string, file: CountedFile) => void): Promise<TreeCounts> {
  const counts: TreeCounts = { files: 0, rows: 0, bytes: 0 };
  for await (const file of files) {
    counts.files++;
    counts.bytes += file.size;
    const batches = pipeline(createReadStream(file.absolute, { highWaterMark: 1 << 20 }), new LineSplitter(), () => {});
    for await (const batch of batches as AsyncIterable<RawLine[]>) {
      counts.rows += batch.length;
      if (visit !== undefined) for (const line of batch) visit(line.text, file);
    }
  }
  return counts;
}

/** The raw logs collect reads: not the audit baselines, which run-all appends to. */
async function* kbSources(root: string): AsyncGenerator<CountedFile> {
  for (const absolute of await kbSourceFiles(root)) yield { absolute, size: (await stat(absolute)).size };
}

/** The roles the join keeps, written out here (not imported) so the count is the query's, independently. */
const JOIN_ROLES = new Set(['executor', 'reviewer', 'applier']);
const DUCKDB_BLANK = /^[ \t\n\r\v\f]*$/;

/**
 * The archive's counts, and the join's row count the slow way: accepted scored rows per evidence
 * run id, then every evidence row with a kept role and a non-blank text counted once per accepted
 * scored row naming it (an inner join's multiplicity).
 */
async function countArchive(root: string, evidence: string, scored: string): Promise<ArchiveCounts> {
  const kb = await countFiles(kbSources(root));
  const accepted = new Map<string, number>();
  const perDay = new Map<string, TreeCounts>();
  const scoredCounts = await countFiles(walkInputFiles(scored), (text, file) => {
    const row = JSON.parse(text) as { evidence_run_id?: unknown; category?: unknown };
    if (row.category === 'accepted' && typeof row.evidence_run_id === 'string') accepted.set(row.evidence_run_id, (accepted.get(row.evidence_run_id) ?? 0) + 1);
    const day = perDay.get(path.dirname(file.absolute)) ?? { files: 0, rows: 0, bytes: 0 };
    day.rows++;
    perDay.set(path.dirname(file.absolute), day);
  });
  for await (const file of walkInputFiles(scored)) {
    const day = perDay.get(path.dirname(file.absolute))!;
    day.files++;
    day.bytes += file.size;
  }
  const [dir, small] = [...perDay].reduce((best, entry) => (entry[1].bytes > best[1].bytes ? entry : best));
  const join: JoinCounts = { duckdb: 0, sft: 0 };
  const evidenceCounts = await countFiles(walkInputFiles(evidence), (text) => {
    const row = JSON.parse(text) as { run_id?: unknown; model_role?: unknown; text?: unknown };
    const times = typeof row.run_id === 'string' ? accepted.get(row.run_id) : undefined;
    if (times === undefined || typeof row.model_role !== 'string' || !JOIN_ROLES.has(row.model_role) || typeof row.text !== 'string') return;
    if (!DUCKDB_BLANK.test(row.text)) join.duckdb += times;
    if (row.text.trim() !== '') join.sft += times;
  });
  return { kb, evidence: evidenceCounts, scored: scoredCounts, small: { ...small, dir }, join };
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
// Phases: one process tree each

type Summary = Record<string, unknown>;

/** What a phase sees: the archive, its counts, a scratch folder, and a way to run another phase untimed. */
interface Bench {
  root: string;
  evidence: string;
  scored: string;
  kbFiles: string[];
  counts: ArchiveCounts;
  scratch: string;
  run: (phase: Phase) => Promise<RunResult>;
}

type FloorName = 'floor' | 'floor-kb';

interface Phase {
  name: string;
  /** What is measured and what counts as input, for the header. */
  about: string;
  /** Arguments after `node`. */
  argv: (bench: Bench) => string[];
  /** The bytes and records its throughput is measured against. */
  input: (counts: ArchiveCounts) => { bytes: number; records: number };
  /** The floor that reads the same bytes, which its MB/s is compared with. */
  floor: FloorName;
  /** Untimed set-up before each run. */
  before?: (bench: Bench) => Promise<void>;
  /** The child's summary (its last stderr line, JSON) against the counts: a mismatch, or undefined. */
  check: (summary: Summary, counts: ArchiveCounts) => string | undefined;
  /** Untimed, after each run: figures of what it left (bytes on disk…), kept with the result. */
  after?: (bench: Bench) => Promise<Record<string, number>>;
}

const expectEqual = (summary: Summary, field: string, expected: number): string | undefined =>
  summary[field] === expected ? undefined : `${field}=${String(summary[field])}, expected ${expected}`;

const scoredAndEvidence = (counts: ArchiveCounts): { bytes: number; records: number } => ({
  bytes: counts.scored.bytes + counts.evidence.bytes,
  records: counts.scored.rows + counts.evidence.rows,
});
/** An export joins what it writes: input = scored + evidence bytes, records = scored rows. */
const exportInput = (counts: ArchiveCounts): { bytes: number; records: number } => ({ bytes: scoredAndEvidence(counts).bytes, records: counts.scored.rows });
const kbInput = (counts: ArchiveCounts): { bytes: number; records: number } => ({ bytes: counts.kb.bytes, records: counts.kb.rows });
const evidenceInput = (counts: ArchiveCounts): { bytes: number; records: number } => ({ bytes: counts.evidence.bytes, records: counts.evidence.rows });

const cli = (command: string, ...args: string[]) => (bench: Bench): string[] => [CLI_JS, command, '--root', bench.root, '--recorded-at', GENERATOR_RECORDED_AT, ...args, '--json'];
const removeIndex = ({ evidence }: Bench): Promise<void> => rm(path.join(evidence, INDEX_DIR), { recursive: true, force: true });

/** What sft's summary must say: every scored row read, and the join's rows exported or stopped only by the source-file gate. */
function sftCheck(summary: Summary, counts: ArchiveCounts): string | undefined {
  const hallucinated = ((summary['by_reason'] as Record<string, number> | undefined) ?? {})['hallucinated_file_path'] ?? 0;
  const joined = Number(summary['exported']) + hallucinated;
  return expectEqual(summary, 'read', counts.scored.rows) ?? (joined === counts.join.sft ? undefined : `exported + hallucinated_file_path = ${joined}, the join has ${counts.join.sft} rows`);
}

/** The index's size on disk (blocks, what it costs) and in bytes. */
async function indexSize({ evidence }: Bench): Promise<Record<string, number>> {
  const du = (flag: string): number => {
    const result = spawnSync('du', [flag, path.join(evidence, INDEX_DIR)], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`du ${flag}: ${result.stderr}`);
    return Number(result.stdout.split('\t')[0]);
  };
  return { indexDiskBytes: du('-sB1'), indexBytes: du('-sb') };
}

const INDEX: Phase = {
  name: 'index',
  about: 'the evidence index built from scratch (`index --evidence`); input = evidence',
  argv: ({ root, evidence }) => [CLI_JS, 'index', '--root', root, '--evidence', evidence, '--json'],
  input: evidenceInput,
  floor: 'floor',
  before: removeIndex,
  check: (summary, counts) => expectEqual(summary, 'rows', counts.evidence.rows) ?? expectEqual(summary, 'filesRead', counts.evidence.files),
  after: indexSize,
};

/** The index brought up to date, untimed before a phase that wants it present. */
const INDEX_REFRESH: Phase = { ...INDEX, name: 'index-refresh', before: undefined, after: undefined, check: (summary, counts) => expectEqual(summary, 'rows', counts.evidence.rows) };
const withIndex = async ({ run }: Bench): Promise<void> => void (await run(INDEX_REFRESH));

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
    input: exportInput,
    floor: 'floor',
    before: async (bench) => {
      await prepare?.(bench);
      await withIndex(bench);
    },
    check: (summary, counts) => expectEqual(summary, 'read', counts.scored.rows),
  };
}

/** DuckDB's file, beside the exports so it is written to the same disk as theirs. */
const duckdbOut = ({ root }: Bench): string => path.join(root, 'exports', 'duckdb-join.jsonl');

function duckdb(threads: number): Phase {
  return {
    name: `duckdb-${threads}`,
    about: `DuckDB ${threads === 1 ? '1 thread' : `${threads} threads`}: sft's join (accepted × instructable, non-blank evidence) on the same files, COPY … TO JSON lines (duckdb-join.ts); input = scored + evidence`,
    argv: (bench) => [DUCKDB_JS, '--threads', String(threads), '--scored', bench.scored, '--evidence', bench.evidence, '--out', duckdbOut(bench)],
    input: exportInput,
    floor: 'floor',
    before: async (bench) => {
      await mkdir(path.dirname(duckdbOut(bench)), { recursive: true });
      await rm(duckdbOut(bench), { force: true });
    },
    check: (summary, counts) => expectEqual(summary, 'rows', counts.join.duckdb),
    after: async (bench) => {
      await rm(duckdbOut(bench), { force: true });
      return {};
    },
  };
}

/** A phase again with `--jobs 1`: one process, for the speedup of the default. */
const jobsOne = (phase: Phase): Phase => ({
  ...phase,
  name: `${phase.name}-jobs1`,
  about: `${phase.name} with --jobs 1 (one process)`,
  argv: (bench) => {
    const argv = phase.argv(bench);
    return [...argv.slice(0, -1), '--jobs', '1', argv.at(-1)!];
  },
});

const SFT: Phase = {
  name: 'sft',
  about: '`sft`, index present; input = scored + evidence (it joins what it exports), records = scored rows',
  argv: cli('sft'),
  input: exportInput,
  floor: 'floor',
  before: withIndex,
  check: sftCheck,
};

const SFT_SMALL: Phase = {
  name: 'sft-small',
  about: '`sft` on the largest day folder of scored runs as a filter (too small to shard), index present; input = that folder',
  argv: (bench) => [CLI_JS, 'sft', bench.counts.small.dir, '--root', bench.root, '--evidence', bench.evidence, '--out', path.join(bench.scratch, 'sft-small.jsonl'), '--recorded-at', GENERATOR_RECORDED_AT, '--json'],
  input: (counts) => ({ bytes: counts.small.bytes, records: counts.small.rows }),
  floor: 'floor',
  before: withIndex,
  check: (summary, counts) => expectEqual(summary, 'read', counts.small.rows),
};

/** An export over the scored runs, index present. */
function joinedExport(command: string, about: string): Phase {
  return { name: command, about: `${about}, index present; input = scored + evidence, records = scored rows`, argv: cli(command), input: exportInput, floor: 'floor', before: withIndex, check: (summary, counts) => expectEqual(summary, 'read', counts.scored.rows) };
}

const RAG = joinedExport('rag', '`rag`');
const EXPORT_ALL = joinedExport('export-all', '`export-all` (sft + rag + preference in one pass; summary checked on preference)');

const COLLECT: Phase = {
  name: 'collect',
  about: '`collect` (_kb → partitioned evidence tree, atomically); input = _kb',
  argv: cli('collect'),
  input: kbInput,
  floor: 'floor-kb',
  check: (summary, counts) => expectEqual(summary, 'read', counts.kb.rows),
};

const SCORE: Phase = {
  name: 'score',
  about: '`score` (evidence tree → scored tree); input = evidence',
  argv: cli('score'),
  input: evidenceInput,
  floor: 'floor',
  check: (summary, counts) => expectEqual(summary, 'read', counts.evidence.rows),
};

/** Every phase, in run order; the floors first, as the others' baseline. A new phase is a new row. */
const PHASES: readonly Phase[] = [
  {
    name: 'floor',
    about: 'LineSplitter + JSON.parse + JSON.stringify to /dev/null; input = scored + evidence',
    argv: ({ scored, evidence }) => [FLOOR_JS, scored, evidence],
    input: scoredAndEvidence,
    floor: 'floor',
    check: (summary, counts) => expectEqual(summary, 'records', counts.scored.rows + counts.evidence.rows),
  },
  {
    name: FLOOR_TWO_PROCESSES,
    about: 'the floor as two processes at once, each on half of the files (by bytes): this machine\'s ceiling for --jobs 2; input = scored + evidence',
    argv: ({ scored, evidence }) => [FLOOR_JS, '--processes', '2', scored, evidence],
    input: scoredAndEvidence,
    floor: 'floor',
    check: (summary, counts) => expectEqual(summary, 'records', counts.scored.rows + counts.evidence.rows),
  },
  {
    name: 'floor-kb',
    about: 'the same floor over the _kb files collect reads; input = _kb',
    argv: ({ kbFiles }) => [FLOOR_JS, ...kbFiles],
    input: kbInput,
    floor: 'floor-kb',
    check: (summary, counts) => expectEqual(summary, 'records', counts.kb.rows),
  },
  duckdb(2),
  duckdb(1),
  INDEX,
  { ...SFT, name: 'sft-scratch', about: '`sft` with no index present (it builds the index first); input = scored + evidence, records = scored rows', before: removeIndex, after: indexSize },
  SFT,
  jobsOne(SFT),
  ...FORMAT_PHASES,
  SFT_SMALL,
  jobsOne(SFT_SMALL),
  RAG,
  jobsOne(RAG),
  joinedExport('preference', '`preference` (external sort by task, texts fetched per pair)'),
  { ...EXPORT_ALL, name: 'export-all-scratch', about: '`export-all` with no index present (it builds the index first); input = scored + evidence, records = scored rows', before: removeIndex },
  EXPORT_ALL,
  jobsOne(EXPORT_ALL),
  // The phases below rebuild the archive's trees (identically: same recorded_at), so they run last.
  COLLECT,
  jobsOne(COLLECT),
  SCORE,
  jobsOne(SCORE),
  {
    name: 'run-all',
    about: '`run-all` (collect → score → rag → sft → preference, receipts hashed while streaming, index rebuilt); input = _kb',
    argv: cli('run-all'),
    input: kbInput,
    floor: 'floor-kb',
    check: (summary) => (summary['overall_passed'] === true ? undefined : 'overall_passed is not true'),
  },
];

interface RunResult {
  seconds: number;
  /** Summed over the tree's exit reports. */
  cpuSeconds: number;
  /** Processes in the tree (exit reports). */
  processes: number;
  /** Peaks of the tree's sums at one sample. */
  peakRssAnonKb: number;
  peakRssFileKb: number;
  peakRssKb: number;
  /** The largest VmHWM of one process of the tree. */
  maxVmHwmKb: number;
  samples: number;
  figures: Record<string, number>;
}

/** NODE_OPTIONS with the exit probe added: inherited by every node process the phase starts. */
const probeOptions = (): string => [process.env['NODE_OPTIONS'], `--import=${EXIT_PROBE}`].filter((part) => part !== undefined && part !== '').join(' ');

async function runPhase(phase: Phase, bench: Bench): Promise<RunResult> {
  await phase.before?.(bench);
  const exits = await mkdtemp(path.join(bench.scratch, `${phase.name}-exits-`));
  const started = performance.now();
  const child = spawn(process.execPath, phase.argv(bench), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: probeOptions(), [EXIT_PROBE_ENV]: exits } });
  const sampler = new TreeSampler(child.pid!);
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
  const reports = readExitReports(exits);
  // A node process seen but not reported died by a signal: its CPU time and VmHWM would be missing.
  // Other programs (the zstd command) count in the tree's sampled memory only.
  const unreported = [...sampler.nodeSamples].filter(([pid, seen]) => seen > 1 && !reports.some((report) => report.pid === pid)).map(([pid]) => pid);
  if (unreported.length > 0) throw new Error(`${phase.name}: no exit report from pid ${unreported.join(', ')}`);
  await rm(exits, { recursive: true, force: true });
  return {
    seconds,
    cpuSeconds: reports.reduce((sum, report) => sum + report.cpuSeconds, 0),
    processes: reports.length,
    peakRssAnonKb: sampler.peakRssAnonKb,
    peakRssFileKb: sampler.peakRssFileKb,
    peakRssKb: sampler.peakRssKb,
    maxVmHwmKb: Math.max(...reports.map((report) => report.status.vmHwmKb)),
    samples: sampler.samples,
    figures: (await phase.after?.(bench)) ?? {},
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
  /** Of the fastest run: interference from other work only ever adds time. */
  seconds: number;
  mbPerSecond: number;
  recordsPerSecond: number;
  cpuSeconds: number;
  processes: number;
  /** Peaks: the largest over the runs. */
  peakRssAnonMb: number;
  peakRssFileMb: number;
  peakRssMb: number;
  maxVmHwmMb: number;
  /** MB/s over the MB/s of the floor that reads the same bytes. */
  vsFloor: number | undefined;
  /** The fastest run's figures. */
  figures: Record<string, number>;
}

function summarise(phase: Phase, bench: Bench, runs: RunResult[], floor: PhaseResult | undefined): PhaseResult {
  const input = phase.input(bench.counts);
  const best = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const mbPerSecond = input.bytes / MB / best.seconds;
  const peakMb = (pick: (r: RunResult) => number): number => Math.max(...runs.map(pick)) / 1024;
  return {
    name: phase.name,
    about: phase.about,
    argv: phase.argv(bench),
    inputBytes: input.bytes,
    records: input.records,
    runs,
    seconds: best.seconds,
    mbPerSecond,
    recordsPerSecond: input.records / best.seconds,
    cpuSeconds: best.cpuSeconds,
    processes: best.processes,
    peakRssAnonMb: peakMb((r) => r.peakRssAnonKb),
    peakRssFileMb: peakMb((r) => r.peakRssFileKb),
    peakRssMb: peakMb((r) => r.peakRssKb),
    maxVmHwmMb: peakMb((r) => r.maxVmHwmKb),
    vsFloor: floor === undefined || floor.name === phase.name ? undefined : mbPerSecond / floor.mbPerSecond,
    figures: best.figures,
  };
}

const JOBS_ONE_SUFFIX = '-jobs1';

/** The default's speed over its --jobs 1 twin's, when both ran. */
function jobsSpeedup(results: readonly PhaseResult[], name: string): number | undefined {
  const phase = results.find((r) => r.name === name);
  const single = results.find((r) => r.name === `${name}${JOBS_ONE_SUFFIX}`);
  return phase === undefined || single === undefined ? undefined : single.seconds / phase.seconds;
}

function table(rows: readonly PhaseResult[]): string {
  const header = ['phase', 'input MB', 's', 'MB/s', 'records/s', 'CPU s', 'procs', 'tree RssAnon MB', 'tree RssFile MB', 'tree RSS MB', 'max VmHWM MB', 'vs floor', 'vs --jobs 1'];
  const cells = rows.map((r) => {
    const speedup = jobsSpeedup(rows, r.name);
    return [
      r.name,
      (r.inputBytes / MB).toFixed(r.inputBytes < 10 * MB ? 1 : 0),
      r.seconds.toFixed(2),
      r.mbPerSecond.toFixed(1),
      Math.round(r.recordsPerSecond).toLocaleString('en-US'),
      r.cpuSeconds.toFixed(2),
      String(r.processes),
      r.peakRssAnonMb.toFixed(0),
      r.peakRssFileMb.toFixed(0),
      r.peakRssMb.toFixed(0),
      r.maxVmHwmMb.toFixed(0),
      r.vsFloor === undefined ? '-' : `${r.vsFloor.toFixed(2)}×`,
      speedup === undefined ? '-' : `${speedup.toFixed(2)}×`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.map(line)].join('\n');
}

interface Target {
  what: string;
  value: number | undefined;
  /** How the value reads (×, %). */
  unit: '×' | '%';
  op: '≥' | '≤';
  limit: number;
}

const passes = (t: Target): boolean | undefined => (t.value === undefined ? undefined : t.op === '≥' ? t.value >= t.limit : t.value <= t.limit);

function targetLines(targets: readonly Target[]): string[] {
  const shown = (value: number, unit: Target['unit']): string => (unit === '%' ? `${(value * 100).toFixed(1)} %` : `${value.toFixed(2)}×`);
  return targets.map((t) => {
    const pass = passes(t);
    return `  ${pass === undefined ? '[n/a ]' : pass ? '[PASS]' : '[FAIL]'} ${t.what}: ${t.value === undefined ? 'not measured' : shown(t.value, t.unit)} (target ${t.op} ${shown(t.limit, t.unit)})`;
  });
}

/** The commands whose memory is held against DuckDB's, with default options. */
const COMMANDS = ['index', 'sft-scratch', 'sft', 'rag', 'preference', 'export-all-scratch', 'export-all', 'collect', 'score', 'run-all'];
const JOBS_TARGETS = ['sft', 'rag', 'export-all', 'collect', 'score'];

/** The speed and memory targets as ratios of this run's numbers. */
function targetsOf(results: readonly PhaseResult[], counts: ArchiveCounts): Target[] {
  const at = (name: string): PhaseResult | undefined => results.find((r) => r.name === name);
  const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a / b);
  const duck = at('duckdb-2');
  const index = at('sft-scratch')?.figures['indexDiskBytes'];
  return [
    { what: 'sft from scratch, speed vs DuckDB 2 threads', value: ratio(duck?.seconds, at('sft-scratch')?.seconds), unit: '×', op: '≥', limit: 1 },
    { what: 'sft with the index present, speed vs DuckDB 2 threads', value: ratio(duck?.seconds, at('sft')?.seconds), unit: '×', op: '≥', limit: 2 },
    { what: 'export-all from scratch, time over sft from scratch', value: ratio(at('export-all-scratch')?.seconds, at('sft-scratch')?.seconds), unit: '×', op: '≤', limit: 1.5 },
    ...COMMANDS.flatMap((name): Target[] => [
      { what: `${name}: max per-process VmHWM over DuckDB 2 threads' VmHWM`, value: ratio(at(name)?.maxVmHwmMb, duck?.maxVmHwmMb), unit: '×', op: '≤', limit: 0.5 },
      { what: `${name}: peak tree RSS over DuckDB 2 threads' VmHWM`, value: ratio(at(name)?.peakRssMb, duck?.maxVmHwmMb), unit: '×', op: '≤', limit: 0.5 },
    ]),
    { what: 'the index beside the evidence (du, after sft from scratch) over the evidence bytes', value: ratio(index, counts.evidence.bytes), unit: '%', op: '≤', limit: 0.1 },
    { what: 'collect, MB/s vs the floor of its bytes (floor-kb)', value: at('collect')?.vsFloor, unit: '×', op: '≥', limit: 0.8 },
    { what: 'run-all from raw logs, MB/s vs the floor of its bytes (floor-kb)', value: at('run-all')?.vsFloor, unit: '×', op: '≥', limit: 0.4 },
    ...JOBS_TARGETS.map((name): Target => ({ what: `${name}: default (--jobs ${os.availableParallelism()}) speed vs --jobs 1`, value: jobsSpeedup(results, name), unit: '×', op: '≥', limit: 1.7 })),
    // Both run one process there; 5 % is left for noise.
    { what: 'sft on a small input (one day folder): default speed vs --jobs 1', value: jobsSpeedup(results, 'sft-small'), unit: '×', op: '≥', limit: 0.95 },
  ];
}

/** Peaks of this run over a previous results file's, per command in both: flat memory as the archive grows. */
function flatness(results: readonly PhaseResult[], previous: ResultsFile): Target[] {
  return COMMANDS.flatMap((name): Target[] => {
    const now = results.find((r) => r.name === name);
    const before = previous.phases.find((r) => r.name === name);
    if (now === undefined || before === undefined) return [];
    return [
      { what: `${name}: max VmHWM, this archive over the previous`, value: now.maxVmHwmMb / before.maxVmHwmMb, unit: '×', op: '≤', limit: 1.1 },
      { what: `${name}: peak tree RssAnon, this archive over the previous`, value: now.peakRssAnonMb / before.peakRssAnonMb, unit: '×', op: '≤', limit: 1.1 },
    ];
  });
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
    `peak tree RssAnon ${runAll.peakRssAnonMb.toFixed(0)} MB against ${largest.toFixed(0)} MB for the largest stage alone`
  );
}

interface ResultsFile {
  archive: { root: string; counts: ArchiveCounts };
  phases: PhaseResult[];
}

// ---------------------------------------------------------------------------------------------
// Main

/** An argument as a reader would type it from the package root. */
const shown = (arg: string): string => (path.isAbsolute(arg) && arg.startsWith(`${PACKAGE_ROOT}${path.sep}`) ? path.relative(PACKAGE_ROOT, arg) : arg);
const loadAverage = (): string => os.loadavg().map((n) => n.toFixed(2)).join(' ');

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '1GB' },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
      stage: { type: 'string', multiple: true },
      data: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      compare: { type: 'string' },
    },
  });
  const seed = Number(values.seed);
  const repeat = Number(values.repeat);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(repeat) || repeat < 1) throw new RangeError('--seed and --repeat take integers (--repeat ≥ 1)');
  const size = values.size.toUpperCase();
  parseSize(size); // a bad size, stage or results file fails here, before anything is generated
  const wanted = values.stage;
  const unknown = (wanted ?? []).filter((name) => !PHASES.some((phase) => phase.name === name));
  if (unknown.length > 0) throw new RangeError(`unknown --stage ${unknown.join(', ')}; known: ${PHASES.map((p) => p.name).join(', ')}`);
  const previous = values.compare === undefined ? undefined : (JSON.parse(await readFile(path.resolve(values.compare), 'utf8')) as ResultsFile);
  // A chosen phase brings the floor it is compared with.
  const floors = new Set(PHASES.filter((phase) => wanted === undefined || wanted.includes(phase.name)).map((phase) => phase.floor));
  const selected = PHASES.filter((phase) => wanted === undefined || wanted.includes(phase.name) || floors.has(phase.name as FloorName));
  const log = (message: string): void => void process.stderr.write(`${message}\n`);

  const root = values.data === undefined ? await benchArchive(size, seed, log) : path.resolve(values.data);
  const label = values.data === undefined ? size : path.basename(root);
  const evidence = path.join(root, LAYOUT.evidence);
  const scored = path.join(root, LAYOUT.scoredRuns);
  log('counting rows and the join (untimed; warms the page cache)…');
  const counts = await countArchive(root, evidence, scored);
  const loadBefore = loadAverage();
  const parentCpu = process.cpuUsage();
  const phasesStarted = performance.now();

  const scratch = await mkdtemp(path.join(os.tmpdir(), 'distill-bench-'));
  const bench: Bench = { root, evidence, scored, kbFiles: await kbSourceFiles(root), counts, scratch, run: (phase) => runPhase(phase, bench) };
  const results: PhaseResult[] = [];
  try {
    for (const phase of selected) {
      const runs: RunResult[] = [];
      for (let r = 0; r < repeat; r++) {
        log(`${phase.name}: run ${r + 1}/${repeat}… (load ${loadAverage()})`);
        runs.push(await bench.run(phase));
      }
      results.push(summarise(phase, bench, runs, results.find((r) => r.name === phase.floor)));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const loadAfter = loadAverage();
  const sampler = process.cpuUsage(parentCpu);
  const samplerShare = (sampler.user + sampler.system) / 1000 / (performance.now() - phasesStarted);

  const cpus = os.cpus();
  const machine = { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGb: os.totalmem() / 2 ** 30, os: `${os.type()} ${os.release()}` };
  const sameJob =
    counts.join.duckdb === counts.join.sft
      ? `the peer's rows = sft's exported + hallucinated_file_path = ${counts.join.duckdb}, computed from the files before timing`
      : `the peer's rows ${counts.join.duckdb} differ from sft's ${counts.join.sft} (texts blank to String.prototype.trim but not to DuckDB's trim set)`;
  const header = [
    `distill-stream e2e bench, ${new Date().toISOString()}`,
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb.toFixed(1)} GB RAM, ${machine.os}; Node ${process.version}; DuckDB peer @duckdb/node-api`,
    `load average (1/5/15 min): ${loadBefore} before the phases, ${loadAfter} after; the bench's own process (sampler, untimed set-up) used ${(samplerShare * 100).toFixed(1)} % of one core`,
    `command: npm run bench:e2e -- ${argv.join(' ')}`,
    `cpu: nothing pinned; default options (--jobs = ${os.availableParallelism()} cores) unless a phase says --jobs 1; ${repeat} run(s) per phase, the fastest shown, memory the largest over the runs`,
    `archive: ${values.data === undefined ? `${path.relative(PACKAGE_ROOT, root)} (seed ${seed})` : root}; scored ${(counts.scored.bytes / MB).toFixed(1)} MB in ${counts.scored.rows} rows / ${counts.scored.files} files; evidence ${(counts.evidence.bytes / MB).toFixed(1)} MB in ${counts.evidence.rows} rows; _kb ${(counts.kb.bytes / MB).toFixed(1)} MB in ${counts.kb.rows} rows; page cache warm`,
    `join: ${sameJob}`,
    'MB = 2^20 bytes; the tree = a phase\'s process and its shard children, sampled every 50 ms from /proc/<pid>/status: tree RssAnon, RssFile and RSS (anon + file + shmem) are peaks of the sum over the live tree at one sample; max VmHWM (kernel peak incl. file-backed pages) and CPU s (summed over the tree) come from each process at exit; time includes node start-up',
    ...results.flatMap((r) => [`  ${r.name}: ${r.about}`, `    $ node ${r.argv.map(shown).join(' ')}`]),
  ].join('\n');
  const targets = targetsOf(results, counts);
  const flat = previous === undefined ? [] : flatness(results, previous);
  const comparison = runAllAgainstStages(results);
  const index = results.find((r) => r.name === 'sft-scratch')?.figures;
  const floor = results.find((r) => r.name === 'floor');
  const floorTwo = results.find((r) => r.name === FLOOR_TWO_PROCESSES);
  const ceiling = floor === undefined || floorTwo === undefined ? undefined : `this machine's ceiling for --jobs 2: the floor ran ${(floor.seconds / floorTwo.seconds).toFixed(2)}× faster as two processes that share nothing than as one (the --jobs targets below are held to 1.7×)`;
  const notes = [
    ...(ceiling === undefined ? [] : [ceiling]),
    ...(comparison === undefined ? [] : [comparison]),
    ...(index === undefined ? [] : [`index beside the evidence: ${index['indexDiskBytes']} bytes on disk (du -sB1), ${index['indexBytes']} bytes (du -sb), evidence ${counts.evidence.bytes} bytes`]),
  ];
  const scoredAndEvidenceMb = (c: ArchiveCounts): string => ((c.scored.bytes + c.evidence.bytes) / MB).toFixed(0);
  const sections = [
    header,
    table(results),
    ...(notes.length === 0 ? [] : [notes.join('\n')]),
    ['targets, as ratios of this run:', ...targetLines(targets)].join('\n'),
    ...(previous === undefined ? [] : [[`flat memory: this archive (${scoredAndEvidenceMb(counts)} MB of scored + evidence) over ${previous.archive.root} (${scoredAndEvidenceMb(previous.archive.counts)} MB):`, ...targetLines(flat)].join('\n')]),
  ];
  process.stdout.write(`${sections.join('\n\n')}\n`);
  const resultsFile = path.join(BENCH_DATA, `results-${label}.json`);
  await mkdir(BENCH_DATA, { recursive: true });
  const file = { date: new Date().toISOString(), machine, node: process.version, load: { before: loadBefore, after: loadAfter, benchCoreShare: samplerShare }, repeat, archive: { root, seed: values.data === undefined ? seed : undefined, counts }, phases: results, targets, flat };
  await writeFile(resultsFile, `${JSON.stringify(file, null, 2)}\n`);
  log(`results written to ${path.relative(PACKAGE_ROOT, resultsFile)}`);
}

await main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench:e2e: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof RangeError ? 2 : 1;
});

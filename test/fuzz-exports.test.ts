import assert from 'node:assert/strict';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { runPreference, runRag, runSft } from '../pipelines/stage.js';
import { QUARANTINE_REASONS, type PreferenceSample, type QuarantineRecord, type RagSample, type SftSample } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';
import { FIXTURE_ARCHIVE, removeDir, tempDir } from './helpers.js';
import { jsonSummary, type JsonSummary } from './library.js';

/**
 * Thousands of bad rows through the exports: valid fixture rows mixed with rows that lose a field,
 * carry a wrong type, a forbidden or unknown category, an unknown evidence id, a duplicate, deep
 * nesting, truncated JSON, bytes that are not UTF-8 or a line too long, over LF and CRLF with blank lines between.
 * Whatever comes in, the run succeeds, every row is written or quarantined exactly once with a
 * known reason, and nothing forbidden reaches an output. The exports run in-process through the
 * library, one after the other on one evidence copy and its index.
 */

const ROWS = 1500;
const SEEDS = [1, 2, 3];
const RECORDED_AT = '2026-05-02T00:00:00.000Z';
/** Run with --max-line-bytes: the padded rows go past it, every other row stays under it. */
const MAX_LINE_BYTES = 8192;
const CATEGORIES: unknown[] = ['accepted', 'partially_accepted', 'rejected', 'needs_human_review', 'ACCEPTED', '', 'unknown', 42, null];
const WRONG_VALUES: unknown[] = [null, 0, -1.5, true, '', 'x', [], ['a'], {}, { nested: 1 }];

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** The committed scored runs that parse (the fixture holds deliberately broken lines too): the population rows are drawn from. */
async function fixtureScoredRows(): Promise<Array<Record<string, unknown>>> {
  const folder = path.join(FIXTURE_ARCHIVE, 'data', 'scored-runs');
  const files = (await readdir(folder, { recursive: true })).filter((name) => name.endsWith('.jsonl')).sort();
  const rows: Array<Record<string, unknown>> = [];
  for (const file of files) {
    for (const line of (await readFile(path.join(folder, file), 'utf8')).split('\n')) {
      try {
        const value = JSON.parse(line) as unknown;
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) rows.push(value as Record<string, unknown>);
      } catch {
        // a broken fixture line; the fuzzer makes its own
      }
    }
  }
  return rows;
}

/** One non-blank input line: a valid row (about a third of them) or one of the ways a row goes bad. */
function fuzzedLine(random: Random, population: ReadonlyArray<Record<string, unknown>>, earlier: readonly Buffer[]): Buffer {
  const row = structuredClone(pick(random, population));
  const keys = Object.keys(row);
  switch (Math.floor(random() * 13)) {
    case 0:
    case 1:
    case 2:
    case 3:
      break;
    case 4:
      delete row[pick(random, keys)];
      break;
    case 5:
      row[pick(random, keys)] = pick(random, WRONG_VALUES);
      break;
    case 6:
      row['category'] = pick(random, CATEGORIES);
      break;
    case 7:
      row['evidence_run_id'] = `unknown-${Math.floor(random() * 1e9)}`;
      break;
    case 8: {
      const whole = Buffer.from(JSON.stringify(row));
      return whole.subarray(0, 1 + Math.floor(random() * (whole.length - 1)));
    }
    case 9: {
      // Not UTF-8, never a line break, never starting blank.
      const bytes = Buffer.alloc(1 + Math.floor(random() * 200), 0);
      for (let i = 0; i < bytes.length; i++) bytes[i] = 0x21 + Math.floor(random() * (0x100 - 0x21));
      return bytes;
    }
    case 10:
      row['provenance'] = JSON.parse(`${'['.repeat(1500)}${']'.repeat(1500)}`);
      break;
    case 11:
      row['padding'] = 'x'.repeat(MAX_LINE_BYTES);
      break;
    default:
      if (earlier.length > 0) return pick(random, earlier);
  }
  return Buffer.from(JSON.stringify(row));
}

interface FuzzInput {
  bytes: Buffer;
  /** 0-based physical line numbers of the non-blank lines: what the exports read. */
  rowLines: number[];
}

function fuzzInput(seed: number, population: ReadonlyArray<Record<string, unknown>>): FuzzInput {
  const random = mulberry32(seed);
  const parts: Buffer[] = [];
  const rows: Buffer[] = [];
  const rowLines: number[] = [];
  let line = 0;
  while (rowLines.length < ROWS) {
    if (random() < 0.05) {
      parts.push(Buffer.from(random() < 0.5 ? '' : '  \t'), Buffer.from(random() < 0.5 ? '\n' : '\r\n'));
      line++;
      continue;
    }
    const row = fuzzedLine(random, population, rows);
    rows.push(row);
    rowLines.push(line++);
    parts.push(row, Buffer.from(random() < 0.5 ? '\n' : '\r\n'));
  }
  return { bytes: Buffer.concat(parts), rowLines };
}

interface ExportRun {
  summary: JsonSummary;
  out: unknown[];
  quarantine: QuarantineRecord[];
  /** How the input is named in quarantine rows. */
  inputName: string;
}

const jsonLines = (text: string): unknown[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown);

/** Every quarantine row is well formed, names a line that was read, and no line twice. */
function assertQuarantineAccounts(stage: string, run: ExportRun, input: FuzzInput, pairRows = 0): void {
  const { summary, quarantine, inputName } = run;
  assert.equal(quarantine.length, summary.quarantined + pairRows, `${stage}: quarantine file rows`);
  assert.equal(
    Object.values(summary.by_reason).reduce((sum, n) => sum + n, 0),
    summary.quarantined + pairRows,
    `${stage}: by_reason adds up`,
  );
  const readLines = new Set(input.rowLines);
  const rowOffsets = new Set<number>();
  let pairRecords = 0;
  for (const record of quarantine) {
    assert.equal(record.stage, stage);
    assert.ok((QUARANTINE_REASONS as readonly string[]).includes(record.reason), `${stage}: unknown reason ${record.reason}`);
    assert.ok(record.errors.length > 0 && record.errors.every((e) => typeof e === 'string' && e !== ''), `${stage}: errors named`);
    assert.equal(record.source_provenance.source_file, inputName);
    assert.ok(readLines.has(record.source_provenance.line_offset), `${stage}: quarantined line ${record.source_provenance.line_offset} was read`);
    if (isPairRecord(record.source_record)) {
      pairRecords++; // a candidate pair, quarantined at its chosen row: that row may lead several
      continue;
    }
    assert.ok(!rowOffsets.has(record.source_provenance.line_offset), `${stage}: line ${record.source_provenance.line_offset} quarantined twice`);
    rowOffsets.add(record.source_provenance.line_offset);
  }
  assert.equal(pairRecords, pairRows, `${stage}: pair quarantines`);
}

/** Preference quarantines a candidate pair as {task_id, k, chosen_run_id, rejected_run_id}. */
const isPairRecord = (record: unknown): boolean => typeof record === 'object' && record !== null && 'k' in record && 'chosen_run_id' in record;

describe('fuzzed scored rows through the exports', () => {
  let dir: string;
  let evidence: string;
  let population: Array<Record<string, unknown>>;

  before(async () => {
    dir = await tempDir();
    evidence = path.join(dir, 'evidence');
    await cp(path.join(FIXTURE_ARCHIVE, 'data', 'evidence'), evidence, { recursive: true });
    population = await fixtureScoredRows();
  });
  after(() => removeDir(dir));

  /** Each seed's input, made and written once for the three exports (making it is a good part of the file's time). */
  const inputs = new Map<number, Promise<FuzzInput>>();
  const inputOf = (seed: number): Promise<FuzzInput> => {
    let input = inputs.get(seed);
    if (input === undefined) {
      const made = fuzzInput(seed, population);
      input = writeFile(path.join(dir, inputNameOf(seed)), made.bytes).then(() => made);
      inputs.set(seed, input);
    }
    return input;
  };
  const inputNameOf = (seed: number): string => `seed-${seed}.jsonl`;

  async function exportOn(command: 'sft' | 'rag' | 'preference', seed: number, input: FuzzInput, flags: { includePartial?: boolean; includeReview?: boolean }): Promise<ExportRun> {
    const inputName = inputNameOf(seed);
    const quarantinePath = path.join(dir, `${command}-quarantine.jsonl`);
    const outPath = path.join(dir, `${command}-out.jsonl`);
    const options = { cwd: dir, inputs: [inputName], evidence, out: outPath, quarantine: quarantinePath, recordedAt: RECORDED_AT, maxLineBytes: MAX_LINE_BYTES, ...flags };
    const run = command === 'sft' ? runSft(options) : command === 'rag' ? runRag(options) : runPreference(options);
    const summary = jsonSummary(command, (await run).counts);
    assert.equal(summary.read, input.rowLines.length, `${command}: every non-blank line is read`);
    return { summary, out: jsonLines(await readFile(outPath, 'utf8')), quarantine: jsonLines(await readFile(quarantinePath, 'utf8')) as QuarantineRecord[], inputName };
  }

  for (const seed of SEEDS) {
    test(`seed ${seed}: sft writes or quarantines every row, and only accepted or partial samples`, async () => {
      const input = await inputOf(seed);
      const run = await exportOn('sft', seed, input, { includePartial: true });
      assert.equal(run.summary.exported + run.summary.quarantined, run.summary.read);
      assert.equal(run.out.length, run.summary.exported);
      assert.ok(run.summary.exported > 0 && run.summary.quarantined > 0, 'the mix has both outcomes');
      const { sftSample } = validators();
      for (const sample of run.out as SftSample[]) {
        assert.ok(sftSample(sample), JSON.stringify(sftSample.errors));
        assert.ok(sample.quality_score === 'accepted' || sample.quality_score === 'partially_accepted');
      }
      assert.equal(new Set((run.out as SftSample[]).map((s) => s.id)).size, run.out.length, 'ids are unique');
      assertQuarantineAccounts('sft', run, input);
    });

    test(`seed ${seed}: rag writes or quarantines every row, and never a rejected one`, async () => {
      const input = await inputOf(seed);
      const run = await exportOn('rag', seed, input, { includeReview: true });
      assert.equal(run.summary.exported + run.summary.quarantined, run.summary.read);
      assert.equal(run.out.length, run.summary.exported);
      const { ragSample } = validators();
      for (const sample of run.out as RagSample[]) {
        assert.ok(ragSample(sample), JSON.stringify(ragSample.errors));
        assert.notEqual(sample.success_score, 'rejected');
      }
      assertQuarantineAccounts('rag', run, input);
    });

    test(`seed ${seed}: preference pairs only valid rows; rows and pairs are all accounted for`, async () => {
      const input = await inputOf(seed);
      const run = await exportOn('preference', seed, input, {});
      const unpaired = run.summary.unpaired!;
      const quarantinedPairs = run.summary.quarantined_pairs!;
      const paired = run.summary.read - run.summary.quarantined - unpaired;
      assert.equal(run.out.length, run.summary.exported);
      const { preferenceSample } = validators();
      const runIds = new Set<string>();
      for (const pair of run.out as PreferenceSample[]) {
        assert.ok(preferenceSample(pair), JSON.stringify(preferenceSample.errors));
        assert.notEqual(pair.chosen_run_id, pair.rejected_run_id);
        assert.notEqual(pair.chosen, pair.rejected);
        runIds.add(pair.chosen_run_id).add(pair.rejected_run_id);
      }
      assert.ok(paired >= runIds.size && paired <= 2 * run.out.length, `paired rows ${paired} for ${run.out.length} pairs over ${runIds.size} run ids`);
      assertQuarantineAccounts('preference', run, input, quarantinedPairs);
    });
  }
});

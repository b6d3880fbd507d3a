import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { runCollect, type CollectCommandOptions } from '../pipelines/stage.js';
import { canonicalHash } from '../src/core/canonical.js';
import { MAX_NESTING, nestingDepth, toEvidenceLine, toEvidenceRecord } from '../src/core/evidence.js';
import { topLevelText } from '../src/core/evidence-line.js';
import { parseJson } from '../src/core/gates.js';
import { isStringifiedLiteral } from '../src/core/text-literal.js';
import { Rejection } from '../src/core/rejection.js';
import type { StageCounts } from '../src/engine/counts.js';
import { DistillError } from '../src/errors.js';
import { MAX_OPEN_PARTITIONS, PartitionWriter, type PartitionedLine } from '../src/io/partition-writer.js';
import type { EvidenceRecord, QuarantineRecord } from '../src/records.js';
import { utcDatePath } from '../src/stages/collect.js';
import { mulberry32 } from '../data-fixtures/prng.js';
import { FIXTURE_ARCHIVE, fixtureCopy, listFiles, readText, removeDir, tempDir } from './helpers.js';
import { FIXTURE_MAX_LINE_BYTES, summaryLine } from './library.js';
import { randomText, spelledLine } from './spelled-lines.js';

const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const QUARANTINE_KEYS = ['schema_version', 'stage', 'reason', 'errors', 'recorded_at', 'source_provenance', 'source_record'];

/** A raw `_kb` row: an object written with JSON.stringify, or a literal line. */
type RawLine = Record<string, unknown> | string;

const lineOf = (row: RawLine): string => (typeof row === 'string' ? row : JSON.stringify(row));
const good = (runId: string, createdAt = '2026-05-01T09:00:00Z', extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  run_id: runId,
  task_id: `task:${runId}`,
  created_at: createdAt,
  ...extra,
});

/** A temp root whose `data/_kb` holds the given files (name → rows or raw content). */
async function kbRoot(files: Record<string, RawLine[] | string>): Promise<string> {
  const root = await tempDir();
  const kb = path.join(root, 'data/_kb');
  await mkdir(kb, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(kb, name), typeof content === 'string' ? content : `${content.map(lineOf).join('\n')}\n`);
  }
  return root;
}

/** collect on the standard layout under `root`, in-process, as `collect --root ROOT --recorded-at … --max-line-bytes 65536` runs it. */
const collect = async (root: string, options: Partial<CollectCommandOptions> = {}): Promise<StageCounts> =>
  (await runCollect({ root, recordedAt: RECORDED_AT, maxLineBytes: FIXTURE_MAX_LINE_BYTES, ...options })).counts;

const parseLines = <T>(text: string): T[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as T);
const readJsonl = async <T>(file: string): Promise<T[]> => parseLines<T>(await readText(file));

/** Every file of a tree, relative path → bytes. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = await listFiles(dir);
  return new Map(await Promise.all(files.map(async (file): Promise<[string, string]> => [file, await readText(path.join(dir, file))])));
}

describe('collect: partitions', () => {
  test('utcDatePath: the UTC calendar date, across midnight both ways, months, years and leap days', () => {
    const cases: [string, string][] = [
      ['2026-05-01T09:00:00Z', '2026/05/01'],
      ['2026-05-01T23:30:00-02:00', '2026/05/02'],
      ['2026-05-02T00:30:00+01:00', '2026/05/01'],
      ['2026-05-01T23:59:59.9999999999Z', '2026/05/01'], // a fraction never rounds into the next day
      ['2026-05-01T00:00:00.000000001Z', '2026/05/01'],
      ['2026-05-01T12:00:00-00:00', '2026/05/01'],
      ['2026-05-01T10:00:00+14:00', '2026/04/30'],
      ['2026-05-01T13:59:00-10:00', '2026/05/01'],
      ['2026-05-01T14:00:00-10:00', '2026/05/02'],
      ['2024-03-01T00:15:00+00:30', '2024/02/29'],
      ['2023-03-01T00:15:00+00:30', '2023/02/28'],
      ['2024-02-28T23:45:00-00:30', '2024/02/29'],
      ['2100-02-28T23:45:00-00:30', '2100/03/01'],
      ['2026-12-31T23:00:00-01:00', '2027/01/01'],
      ['2027-01-01T00:00:00.000+00:01', '2026/12/31'],
      ['0001-01-01T00:00:00Z', '0001/01/01'],
      ['0050-06-15T12:00:00Z', '0050/06/15'], // no Date.UTC two-digit-year trap
      ['0000-01-01T00:00:00+01:00', '-0001/12/31'],
      ['9999-12-31T23:30:00-01:00', '10000/01/01'],
    ];
    for (const [timestamp, expected] of cases) assert.equal(utcDatePath(timestamp), expected, timestamp);
  });

  test('rows go to <UTC date>/<source>.jsonl, in input order within each partition', async () => {
    const rows = [
      good('a1', '2026-05-01T23:30:00-02:00'), // 05/02
      good('a2', '2026-05-02T00:30:00+01:00'), // 05/01
      good('a3', '2026-05-01T23:59:59.999999Z'), // 05/01
      good('a4', '2026-05-02T00:00:00Z'), // 05/02
      good('a5', '2026-05-01T00:00:00.5+00:00'), // 05/01
    ];
    const root = await kbRoot({ 'scrum_reviews.jsonl': rows, 'outcomes.jsonl': [good('b1', '2026-05-02T23:59:59-00:00')] });
    try {
      const counts = await collect(root);
      const evidence = path.join(root, 'data/evidence');
      assert.deepEqual(await listFiles(evidence), ['2026/05/01/scrum_reviews.jsonl', '2026/05/02/outcomes.jsonl', '2026/05/02/scrum_reviews.jsonl']);
      const ids = async (file: string): Promise<[string, number][]> =>
        (await readJsonl<EvidenceRecord>(path.join(evidence, file))).map((r) => [r.run_id, r.provenance.line_offset]);
      assert.deepEqual(await ids('2026/05/01/scrum_reviews.jsonl'), [['a2', 1], ['a3', 2], ['a5', 4]]);
      assert.deepEqual(await ids('2026/05/02/scrum_reviews.jsonl'), [['a1', 0], ['a4', 3]]);
      assert.deepEqual(await ids('2026/05/02/outcomes.jsonl'), [['b1', 0]]);
      assert.equal(summaryLine('collect', counts), '[collect] read=6 exported=6 quarantined=0 {}');
    } finally {
      await removeDir(root);
    }
  });

  test('sources: top-level *.jsonl files of data/_kb in name order; audit_baselines.jsonl, folders and other names are not sources', async () => {
    // The same run_id in every file: the first file in JavaScript string order keeps it, the rest are duplicate_id.
    const row = [good('same')];
    const root = await kbRoot({
      'a.jsonl': row,
      'B.jsonl': row, // uppercase sorts before lowercase
      '.hidden.jsonl': row, // hidden files are taken and sort first
      'audit_baselines.jsonl': [good('baseline')],
      'notes.json': [good('json')],
      'packed.jsonl.gz': [good('gz')],
      'extra.jsonl.bak': [good('bak')],
    });
    try {
      const kb = path.join(root, 'data/_kb');
      await mkdir(path.join(kb, 'nested.jsonl'));
      await writeFile(path.join(kb, 'nested.jsonl', 'inner.jsonl'), `${JSON.stringify(good('inner'))}\n`);
      await mkdir(path.join(kb, 'sub'));
      await writeFile(path.join(kb, 'sub', 'deep.jsonl'), `${JSON.stringify(good('deep'))}\n`);
      await writeFile(path.join(root, 'elsewhere.txt'), `${JSON.stringify(good('linked'))}\n`);
      await symlink(path.join(root, 'elsewhere.txt'), path.join(kb, 'linked.jsonl')); // symlinks are followed
      await symlink(path.join(root, 'no-such-file'), path.join(kb, 'dangling.jsonl'));
      await collect(root);
      assert.deepEqual(await listFiles(path.join(root, 'data/evidence')), ['2026/05/01/linked.jsonl']);
      const hidden = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/.hidden.jsonl'));
      assert.deepEqual(hidden.map((r) => [r.run_id, r.provenance.source_file]), [['same', 'data/_kb/.hidden.jsonl']]);
      const quarantine = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(
        quarantine.map((q) => [q.reason, q.source_provenance.source_file]),
        [['duplicate_id', 'data/_kb/B.jsonl'], ['duplicate_id', 'data/_kb/a.jsonl']], // after .hidden.jsonl took the id
      );
    } finally {
      await removeDir(root);
    }
  });
});

describe('collect: quarantine', () => {
  /** Each row with the reason it earns (undefined: it becomes evidence). */
  const CASES: [row: RawLine, reason: string | undefined][] = [
    ['{"run_id": "broken", ', 'schema_violation'],
    ['[1,2,3]', 'schema_violation'],
    ['"a string"', 'schema_violation'],
    ['null', 'schema_violation'],
    ['42', 'schema_violation'],
    ['\ufeff{"run_id":"bom","task_id":"t","created_at":"2026-05-01T09:00:00Z"}', 'schema_violation'], // a BOM is not stripped
    [{ task_id: 't', created_at: '2026-05-01T09:00:00Z' }, 'schema_violation'],
    [{ run_id: 'no-task', created_at: '2026-05-01T09:00:00Z' }, 'schema_violation'],
    [{ run_id: 'no-date', task_id: 't' }, 'schema_violation'],
    [good(''), 'schema_violation'],
    [{ ...good('x'), task_id: '' }, 'schema_violation'],
    [{ ...good('x'), run_id: 5 }, 'schema_violation'],
    [{ ...good('x'), task_id: null }, 'schema_violation'],
    [{ ...good('x'), created_at: 1777626000000 }, 'schema_violation'],
    [good('feb30', '2026-02-30T00:00:00Z'), 'schema_violation'],
    [good('feb29', '2025-02-29T00:00:00Z'), 'schema_violation'],
    [good('y1900', '1900-02-29T00:00:00Z'), 'schema_violation'],
    [good('lower-t', '2026-05-01t09:00:00Z'), 'schema_violation'],
    [good('lower-z', '2026-05-01T09:00:00z'), 'schema_violation'],
    [good('no-zone', '2026-05-01T09:00:00'), 'schema_violation'],
    [good('space', '2026-05-01 09:00:00Z'), 'schema_violation'],
    [good('no-secs', '2026-05-01T09:00Z'), 'schema_violation'],
    [good('h24', '2026-05-01T24:00:00Z'), 'schema_violation'],
    [good('leap-sec', '2026-06-30T23:59:60Z'), 'schema_violation'],
    [good('short-off', '2026-05-01T09:00:00+0200'), 'schema_violation'],
    [good('empty-frac', '2026-05-01T09:00:00.Z'), 'schema_violation'],
    [good('nl', '2026-05-01T09:00:00Z\n'), 'schema_violation'],
    [good('role-null', undefined, { model_role: null }), 'schema_violation'],
    [good('name-num', undefined, { model_name: 5 }), 'schema_violation'],
    [good('name-null', undefined, { model_name: null }), 'schema_violation'],
    [good('text-null', undefined, { text: null }), 'schema_violation'],
    [good('text-arr', undefined, { text: ['a'] }), 'schema_violation'],
    [good('files-str', undefined, { source_files: 'a.ts' }), 'schema_violation'],
    [good('files-num', undefined, { source_files: ['a.ts', 1] }), 'schema_violation'],
    [good('files-null', undefined, { source_files: null }), 'schema_violation'],
    [good('ctx-arr', undefined, { retrieved_context: [] }), 'schema_violation'],
    [good('ctx-null', undefined, { retrieved_context: null }), 'schema_violation'],
    [good('ctx-corpora', undefined, { retrieved_context: { matrix_corpora: 'prd' } }), 'schema_violation'],
    [good('ctx-neg', undefined, { retrieved_context: { pathway_fingerprints_seen: -1 } }), 'schema_violation'],
    [good('ctx-frac', undefined, { retrieved_context: { pathway_fingerprints_seen: 1.5 } }), 'schema_violation'],
    [good('ctx-str', undefined, { retrieved_context: { pathway_fingerprints_seen: '3' } }), 'schema_violation'],
    [good('ctx-fp-null', undefined, { retrieved_context: { pathway_fingerprints_seen: null } }), 'schema_violation'],
    ['{"run_id":"ctx-inf","task_id":"t","created_at":"2026-05-01T09:00:00Z","retrieved_context":{"pathway_fingerprints_seen":1e400}}', 'schema_violation'],
    [good('meta-arr', undefined, { metadata: [] }), 'schema_violation'],
    [good('meta-null', undefined, { metadata: null }), 'schema_violation'],
    [good('sig-str', undefined, { signals: 'x' }), 'schema_violation'],
    [good('sig-null', undefined, { signals: null }), 'schema_violation'],
    // Valid edge cases, for contrast.
    [good('leap-ok', '2024-02-29T00:00:00Z'), undefined],
    [good('y2000', '2000-02-29T23:59:59.123456+23:59'), undefined],
    ['{"run_id":"one-point-oh","task_id":"t","created_at":"2026-05-01T09:00:00Z","retrieved_context":{"pathway_fingerprints_seen":1.0}}', undefined],
  ];

  test('bad rows → schema_violation with the row, its _kb file and line; good rows → evidence', async () => {
    const lines = CASES.map(([row]) => lineOf(row));
    // Blank lines are not records but use up line numbers.
    const content = `\n${lines.join('\n  \t\r\n')}\n`;
    const root = await kbRoot({ 'x.jsonl': content });
    try {
      const counts = await collect(root);
      const quarantine = (await readText(path.join(root, 'exports/quarantine/collect.jsonl'))).split('\n').filter(Boolean);
      const expected = CASES.map(([row, reason], n) => ({ row, reason, line: 1 + 2 * n })).filter((c) => c.reason !== undefined);
      assert.equal(quarantine.length, expected.length);
      quarantine.forEach((text, n) => {
        const q = JSON.parse(text) as QuarantineRecord;
        const { row, reason, line } = expected[n]!;
        assert.deepEqual(Object.keys(q), QUARANTINE_KEYS);
        assert.equal(q.schema_version, 1);
        assert.equal(q.stage, 'collect');
        assert.equal(q.reason, reason, lineOf(row));
        assert.ok(q.errors.length > 0 && q.errors.every((e) => typeof e === 'string' && e !== ''));
        assert.equal(q.recorded_at, RECORDED_AT);
        assert.deepEqual(q.source_provenance, { source_file: 'data/_kb/x.jsonl', line_offset: line });
        // The parsed value as JSON.stringify writes it (1e400 parsed to Infinity is written as null).
        const parsed = ((): unknown => {
          try {
            return JSON.parse(JSON.stringify(JSON.parse(lineOf(row))));
          } catch {
            return { _raw: lineOf(row) };
          }
        })();
        assert.deepEqual(q.source_record, parsed);
      });
      const evidence = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/x.jsonl'));
      assert.deepEqual(evidence.map((r) => r.run_id), ['one-point-oh']);
      assert.deepEqual(evidence[0]!.retrieved_context, { pathway_fingerprints_seen: 1 });
      assert.deepEqual(await listFiles(path.join(root, 'data/evidence')), ['2000/02/29/x.jsonl', '2024/02/29/x.jsonl', '2026/05/01/x.jsonl']);
      assert.match(summaryLine('collect', counts), new RegExp(`read=${CASES.length} exported=3 quarantined=${expected.length} \\{schema_violation: ${expected.length}\\}`));
    } finally {
      await removeDir(root);
    }
  });

  test('the unparsable-line excerpt is the first 200 code points', async () => {
    const line = `{"run_id": "x", ${'😀'.repeat(300)}`;
    const root = await kbRoot({ 'x.jsonl': [line] });
    try {
      await collect(root);
      const [q] = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(q!.source_record, { _raw: `{"run_id": "x", ${'😀'.repeat(200 - 16)}` });
    } finally {
      await removeDir(root);
    }
  });

  test('duplicate_id: only a run_id taken by an earlier VALID row, also across source files', async () => {
    const root = await kbRoot({
      'a.jsonl': [
        { run_id: 'r1', task_id: '' }, // invalid: does not take r1
        good('r1'), // evidence
        good('r1', '2026-05-02T09:00:00Z'), // duplicate_id, whatever else differs
        { ...good('r2'), created_at: 'yesterday' }, // invalid
        good('r2'), // evidence
        // Lone surrogates: three distinct ids (UTF-8 would fold all three into U+FFFD).
        '{"run_id":"s\\ud800","task_id":"t","created_at":"2026-05-01T09:00:00Z"}',
        '{"run_id":"s\\udc00","task_id":"t","created_at":"2026-05-01T09:00:00Z"}',
        '{"run_id":"s\\ufffd","task_id":"t","created_at":"2026-05-01T09:00:00Z"}',
        '{"run_id":"s\\ud800","task_id":"t2","created_at":"2026-05-01T09:00:00Z"}', // the same id again
      ],
      'b.jsonl': [good('r2'), good('r3'), good('r1', '2026-05-01T09:00:00Z', { text: 'different' })],
    });
    try {
      await collect(root);
      const a = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/a.jsonl'));
      assert.deepEqual(a.map((r) => [r.run_id, r.provenance.line_offset]), [['r1', 1], ['r2', 4], ['s\ud800', 5], ['s\udc00', 6], ['s\ufffd', 7]]);
      const b = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/b.jsonl'));
      assert.deepEqual(b.map((r) => r.run_id), ['r3']);
      assert.equal(existsSync(path.join(root, 'data/evidence/2026/05/02')), false);
      const quarantine = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(
        quarantine.map((q) => [q.reason, q.source_provenance.source_file, q.source_provenance.line_offset]),
        [
          ['schema_violation', 'data/_kb/a.jsonl', 0],
          ['duplicate_id', 'data/_kb/a.jsonl', 2],
          ['schema_violation', 'data/_kb/a.jsonl', 3],
          ['duplicate_id', 'data/_kb/a.jsonl', 8],
          ['duplicate_id', 'data/_kb/b.jsonl', 0],
          ['duplicate_id', 'data/_kb/b.jsonl', 2],
        ],
      );
      assert.deepEqual(quarantine[4]!.source_record, good('r2'));
    } finally {
      await removeDir(root);
    }
  });

  test('line_too_long rows are quarantined and the rows after them still collected', async () => {
    const long = JSON.stringify(good('long', undefined, { text: 'x'.repeat(65_536) }));
    const root = await kbRoot({ 'x.jsonl': [good('before'), long, good('after')] });
    try {
      await collect(root);
      const [q] = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.equal(q!.reason, 'line_too_long');
      assert.deepEqual(q!.source_provenance, { source_file: 'data/_kb/x.jsonl', line_offset: 1 });
      const evidence = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/x.jsonl'));
      assert.deepEqual(evidence.map((r) => r.run_id), ['before', 'after']);
    } finally {
      await removeDir(root);
    }
  });
});

describe('collect: EvidenceRecord', () => {
  test('every field in the documented order; unknown fields dropped; retrieved_context keeps its two fields', async () => {
    const row =
      '{"zeta":{"deep":[1,2]},"created_at":"2026-05-01T09:00:00.250+00:00","signals":{"accepted_on_attempt":1.0,"b":null},' +
      '"metadata":{"contractor":"Acme","10":"ten","2":"two","__proto__":{"x":1}},"retrieved_context":{"extra":true,"pathway_fingerprints_seen":3,"matrix_corpora":["prd"]},' +
      '"source_files":["src/a.ts"],"text":"caf\\u00e9 \\ud83d\\ude00 \\u2028 \\ud800","model_name":"gpt","model_role":"executor","task_id":"t:1","run_id":"r-1","schema_version":99}';
    // JCS of the raw row, written out by hand: keys sorted at every level, 1.0 as 1.
    const jcs =
      '{"created_at":"2026-05-01T09:00:00.250+00:00","metadata":{"10":"ten","2":"two","__proto__":{"x":1},"contractor":"Acme"},"model_name":"gpt",' +
      '"model_role":"executor","retrieved_context":{"extra":true,"matrix_corpora":["prd"],"pathway_fingerprints_seen":3},"run_id":"r-1","schema_version":99,' +
      '"signals":{"accepted_on_attempt":1,"b":null},"source_files":["src/a.ts"],"task_id":"t:1","text":"café 😀 \u2028 \\ud800","zeta":{"deep":[1,2]}}';
    const sigHash = createHash('sha256').update(jcs).digest('hex');
    assert.equal(canonicalHash(JSON.parse(row)), sigHash);
    const expected =
      '{"schema_version":1,"run_id":"r-1","task_id":"t:1","model_role":"executor","model_name":"gpt","text":"café 😀 \u2028 \\ud800",' +
      '"source_files":["src/a.ts"],"retrieved_context":{"matrix_corpora":["prd"],"pathway_fingerprints_seen":3},' +
      '"metadata":{"2":"two","10":"ten","contractor":"Acme","__proto__":{"x":1}},"signals":{"accepted_on_attempt":1,"b":null},' +
      `"created_at":"2026-05-01T09:00:00.250+00:00","provenance":{"source_file":"data/_kb/scrum_reviews.jsonl","line_offset":0,"sig_hash":"${sigHash}","recorded_at":"${RECORDED_AT}"}}\n`;
    const root = await kbRoot({ 'scrum_reviews.jsonl': [row] });
    try {
      await collect(root);
      assert.equal(await readText(path.join(root, 'data/evidence/2026/05/01/scrum_reviews.jsonl')), expected);
    } finally {
      await removeDir(root);
    }
  });

  test('model_role and text default to ""; optional fields appear only when present (empty ones kept)', async () => {
    const root = await kbRoot({
      'x.jsonl': [good('bare'), good('empties', undefined, { source_files: [], retrieved_context: {}, metadata: {}, signals: {}, model_name: '' })],
    });
    try {
      await collect(root);
      const lines = (await readText(path.join(root, 'data/evidence/2026/05/01/x.jsonl'))).split('\n');
      const [bare, empties] = lines.map((line) => (line === '' ? undefined : (JSON.parse(line) as EvidenceRecord)));
      assert.deepEqual(Object.keys(bare!), ['schema_version', 'run_id', 'task_id', 'model_role', 'text', 'created_at', 'provenance']);
      assert.equal(bare!.model_role, '');
      assert.equal(bare!.text, '');
      assert.deepEqual(Object.keys(bare!.provenance), ['source_file', 'line_offset', 'sig_hash', 'recorded_at']);
      assert.equal(bare!.provenance.sig_hash, canonicalHash(good('bare')));
      assert.equal(
        lines[1],
        '{"schema_version":1,"run_id":"empties","task_id":"task:empties","model_role":"","model_name":"","text":"","source_files":[],' +
          `"retrieved_context":{},"metadata":{},"signals":{},"created_at":"2026-05-01T09:00:00Z","provenance":{"source_file":"data/_kb/x.jsonl",` +
          `"line_offset":1,"sig_hash":"${empties!.provenance.sig_hash}","recorded_at":"${RECORDED_AT}"}}`,
      );
      assert.equal(empties!.provenance.sig_hash, canonicalHash(JSON.parse(lineOf(good('empties', undefined, { source_files: [], retrieved_context: {}, metadata: {}, signals: {}, model_name: '' })))));
    } finally {
      await removeDir(root);
    }
  });

  test('toEvidenceRecord is pure: the raw row is never mutated', () => {
    const raw = JSON.parse(
      '{"run_id":"r","task_id":"t","created_at":"2026-05-01T09:00:00Z","retrieved_context":{"matrix_corpora":["a"],"x":1},"metadata":{"k":[1]},"unknown":true}',
    ) as Record<string, unknown>;
    const before = structuredClone(raw);
    const deepFreeze = (value: unknown): void => {
      if (typeof value === 'object' && value !== null) Object.values(Object.freeze(value)).forEach(deepFreeze);
    };
    deepFreeze(raw);
    const record = toEvidenceRecord(raw, { source_file: 'data/_kb/x.jsonl', line_offset: 7 }, RECORDED_AT);
    assert.ok(!(record instanceof Rejection));
    assert.deepEqual(raw, before);
    assert.deepEqual(record.retrieved_context, { matrix_corpora: ['a'] });
    assert.equal(record.provenance.line_offset, 7);
  });

  test('nesting: metadata/signals up to MAX_NESTING levels pass, deeper ones are schema_violation; unknown fields may nest at any depth', () => {
    const nested = (depth: number): unknown => JSON.parse(`${'{"a":'.repeat(depth - 1)}[]${'}'.repeat(depth - 1)}`);
    assert.equal(nestingDepth(nested(MAX_NESTING), MAX_NESTING), MAX_NESTING);
    assert.equal(nestingDepth(7, MAX_NESTING), 0);
    assert.equal(nestingDepth({ a: [1, { b: [] }], c: {} }, MAX_NESTING), 4);
    const location = { source_file: 'data/_kb/x.jsonl', line_offset: 0 };
    for (const field of ['metadata', 'signals']) {
      const ok = toEvidenceRecord({ ...good('r'), [field]: nested(MAX_NESTING) }, location, RECORDED_AT);
      assert.ok(!(ok instanceof Rejection), field);
      assert.doesNotThrow(() => JSON.stringify(ok));
      const deep = toEvidenceRecord({ ...good('r'), [field]: nested(MAX_NESTING + 1) }, location, RECORDED_AT);
      assert.ok(deep instanceof Rejection, field);
      assert.equal(deep.reason, 'schema_violation');
      assert.deepEqual(deep.errors, [`/${field} is nested deeper than ${MAX_NESTING} levels`]);
    }
    const unknownDeep = toEvidenceRecord({ ...good('r'), junk: nested(100_000) }, location, RECORDED_AT);
    assert.ok(!(unknownDeep instanceof Rejection));
    assert.equal(JSON.stringify(unknownDeep).includes('junk'), false);
  });

  test('property: toEvidenceLine writes JSON.stringify(toEvidenceRecord(row)) + newline, from a line in any spelling, with or without its bytes', () => {
    const random = mulberry32(20261202);
    const location = { source_file: 'data/_kb/x.jsonl', line_offset: 3 };
    let kept = 0;
    let asTheyStand = 0;
    for (let n = 0; n < 5000; n++) {
      const fields: Array<[string, string]> = [
        ['"run_id"', JSON.stringify(random() < 0.1 ? ',"text":"",' : `r${n}`)],
        ['"task_id"', JSON.stringify(random() < 0.1 ? '"text":""' : 'task:a')],
        ['"text"', JSON.stringify(randomText(random))],
        ['"created_at"', JSON.stringify('2026-05-01T09:00:00+02:00')],
      ];
      if (random() < 0.5) fields.push(['"model_role"', JSON.stringify('executor')]);
      if (random() < 0.3) fields.push(['"model_name"', JSON.stringify('m\u00e9 "x"')]);
      if (random() < 0.3) fields.push(['"metadata"', JSON.stringify({ text: '', 10: 'integer-like', 2: [{ text: '"}' }] }).replace('{', '{"__proto__":{"text":""},')]);
      if (random() < 0.3) fields.push(['"signals"', JSON.stringify({ text: 'not this one' })]);
      if (random() < 0.3) fields.push(['"source_files"', JSON.stringify(['a.ts', ',"text":""'])]);
      if (random() < 0.2) fields.push(['"retrieved_context"', JSON.stringify({ matrix_corpora: ['m'], pathway_fingerprints_seen: 2, text: 'dropped' })]);
      if (random() < 0.3) fields.push(['"unknown"', JSON.stringify({ text: 'hashed, not kept' })]);
      const line = spelledLine(random, fields, 2);
      const parsed = parseJson(line.toString('utf8'));
      if (parsed === undefined) continue;
      const record = toEvidenceRecord(parsed.value, location, RECORDED_AT);
      for (const bytes of [line, undefined]) {
        const evidence = toEvidenceLine(parsed.value, location, RECORDED_AT, bytes);
        assert.equal(evidence instanceof Rejection, record instanceof Rejection, line.toString());
        if (evidence instanceof Rejection || record instanceof Rejection) {
          assert.deepEqual(evidence, record);
          continue;
        }
        assert.deepEqual(evidence.record, record);
        assert.equal(evidence.line.toString('utf8'), `${JSON.stringify(record)}\n`, line.toString());
        assert.equal(record.provenance.sig_hash, canonicalHash(parsed.value));
      }
      if (record instanceof Rejection) continue;
      kept++;
      const literal = topLevelText(line);
      if (literal !== undefined && isStringifiedLiteral(line, literal.start, literal.end)) {
        asTheyStand++;
        assert.equal(line.subarray(literal.start, literal.end).toString('utf8'), JSON.stringify(record.text), line.toString());
      }
    }
    // Enough of each path ran to mean something.
    assert.ok(kept > 2500 && asTheyStand > 1500 && kept - asTheyStand > 300, `${kept} kept, ${asTheyStand} with their text's bytes as they stand`);
  });

  test('isStringifiedLiteral: only the bytes JSON.stringify writes, escapes included', () => {
    const literalOf = (json: string): boolean => {
      const line = Buffer.from(`{"text":${json}}`);
      return isStringifiedLiteral(line, 8, line.length - 1);
    };
    for (const value of ['', 'plain', 'é中😀', '"q" \\ \n\r\t\b\f', '\u0000\u001f', '\ud800', '\udfff x', '\u2028']) assert.equal(literalOf(JSON.stringify(value)), true, JSON.stringify(value));
    // Escapes JSON.stringify never writes: solidus, uppercase hex, a printable unit, a control unit with a short form, a surrogate pair.
    for (const json of ['"a\\/b"', '"\\u001F"', '"\\u0041"', '"\\u000a"', '"\\ud83d\\ude00"']) assert.equal(literalOf(json), false, json);
    const notUtf8 = Buffer.concat([Buffer.from('{"text":"a'), Buffer.from([0xff]), Buffer.from('"}')]);
    assert.equal(isStringifiedLiteral(notUtf8, 8, notUtf8.length - 1), false);
  });

  test('a row nested too deep is quarantined, not a crash; a deep unknown field is still hashed', async () => {
    const depth = 2_000; // past MAX_NESTING, within what the quarantine writer's JSON.stringify can write
    const deepValue = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const hugeValue = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const lines = [
      `{"run_id":"meta","task_id":"t","created_at":"2026-05-01T09:00:00Z","metadata":${deepValue}}`,
      `{"run_id":"junk","task_id":"t","created_at":"2026-05-01T09:00:00Z","junk":${hugeValue}}`,
      JSON.stringify(good('after')),
    ];
    const root = await kbRoot({ 'x.jsonl': lines });
    try {
      await runCollect({ root, recordedAt: RECORDED_AT });
      const [q, ...rest] = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(rest, []);
      assert.equal(q!.reason, 'schema_violation');
      assert.deepEqual(q!.errors, [`/metadata is nested deeper than ${MAX_NESTING} levels`]);
      assert.deepEqual(q!.source_provenance, { source_file: 'data/_kb/x.jsonl', line_offset: 0 });
      assert.equal(canonicalHash(q!.source_record), canonicalHash(JSON.parse(lines[0]!)));
      const evidence = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/x.jsonl'));
      assert.deepEqual(evidence.map((r) => r.run_id), ['junk', 'after']);
      assert.equal(evidence[0]!.provenance.sig_hash, canonicalHash(JSON.parse(lines[1]!)));
    } finally {
      await removeDir(root);
    }
  });
});

test(
  'a row nested ~100k levels deep in metadata is quarantined with its full source_record',
  async () => {
    const line = `{"run_id":"deep","task_id":"t","created_at":"2026-05-01T09:00:00Z","metadata":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    const root = await kbRoot({ 'x.jsonl': [line, good('after')] });
    try {
      await runCollect({ root, recordedAt: RECORDED_AT });
      const [q] = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.equal(q!.reason, 'schema_violation');
      assert.equal(canonicalHash(q!.source_record), canonicalHash(JSON.parse(line)));
      assert.deepEqual((await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/x.jsonl'))).map((r) => r.run_id), ['after']);
    } finally {
      await removeDir(root);
    }
  },
);

describe('collect: the tree', () => {
  test('golden: collect on the fixture archive reproduces the committed data/evidence byte for byte', async () => {
    const root = await fixtureCopy();
    try {
      await rm(path.join(root, 'data/evidence'), { recursive: true });
      await rm(path.join(root, 'data/scored-runs'), { recursive: true });
      const counts = await collect(root);
      assert.equal(summaryLine('collect', counts), '[collect] read=44 exported=40 quarantined=4 {duplicate_id: 1, schema_violation: 3}');
      const committed = await snapshot(path.join(FIXTURE_ARCHIVE, 'data/evidence'));
      assert.equal(committed.size, 13);
      assert.deepEqual(await snapshot(path.join(root, 'data/evidence')), committed);
      assert.deepEqual((await readdir(path.join(root, 'data'))).sort(), ['_kb', 'evidence']); // no temp tree left beside it
      // Spot checks against docs/records.md, independent of the committed bytes.
      const day2 = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/02/scrum_reviews.jsonl'));
      assert.deepEqual(day2.map((r) => [r.run_id, r.created_at, r.provenance.line_offset]), [
        ['scrum-002', '2026-05-01T23:30:00-02:00', 1],
        ['scrum-010', '2026-05-02T10:15:30.250Z', 12],
        ['scrum-011', '2026-05-02T10:15:30.250Z', 13],
      ]);
      const quarantine = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/collect.jsonl'));
      assert.deepEqual(
        quarantine.map((q) => [q.reason, q.source_provenance.line_offset]),
        [['schema_violation', 9], ['schema_violation', 10], ['duplicate_id', 11], ['schema_violation', 14]],
      );
      assert.ok(quarantine.every((q) => q.source_provenance.source_file === 'data/_kb/scrum_reviews.jsonl'));
    } finally {
      await removeDir(root);
    }
  });

  test('a re-run gives the same bytes; the whole tree is rebuilt (stale files and emptied partitions disappear)', async () => {
    const root = await kbRoot({ 'x.jsonl': [good('a'), good('b', '2026-05-02T09:00:00Z')], 'y.jsonl': [good('c')] });
    try {
      const evidence = path.join(root, 'data/evidence');
      await collect(root);
      const first = await snapshot(evidence);
      const quarantine = await readText(path.join(root, 'exports/quarantine/collect.jsonl'));
      await writeFile(path.join(evidence, '2026/05/01/stale.jsonl'), 'left over\n');
      await mkdir(path.join(evidence, '1999/01/01'), { recursive: true });
      await writeFile(path.join(evidence, '1999/01/01/x.jsonl'), 'left over\n');
      await collect(root);
      assert.deepEqual(await snapshot(evidence), first);
      assert.deepEqual([...first.keys()], ['2026/05/01/x.jsonl', '2026/05/01/y.jsonl', '2026/05/02/x.jsonl']);
      assert.equal(await readText(path.join(root, 'exports/quarantine/collect.jsonl')), quarantine);
      // A source that lost its rows loses its files; a day with no rows left loses its folder.
      await writeFile(path.join(root, 'data/_kb/x.jsonl'), `${JSON.stringify(good('a'))}\n`);
      await rm(path.join(root, 'data/_kb/y.jsonl'));
      await collect(root);
      assert.deepEqual(await listFiles(evidence), ['2026/05/01/x.jsonl']);
      assert.deepEqual(await readdir(evidence), ['2026']);
      assert.deepEqual(await readdir(path.join(evidence, '2026/05')), ['01']);
    } finally {
      await removeDir(root);
    }
  });

  test('an empty data/_kb gives an empty evidence tree; a missing one is an I/O error naming it', async () => {
    const root = await kbRoot({ 'empty.jsonl': '', 'blank.jsonl': '\n  \n\r\n' });
    try {
      await collect(root);
      assert.deepEqual(await readdir(path.join(root, 'data/evidence')), []);
      assert.equal(await readText(path.join(root, 'exports/quarantine/collect.jsonl')), '');
      await rm(path.join(root, 'data/_kb'), { recursive: true });
      await assert.rejects(collect(root), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && /data\/_kb/.test(error.message));
      assert.deepEqual(await readdir(path.join(root, 'data/evidence')), []); // the previous tree stays
      assert.deepEqual(await readdir(path.join(root, 'data')), ['evidence']);
    } finally {
      await removeDir(root);
    }
  });

});

describe('PartitionWriter', () => {
  test(`more partitions than MAX_OPEN_PARTITIONS (${MAX_OPEN_PARTITIONS}), interleaved: every file complete and in input order`, async () => {
    const dir = await tempDir();
    try {
      const DAYS = 100;
      const ROWS = 3_000;
      const partitionOf = (n: number): string => `2026/${String(1 + (n % DAYS)).padStart(3, '0')}/x.jsonl`;
      const rowLine = (n: number): string => `{"n":${n},"pad":"${'é'.repeat(n % 50)}"}\n`;
      const openFds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
      const baseline = openFds();
      let mostFds = baseline;
      async function* batches(): AsyncGenerator<PartitionedLine[]> {
        for (let start = 0; start < ROWS; start += 7) {
          mostFds = Math.max(mostFds, openFds());
          yield Array.from({ length: Math.min(7, ROWS - start) }, (_, k) => ({ partition: partitionOf(start + k), line: rowLine(start + k) }));
        }
      }
      const writer = new PartitionWriter(dir, (partition) => `data/evidence/${partition}`);
      await pipeline(Readable.from(batches(), { objectMode: true }), writer);
      assert.ok(MAX_OPEN_PARTITIONS < DAYS);
      assert.ok(mostFds - baseline <= MAX_OPEN_PARTITIONS + 4, `at most ${MAX_OPEN_PARTITIONS} handles open, saw ${mostFds - baseline} more fds`);
      const files = await listFiles(dir);
      assert.equal(files.length, DAYS);
      const digests = writer.digests();
      assert.deepEqual(digests.map((d) => d.path), files.map((file) => `data/evidence/${file}`));
      for (let day = 0; day < DAYS; day++) {
        const expected = Array.from({ length: ROWS / DAYS }, (_, k) => rowLine(day + k * DAYS)).join('');
        const bytes = await readFile(path.join(dir, partitionOf(day)));
        assert.equal(bytes.toString('utf8'), expected, partitionOf(day));
        const digest = digests.find((d) => d.path === `data/evidence/${partitionOf(day)}`)!;
        assert.deepEqual(digest, { path: digest.path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('a partition that cannot be written fails the run with DS_IO naming it, never an unhandled error', async () => {
    const dir = await tempDir();
    try {
      await writeFile(path.join(dir, '2026'), 'a file where a folder should be');
      const writer = new PartitionWriter(dir, (partition) => `data/evidence/${partition}`);
      await assert.rejects(
        pipeline(Readable.from([[{ partition: '2026/05/01/x.jsonl', line: '{}\n' }]], { objectMode: true }), writer),
        (error: Error & { code?: string }) => error.code === 'DS_IO' && error.message.startsWith('data/evidence/2026/05/01/x.jsonl: '),
      );
      // A folder where the file should be: the open fails asynchronously (EISDIR), as an 'error' event.
      await mkdir(path.join(dir, 'taken', 'x.jsonl'), { recursive: true });
      const blocked = new PartitionWriter(path.join(dir, 'taken'), (partition) => partition);
      await assert.rejects(
        pipeline(Readable.from([[{ partition: 'x.jsonl', line: '{}\n' }]], { objectMode: true }), blocked),
        (error: Error & { code?: string }) => error.code === 'DS_IO' && error.message.startsWith('x.jsonl: '),
      );
    } finally {
      await removeDir(dir);
    }
  });
});

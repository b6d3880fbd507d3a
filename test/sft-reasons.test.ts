/**
 * Every SFT quarantine reason, one test each, through the library's sft run in-process: the whole
 * chain (line splitting, parsing, the gates, synthesis, validation, duplicates) on a one-line input
 * joined with a small evidence file. One evidence file and its index serve every case, so the tests
 * run one after the other. How stdin rows are located ("-") is the CLI's, in cli-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runSft, type SftCommandOptions } from '../pipelines/stage.js';
import type { QuarantineRecord, ScoredRun } from '../src/records.js';
import { PACKAGE_ROOT, readText, removeDir, tempDir } from './helpers.js';
import { scrumRow, writeEvidence } from './library.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';

interface ReasonCase {
  reason: string;
  /** The raw _kb row behind the case's evidence (its run_id is made unique per case). */
  row: Record<string, unknown>;
  /** The scored line the case feeds sft, from the ScoredRun of its row. */
  line: (scored: ScoredRun) => string;
  options?: Partial<SftCommandOptions>;
  label?: string;
}

const CASES: ReasonCase[] = [
  { reason: 'schema_violation', row: scrumRow(), line: () => '{"not": json' },
  { reason: 'schema_violation', row: scrumRow(), line: () => '"a string"' },
  { reason: 'schema_violation', row: scrumRow(), line: (s) => JSON.stringify({ ...s, reasons: [] }) },
  // A line_offset past 2^53 - 1 cannot be an integer a sample repeats exactly: refused, never written as a float.
  { reason: 'schema_violation', row: scrumRow(), line: (s) => JSON.stringify(s).replace(/"line_offset":\d+/, '"line_offset":1e29'), label: 'line_offset 1e29' },
  { reason: 'missing_provenance', row: scrumRow(), line: (s) => JSON.stringify({ ...s, provenance: { ...s.provenance, source_file: null } }) },
  { reason: 'missing_source_run_id', row: scrumRow(), line: (s) => JSON.stringify({ ...s, evidence_run_id: null }) },
  { reason: 'evidence_not_found', row: scrumRow(), line: (s) => JSON.stringify({ ...s, evidence_run_id: 'nobody' }) },
  { reason: 'unsafe_sft_category', row: scrumRow({ signals: { accepted_on_attempt: null, attempts: 3, max_attempts: 3 } }), line: (s) => JSON.stringify(s) },
  { reason: 'unsafe_sft_category', row: scrumRow({ signals: {} }), line: (s) => JSON.stringify(s) },
  { reason: 'category_disallowed', row: scrumRow({ signals: { accepted_on_attempt: 2, max_attempts: 3 } }), line: (s) => JSON.stringify(s) },
  { reason: 'not_instructable', row: scrumRow({ model_role: 'planner' }), line: (s) => JSON.stringify(s) },
  { reason: 'empty_content', row: scrumRow({ text: ' \r\n\t' }), line: (s) => JSON.stringify(s) },
  { reason: 'hallucinated_file_path', row: scrumRow({ source_files: ['../outside.ts'] }), line: (s) => JSON.stringify(s) },
  // The package root as the repository: src/missing.ts is not in it.
  { reason: 'hallucinated_file_path', row: scrumRow({ source_files: ['src/missing.ts'] }), line: (s) => JSON.stringify(s), options: { repoRoot: PACKAGE_ROOT }, label: '--repo-root' },
  { reason: 'line_too_long', row: scrumRow(), line: (s) => JSON.stringify(s), options: { maxLineBytes: 100 }, label: '--max-line-bytes 100' },
];

describe('one test per SFT quarantine reason', () => {
  let dir = '';
  let evidence = '';
  /** The ScoredRun of each case's evidence row, by case number; `plain` is a row every gate passes. */
  const scored: ScoredRun[] = [];
  let plain: ScoredRun;

  before(async () => {
    dir = await tempDir();
    const rows = [...CASES.map((c, n) => ({ ...c.row, run_id: `case-${n}` })), scrumRow({ run_id: 'plain' })];
    evidence = path.join(dir, 'evidence.jsonl');
    scored.push(...(await writeEvidence(evidence, rows)));
    plain = scored.pop()!;
  });
  after(() => removeDir(dir));

  /** sft on one input file of `lines`; the written rows and the quarantine rows. */
  async function sftOn(name: string, lines: string[], options: Partial<SftCommandOptions> = {}): Promise<{ out: string[]; quarantine: QuarantineRecord[] }> {
    const input = path.join(dir, `${name}.jsonl`);
    await writeFile(input, lines.join('\n'));
    const out = path.join(dir, `${name}.out.jsonl`);
    const quarantinePath = path.join(dir, `${name}.q.jsonl`);
    await runSft({ cwd: dir, inputs: [input], evidence, out, quarantine: quarantinePath, recordedAt: RECORDED_AT, ...options });
    const quarantine = (await readText(quarantinePath)).split('\n').filter(Boolean).map((line) => JSON.parse(line) as QuarantineRecord);
    return { out: (await readText(out)).split('\n').filter(Boolean), quarantine };
  }

  CASES.forEach(({ reason, line, options, label }, n) => {
    test(`${reason}${label ? ` (${label})` : ''}`, async () => {
      const { out, quarantine } = await sftOn(`case-${n}`, ['', line(scored[n]!)], options);
      assert.deepEqual(out, []);
      assert.equal(quarantine.length, 1);
      const [row] = quarantine;
      assert.equal(row!.reason, reason);
      assert.equal(row!.stage, 'sft');
      assert.deepEqual(row!.source_provenance, { source_file: `case-${n}.jsonl`, line_offset: 1 });
      assert.ok(row!.errors.length > 0);
    });
  });

  test('duplicate_id: the second copy of a row is quarantined, the first is written', async () => {
    const line = JSON.stringify(plain);
    const { out, quarantine } = await sftOn('duplicate', [line, line]);
    assert.equal(out.length, 1);
    assert.deepEqual(quarantine.map((row) => [row.reason, row.source_provenance.line_offset]), [['duplicate_id', 1]]);
  });

  test('unparsable lines keep their first 200 code points as _raw', async () => {
    const { quarantine } = await sftOn('unparsable', [`{${'😀'.repeat(300)}`]);
    assert.deepEqual(quarantine[0]!.source_record, { _raw: `{${'😀'.repeat(199)}` });
  });
});

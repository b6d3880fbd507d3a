import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { analyseEvidenceLine } from '../src/core/evidence-line.js';
import { textFacts } from '../src/core/evidence-text.js';
import { isJsonObject } from '../src/core/gates.js';
import type { EvidenceRecord } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';
import { randomText, spelledLine } from './spelled-lines.js';

/** The reference: a whole-line JSON.parse and the compiled EvidenceRecord validator, as every other stage reads a row. */
function reference(line: Buffer): EvidenceRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  return isJsonObject(value) && validators().evidenceRecord(value) ? value : undefined;
}

const SIG = 'b'.repeat(64);
/** An evidence row in one of many spellings (spelledLine), its run_id now and then empty. */
function randomLine(random: () => number): Buffer {
  const fields: Array<[string, string]> = [
    ['"schema_version"', '1'],
    ['"run_id"', random() < 0.03 ? '""' : JSON.stringify(`r${Math.floor(random() * 5)}`)],
    ['"task_id"', JSON.stringify('task:a')],
    ['"model_role"', JSON.stringify(random() < 0.5 ? 'executor' : '')],
    ['"text"', JSON.stringify(randomText(random))],
    ['"created_at"', JSON.stringify('2026-05-01T00:00:00Z')],
    ['"provenance"', JSON.stringify({ source_file: 'data/_kb/audits.jsonl', line_offset: 3, sig_hash: SIG, recorded_at: '2026-05-01T00:00:00Z' })],
  ];
  if (random() < 0.3) fields.push(['"metadata"', JSON.stringify({ text: 'not this one', contractor: random() < 0.5 ? 'Acme' : 7, nested: [{ text: '"}' }] })]);
  if (random() < 0.3) fields.push(['"source_files"', JSON.stringify(['a.ts', 'b "c".ts'])]);
  if (random() < 0.2) fields.push(['"retrieved_context"', JSON.stringify({ matrix_corpora: ['m'], pathway_fingerprints_seen: 2 })]);
  if (random() < 0.2) fields.push(['"model_name"', JSON.stringify('m\u00e9')]);
  return spelledLine(random, fields, 4);
}

test('analysing an evidence line decides joinability, projection and text exactly as a whole-line parse does', () => {
  const random = mulberry32(20261201);
  let joinable = 0;
  let literal = 0;
  for (let n = 0; n < 6000; n++) {
    const line = randomLine(random);
    const expected = reference(line);
    const analysed = analyseEvidenceLine(line);
    const shown = line.toString('utf8').slice(0, 300);
    assert.equal(analysed === undefined, expected === undefined, shown);
    if (expected === undefined || analysed === undefined) continue;
    joinable++;
    const contractor = expected.metadata !== undefined && Object.hasOwn(expected.metadata, 'contractor') && typeof expected.metadata['contractor'] === 'string' ? expected.metadata['contractor'] : '';
    assert.deepEqual(analysed.projection, {
      run_id: expected.run_id,
      task_id: expected.task_id,
      model_role: expected.model_role,
      model_name: expected.model_name ?? '',
      source_files: expected.source_files ?? [],
      matrix_corpora: expected.retrieved_context?.matrix_corpora ?? [],
      pathway_fingerprints_seen: expected.retrieved_context?.pathway_fingerprints_seen ?? 0,
      contractor,
      source_file: expected.provenance.source_file,
    }, shown);
    assert.deepEqual(analysed.facts, textFacts(expected.text), shown);
    if (analysed.literal !== undefined) {
      literal++;
      assert.equal(line.subarray(analysed.literal.start, analysed.literal.end).toString('utf8'), JSON.stringify(expected.text), shown);
    }
  }
  // Enough of each path was exercised to mean something.
  assert.ok(joinable > 2500 && literal > 1500, `${joinable} joinable, ${literal} written as their bytes stand`);
});

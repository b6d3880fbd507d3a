import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { analyseEvidenceLine } from '../src/core/evidence-line.js';
import { textFacts } from '../src/core/evidence-text.js';
import { isJsonObject } from '../src/core/gates.js';
import { literalFacts } from '../src/core/text-literal.js';
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

/**
 * Texts built to land on the edges of the literal's decoded head (its first 512 bytes): white space
 * of every kind trim knows running past it, first lines of about 120 code points crossing it in
 * characters of 1 to 4 bytes and in escapes, "\r\n" and runs of backslashes at the cut, texts around
 * 2000 code points for the embedding cut.
 */
function edgeText(random: () => number): string {
  const spaces = [' ', '\t', '\n', '\r\n', '\u000b', '\f', '\u00a0', '\u1680', '\u2003', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff'];
  const chars = ['a', 'é', '中', '😀', '\\', '"', '\u0001', '\ud800', '\udfff', '\r', '\n', '\b', '\u2028'];
  const pick = (list: readonly string[]): string => list[Math.floor(random() * list.length)]!;
  let text = '';
  const lead = random() < 0.3 ? Math.floor(random() * 700) : Math.floor(random() * 5);
  for (let i = 0; i < lead; i++) text += pick(spaces);
  const lineLength = random() < 0.5 ? 100 + Math.floor(random() * 60) : Math.floor(random() * 600);
  for (let i = 0; i < lineLength; i++) text += random() < 0.9 ? pick(chars.slice(0, 4)) : pick(chars);
  if (random() < 0.5) text += random() < 0.5 ? '\r\n' : '\n';
  const tail = random() < 0.3 ? 1900 + Math.floor(random() * 200) : Math.floor(random() * 50);
  for (let i = 0; i < tail; i++) text += pick(chars);
  return text;
}

test('a literal written as JSON.stringify writes it gives the facts of its decoded text, at every edge of the decoded head', () => {
  const random = mulberry32(20261204);
  const paths = { head: 0, whole: 0, cut: 0 };
  for (let n = 0; n < 4000; n++) {
    const text = edgeText(random);
    const json = Buffer.from(JSON.stringify(text));
    const facts = literalFacts(json, 0, json.length);
    assert.deepEqual(facts, textFacts(text), JSON.stringify(text).slice(0, 200));
    if (json.length <= 514) paths.whole++;
    else paths.head++;
    if (facts!.embeddingPrefix > 0) paths.cut++;
  }
  assert.ok(paths.head > 1500 && paths.whole > 500 && paths.cut > 500, JSON.stringify(paths));
});

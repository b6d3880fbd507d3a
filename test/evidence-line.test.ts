import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { analyseEvidenceLine } from '../src/core/evidence-line.js';
import { textFacts } from '../src/core/evidence-text.js';
import { isJsonObject } from '../src/core/gates.js';
import type { EvidenceRecord } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';

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
const PIECES = ['plain', 'é中😀', '"quoted"', 'back\\slash', '\n', '\r\n', '\t', '\u2028', '\ud800', '\udfff', '\u0000', '   ', '{"text":"inner"}', '\\"', '\\u0041'];

function randomText(random: () => number): string {
  let text = '';
  const n = Math.floor(random() * 8);
  for (let i = 0; i < n; i++) text += PIECES[Math.floor(random() * PIECES.length)]!;
  return random() < 0.1 ? 'x'.repeat(2100 + Math.floor(random() * 50)) + text : text;
}

/** A row in one of many spellings: key orders, spaces, nested look-alike keys, escapes written other ways. */
function randomLine(random: () => number): Buffer {
  const text = randomText(random);
  const fields: Array<[string, string]> = [
    ['"schema_version"', '1'],
    ['"run_id"', JSON.stringify(`r${Math.floor(random() * 5)}`)],
    ['"task_id"', JSON.stringify('task:a')],
    ['"model_role"', JSON.stringify(random() < 0.5 ? 'executor' : '')],
    ['"text"', JSON.stringify(text)],
    ['"created_at"', JSON.stringify('2026-05-01T00:00:00Z')],
    ['"provenance"', JSON.stringify({ source_file: 'data/_kb/audits.jsonl', line_offset: 3, sig_hash: SIG, recorded_at: '2026-05-01T00:00:00Z' })],
  ];
  if (random() < 0.3) fields.push(['"metadata"', JSON.stringify({ text: 'not this one', contractor: random() < 0.5 ? 'Acme' : 7, nested: [{ text: '"}' }] })]);
  if (random() < 0.3) fields.push(['"source_files"', JSON.stringify(['a.ts', 'b "c".ts'])]);
  if (random() < 0.2) fields.push(['"retrieved_context"', JSON.stringify({ matrix_corpora: ['m'], pathway_fingerprints_seen: 2 })]);
  if (random() < 0.2) fields.push(['"model_name"', JSON.stringify('m\u00e9')]);
  // Spellings that change nothing, or everything.
  const mutate = random();
  if (mutate < 0.05) fields.push(['"text"', JSON.stringify('a second text key')]);
  else if (mutate < 0.1) fields[4] = ['"te\\u0078t"', JSON.stringify(text)];
  else if (mutate < 0.14) fields[4] = ['"text"', '42'];
  else if (mutate < 0.18) fields.splice(4, 1);
  else if (mutate < 0.22) fields[4] = ['"text"', JSON.stringify(text).replace(/a/g, '\\u0061').replace(/\//g, '\\/')];
  else if (mutate < 0.25) fields[1] = ['"run_id"', '""'];
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [fields[i], fields[j]] = [fields[j]!, fields[i]!];
  }
  const space = (): string => (random() < 0.2 ? ' \t'.slice(0, 1 + Math.floor(random() * 2)) : '');
  let line = `${space()}{${space()}${fields.map(([key, value]) => `${key}${space()}:${space()}${value}`).join(`${space()},${space()}`)}${space()}}${space()}`;
  const damage = random();
  if (damage < 0.04) line = line.slice(0, Math.floor(random() * line.length));
  else if (damage < 0.06) line += 'x';
  else if (damage < 0.08) line = `\ufeff${line}`;
  else if (damage < 0.1) line = line.replace('"text"', '"text" "x"');
  const bytes = Buffer.from(line);
  if (random() < 0.05) {
    const at = Math.floor(random() * bytes.length);
    return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at)]);
  }
  return bytes;
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

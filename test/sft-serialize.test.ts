import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SftSample } from '../src/records.js';
import { serializeSftSample } from '../src/stages/sft.js';
import { mulberry32 } from '../data-fixtures/prng.js';

const ALPHABET = ['a', 'Z', ' ', '"', '\\', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', 'é', '中', '😀', '\u2028', '\u2029', '\ud800', '\udfff', '/', '<'];

test('the template serializer writes exactly JSON.stringify(sample) + "\\n"', () => {
  const random = mulberry32(7);
  const text = (max: number): string => Array.from({ length: Math.floor(random() * max) }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join('');
  for (let n = 0; n < 2000; n++) {
    const recordedAt = '2026-05-02T00:00:00.000Z';
    const sample: SftSample = {
      schema_version: 1,
      id: `sft-${Math.floor(random() * 2 ** 52).toString(16).padStart(16, '0')}`,
      instruction: text(40),
      context: text(20),
      response: text(200),
      source_run_id: text(10) || 'r',
      quality_score: random() < 0.5 ? 'accepted' : 'partially_accepted',
      created_at: recordedAt,
      provenance: { source_file: text(15), line_offset: Math.floor(random() * 1e9), sig_hash: 'f'.repeat(64), recorded_at: recordedAt },
    };
    const written = serializeSftSample({ ...sample, response: '' }, Buffer.from(JSON.stringify(sample.response)));
    assert.equal(written.toString('utf8'), `${JSON.stringify(sample)}\n`);
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JoinedEvidence, RagSample, ScoredRun } from '../src/records.js';
import { buildRagSample, ragTags, serializeRagSample } from '../src/stages/rag.js';
import { evidence } from './helpers.js';

const scored = (overrides: Partial<ScoredRun> = {}): ScoredRun => ({
  schema_version: 1,
  evidence_run_id: 'r1',
  task_id: 't',
  category: 'accepted',
  reasons: ['x'],
  scorer_version: 'v1.0.0',
  source_class: 'verdict',
  provenance: { source_file: 'data/_kb/audits.jsonl', line_offset: 3, sig_hash: 'b'.repeat(64), recorded_at: '2026-05-01T00:00:00Z' },
  ...overrides,
});

describe('RagSample synthesis', () => {
  test('tags in the documented order, each optional tag only when non-empty', () => {
    assert.deepEqual(ragTags(evidence({ task_id: 'permit:P-1:x', model_role: 'executor', model_name: 'm', source_files: ['a.ts'] }), 'accepted'), [
      'task:permit',
      'category:accepted',
      'role:executor',
      'model:m',
      'file:a.ts',
    ]);
    assert.deepEqual(ragTags(evidence({ task_id: 'plain', model_role: '', source_files: ['', 'b.ts'] }), 'needs_human_review'), ['task:plain', 'category:needs_human_review']);
    assert.deepEqual(ragTags(evidence({ task_id: ':lead' }), 'accepted').slice(0, 1), ['task:']);
  });

  test('title is the first non-blank line cut to 120 code points; embedding_text is the text cut to 2000', () => {
    const text = `\n \r\n${'a'.repeat(119)}😀tail\r\nsecond`;
    const written = (joined: JoinedEvidence): RagSample => JSON.parse(Buffer.from(serializeRagSample(buildRagSample(scored(), joined, 't'), joined.text)).toString()) as RagSample;
    const sample = written(evidence({ text }));
    assert.equal(sample.title, `${'a'.repeat(119)}😀`);
    assert.equal(sample.content, text);
    assert.equal(sample.embedding_text, text);
    const long = `${'é'.repeat(1999)}😀${'z'.repeat(10)}`;
    assert.equal(written(evidence({ text: long })).embedding_text, `${'é'.repeat(1999)}😀`);
    assert.equal(written(evidence({ text: long })).content, long);
    const loneCut = `${'x'.repeat(1999)}\ud800${'z'.repeat(3)}`;
    assert.equal(written(evidence({ text: loneCut })).embedding_text, `${'x'.repeat(1999)}\ud800`);
    const lone = `${'x'.repeat(119)}\ud800\udc00`;
    assert.equal(buildRagSample(scored(), evidence({ text: lone }), 't').title, lone);
    const loneHigh = `${'x'.repeat(119)}\ud800${'y'.repeat(5)}`;
    assert.equal(buildRagSample(scored(), evidence({ text: loneHigh }), 't').title, `${'x'.repeat(119)}\ud800`);
  });

  test('a line ending with a lone CR keeps it in the title (a lone CR is not a break)', () => {
    assert.equal(buildRagSample(scored(), evidence({ text: 'first\rstill first\nsecond' }), 't').title, 'first\rstill first');
  });
});

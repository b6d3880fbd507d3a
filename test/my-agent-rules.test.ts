import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { toEvidenceRecord } from '../src/core/evidence.js';
import { admitScoredRun } from '../src/core/gates.js';
import { Rejection } from '../src/core/rejection.js';
import { explainRow, formatExplanation } from '../src/core/explain.js';
import { scoreWith } from '../src/core/ruleset.js';
import { toScoredRun } from '../src/core/scorer.js';
import { instructionFor } from '../src/core/synthesis.js';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { loadRuleset } from '../src/io/rules-file.js';
import type { EvidenceRecord, ScoredRun, SftSample } from '../src/records.js';
import { sftRow } from '../src/stages/sft.js';
import { PACKAGE_ROOT, removeDir, tempDir } from './helpers.js';

/**
 * A user's own agent with a small rules file (data-fixtures/rules): the raw `_kb` rows of `my_agent`
 * collected, scored with the user's rules and exported to SFT, all through the library. The same two
 * files are the fixture of the command-line run (`run-all --rules`).
 */

const FIXTURE = path.join(PACKAGE_ROOT, 'data-fixtures', 'rules');
const RECORDED_AT = '2026-06-02T00:00:00.000Z';

async function myAgentEvidence(): Promise<EvidenceRecord[]> {
  const lines = (await readFile(path.join(FIXTURE, 'my_agent.jsonl'), 'utf8')).split('\n').filter((line) => line !== '');
  return lines.map((line, n) => {
    const record = toEvidenceRecord(JSON.parse(line), { source_file: 'data/_kb/my_agent.jsonl', line_offset: n }, RECORDED_AT);
    assert.ok(!(record instanceof Rejection), line);
    return record;
  });
}

test('my_agent rows scored with my-rules.json: accepted, partial, rejected and review rows, with the ruleset\'s own scorer_version', async () => {
  const ruleset = await loadRuleset(path.join(FIXTURE, 'my-rules.json'));
  const evidence = await myAgentEvidence();
  assert.deepEqual(
    evidence.map((e) => [e.run_id, scoreWith(ruleset.scorer, e)]),
    [
      ['my-001', { category: 'accepted', reasons: ['my_agent_status=ok', 'my_agent_tests=3'], source_class: 'verdict' }],
      ['my-002', { category: 'rejected', reasons: ['my_agent_status=failed'], source_class: 'verdict' }],
      ['my-003', { category: 'accepted', reasons: ['my_agent_status=ok', 'my_agent_tests=5'], source_class: 'verdict' }],
      ['my-004', { category: 'partially_accepted', reasons: ['my_agent_status=ok', 'my_agent_tests=0'], source_class: 'verdict' }],
      ['my-005', { category: 'accepted', reasons: ['my_agent_status=ok', 'my_agent_tests=1'], source_class: 'verdict' }],
      ['my-006', { category: 'needs_human_review', reasons: ['signals_missing'], source_class: 'verdict' }],
      ['my-007', { category: 'needs_human_review', reasons: ['my_agent_status=ok', 'my_agent_tests_wrong_type'], source_class: 'verdict' }],
      ['my-008', { category: 'needs_human_review', reasons: ['my_agent_status=ok', 'my_agent_tests_missing'], source_class: 'verdict' }],
    ],
  );
  const scored = evidence.map((e) => toScoredRun(e, RECORDED_AT, ruleset.scorer));
  for (const run of scored) {
    assert.equal(run.scorer_version, ruleset.scorerVersion);
    assert.ok(!(admitScoredRun(JSON.parse(JSON.stringify(run))) instanceof Rejection), run.evidence_run_id);
  }
  const explained = formatExplanation(explainRow(ruleset, evidence[6]));
  assert.match(explained, /rules\[0\] \[my_agent\]/);
  assert.match(explained, /tests is of the wrong type/);
});

test('my_agent through the SFT export with the user rules: a non-empty dataset of the accepted, instructable rows', async () => {
  const ruleset = await loadRuleset(path.join(FIXTURE, 'my-rules.json'));
  const evidence = await myAgentEvidence();
  const scored: ScoredRun[] = evidence.map((e) => toScoredRun(e, RECORDED_AT, ruleset.scorer));
  const dir = await tempDir();
  try {
    await writeFile(path.join(dir, 'my_agent.jsonl'), evidence.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const { index } = await EvidenceIndex.open(dir, { root: dir, maxLineBytes: 1 << 20 });
    try {
      const row = sftRow({ recordedAt: RECORDED_AT, ruleset, includePartial: false, inRepo: undefined }, (id) => index.get(id));
      const written: SftSample[] = [];
      const reasons: string[] = [];
      for (const [n, run] of scored.entries()) {
        const out = row(JSON.parse(JSON.stringify(run)), { source_file: 'data/scored-runs/my_agent.jsonl', line_offset: n });
        if (out instanceof Rejection) reasons.push(`${run.evidence_run_id}:${out.reason}`);
        else written.push(JSON.parse(Buffer.from(out.value).toString()) as SftSample);
      }
      assert.deepEqual(written.map((s) => [s.source_run_id, s.quality_score, s.response]), [
        ['my-001', 'accepted', 'Raised the session timeout to 30 minutes and added a regression test.'],
        ['my-003', 'accepted', 'Reviewed the CSV export: quoting fixed, 5 tests pass.'],
      ]);
      assert.deepEqual(reasons, [
        'my-002:unsafe_sft_category',
        'my-004:category_disallowed',
        'my-005:not_instructable',
        'my-006:unsafe_sft_category',
        'my-007:unsafe_sft_category',
        'my-008:unsafe_sft_category',
      ]);
      // The rules file's own instruction template writes the instruction.
      assert.equal(written[0]!.instruction, "Complete task 'login-timeout' in 'src/session.ts' and report the tests you ran.");
      assert.equal(instructionFor(index.get('my-001')!, ruleset), written[0]!.instruction);
    } finally {
      await index.close();
    }
  } finally {
    await removeDir(dir);
  }
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { runCollect, runScore, type StageCommandOptions } from '../pipelines/stage.js';
import { canonicalHash } from '../src/core/canonical.js';
import { Rejection } from '../src/core/rejection.js';
import type { StageCounts } from '../src/engine/counts.js';
import { DistillError } from '../src/errors.js';
import type { EvidenceRecord, QuarantineRecord, ScoredRun } from '../src/records.js';
import { scoreRow } from '../src/stages/score.js';
import { FIXTURE_ARCHIVE, fixtureCopy, listFiles, readText, removeDir } from './helpers.js';
import { FIXTURE_MAX_LINE_BYTES, summaryLine } from './library.js';

const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const PINNED = { recordedAt: RECORDED_AT, maxLineBytes: FIXTURE_MAX_LINE_BYTES };
const HAND_WRITTEN = '2026/05/03/hand_written_rows.jsonl';
const SCORED_KEYS = ['schema_version', 'evidence_run_id', 'task_id', 'category', 'reasons', 'scorer_version', 'source_class', 'provenance'];

const parseLines = <T>(text: string): T[] => text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as T);
const readJsonl = async <T>(file: string): Promise<T[]> => parseLines<T>(await readText(file));

async function snapshot(dir: string, skip: ReadonlySet<string> = new Set()): Promise<Map<string, string>> {
  const files = (await listFiles(dir)).filter((file) => !skip.has(file));
  return new Map(await Promise.all(files.map(async (file): Promise<[string, string]> => [file, await readText(path.join(dir, file))])));
}

/** sig_hash of a ScoredRun, with the JCS text written out by hand (keys already in order). */
const scoredSigHash = (category: string, evidenceSigHash: string, reasons: string[]): string =>
  createHash('sha256')
    .update(`{"category":"${category}","evidence_sig_hash":"${evidenceSigHash}","reasons":${JSON.stringify(reasons)},"scorer_version":"v1.0.0"}`)
    .digest('hex');

/** A fixture copy holding only `_kb` and the committed evidence tree. */
async function evidenceRoot(): Promise<string> {
  const root = await fixtureCopy();
  await rm(path.join(root, 'data/scored-runs'), { recursive: true });
  return root;
}

/** score on the standard layout under `root`, in-process, as `score --root ROOT --recorded-at … --max-line-bytes 65536` runs it. */
const score = async (root: string, options: Partial<StageCommandOptions> = {}): Promise<StageCounts> => (await runScore({ root, ...PINNED, ...options })).counts;

// Each test has a fixture copy of its own: they run concurrently.
describe('score on the standard layout', { concurrency: true }, () => {
  test('golden: collect then score reproduce the committed evidence and scored-runs trees byte for byte', async () => {
    const root = await fixtureCopy();
    try {
      await rm(path.join(root, 'data/evidence'), { recursive: true });
      await rm(path.join(root, 'data/scored-runs'), { recursive: true });
      await runCollect({ root, ...PINNED });
      const counts = await score(root);
      assert.equal(summaryLine('score', counts), '[score] read=40 exported=40 quarantined=0 {}');
      assert.deepEqual(await snapshot(path.join(root, 'data/evidence')), await snapshot(path.join(FIXTURE_ARCHIVE, 'data/evidence')));
      const committed = await snapshot(path.join(FIXTURE_ARCHIVE, 'data/scored-runs'), new Set([HAND_WRITTEN]));
      assert.equal(committed.size, 13);
      assert.deepEqual(await snapshot(path.join(root, 'data/scored-runs')), committed);
      assert.equal(await readText(path.join(root, 'exports/quarantine/score.jsonl')), '');
      assert.deepEqual((await readdir(path.join(root, 'data'))).sort(), ['_kb', 'evidence', 'scored-runs']);
    } finally {
      await removeDir(root);
    }
  });

  test('one ScoredRun per evidence row, at the same relative path and in the same order, hashed per docs/records.md', async () => {
    const root = await evidenceRoot();
    try {
      await score(root);
      const evidenceFiles = await listFiles(path.join(root, 'data/evidence'));
      assert.deepEqual(await listFiles(path.join(root, 'data/scored-runs')), evidenceFiles);
      const byRun = new Map<string, ScoredRun>();
      for (const file of evidenceFiles) {
        const evidence = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence', file));
        const scored = await readJsonl<ScoredRun>(path.join(root, 'data/scored-runs', file));
        assert.equal(scored.length, evidence.length, file);
        scored.forEach((run, n) => {
          const source = evidence[n]!;
          byRun.set(run.evidence_run_id, run);
          assert.deepEqual(Object.keys(run), SCORED_KEYS);
          assert.equal(run.schema_version, 1);
          assert.equal(run.evidence_run_id, source.run_id);
          assert.equal(run.task_id, source.task_id);
          assert.equal(run.scorer_version, 'v1.0.0');
          assert.ok(run.reasons.length > 0);
          assert.deepEqual(run.provenance, {
            source_file: source.provenance.source_file,
            line_offset: source.provenance.line_offset,
            sig_hash: scoredSigHash(run.category, source.provenance.sig_hash, run.reasons),
            recorded_at: RECORDED_AT,
          });
        });
      }
      const expected: [string, string, string[], string][] = [
        ['scrum-001', 'accepted', ['scrum_accepted_on_attempt=1'], 'verdict'],
        ['scrum-002', 'partially_accepted', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts=3'], 'verdict'],
        ['scrum-003', 'rejected', ['scrum_accepted_on_attempt=null', 'scrum_attempts=3', 'scrum_max_attempts=3'], 'verdict'],
        ['scrum-004', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type'], 'verdict'],
        ['obs-004', 'needs_human_review', ['observer_verdict=maybe'], 'verdict'],
        ['aud-003', 'accepted', ['audit_passed=true'], 'verdict'],
        ['aud-004', 'needs_human_review', ['audit_max_severity_wrong_type'], 'verdict'],
        ['ap-002', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=false'], 'verdict'],
        ['ca-002', 'partially_accepted', ['contract_recommendation=deny', 'contract_risk_markers=0'], 'verdict'],
        ['ca-003', 'needs_human_review', ['signals_missing'], 'verdict'],
        ['out-004', 'accepted', ['outcome_outcome=success', 'outcome_citations=1'], 'telemetry'],
        ['mode-002', 'partially_accepted', ['mode_grounded_fraction=0.6'], 'telemetry'],
        ['mode-003', 'rejected', ['mode_grounded_fraction=0.5999999'], 'telemetry'],
        ['ext-001', 'needs_human_review', ['extraction_class_no_verdict'], 'extraction'],
      ];
      for (const [runId, category, reasons, sourceClass] of expected) {
        const run = byRun.get(runId)!;
        assert.deepEqual([run.category, run.reasons, run.source_class], [category, reasons, sourceClass], runId);
      }
      assert.equal(byRun.size, 40);
    } finally {
      await removeDir(root);
    }
  });

  test('invalid evidence rows → score quarantine; an evidence file gives a scored file even when empty', async () => {
    const root = await evidenceRoot();
    try {
      const evidence = path.join(root, 'data/evidence');
      const [valid] = await readJsonl<EvidenceRecord>(path.join(evidence, '2026/05/01/scrum_reviews.jsonl'));
      const { provenance, ...withoutProvenance } = valid!;
      const bad: [line: string, parsed: unknown][] = [
        ['not json', { _raw: 'not json' }],
        ['[]', []],
        [JSON.stringify(withoutProvenance), withoutProvenance],
        ...[
          { ...valid!, schema_version: 2 },
          { ...valid!, run_id: '' },
          { ...valid!, task_id: 7 },
          { ...valid!, model_role: null },
          { ...valid!, text: undefined },
          { ...valid!, created_at: '2026-02-30T00:00:00Z' },
          { ...valid!, signals: [] },
          { ...valid!, provenance: { ...provenance, sig_hash: 'A'.repeat(64) } },
          { ...valid!, provenance: { ...provenance, line_offset: -1 } },
          { ...valid!, provenance: { ...provenance, recorded_at: 'now' } },
        ].map((row): [string, unknown] => [JSON.stringify(row), JSON.parse(JSON.stringify(row))]),
      ];
      await mkdir(path.join(evidence, '2026/06/01'), { recursive: true });
      await writeFile(path.join(evidence, '2026/06/01/only_bad.jsonl'), `${bad.map(([line]) => line).join('\n')}\n`);
      await writeFile(path.join(evidence, '2026/06/01/only_blank.jsonl'), '\n  \t\n\r\n');
      await writeFile(path.join(evidence, '2026/06/01/empty.jsonl'), '');
      // Score does not deduplicate: two copies of a row give two scored rows.
      await writeFile(path.join(evidence, '2026/06/01/mixed.jsonl'), `${JSON.stringify(valid)}\n${'x'.repeat(65_537)}\n\n${JSON.stringify(valid)}`);
      await writeFile(path.join(evidence, '2026/06/01/notes.txt'), 'not an input\n');
      await mkdir(path.join(evidence, '.distill-index'));
      await writeFile(path.join(evidence, '.distill-index/manifest.json'), '{}');
      const counts = await score(root);
      assert.equal(summaryLine('score', counts), `[score] read=${40 + bad.length + 3} exported=42 quarantined=${bad.length + 1} {line_too_long: 1, schema_violation: ${bad.length}}`);
      const scored = path.join(root, 'data/scored-runs');
      assert.equal(await readText(path.join(scored, '2026/06/01/only_bad.jsonl')), '');
      assert.equal(await readText(path.join(scored, '2026/06/01/only_blank.jsonl')), '');
      assert.equal(await readText(path.join(scored, '2026/06/01/empty.jsonl')), '');
      const twice = await readJsonl<ScoredRun>(path.join(scored, '2026/06/01/mixed.jsonl'));
      assert.deepEqual(twice.map((run) => [run.evidence_run_id, run.provenance.line_offset]), [['scrum-001', 0], ['scrum-001', 0]]);
      assert.deepEqual(await readdir(path.join(scored, '2026/06/01')), ['empty.jsonl', 'mixed.jsonl', 'only_bad.jsonl', 'only_blank.jsonl']);
      assert.deepEqual(await readdir(scored), ['2026']);
      const quarantine = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/score.jsonl'));
      assert.deepEqual(
        quarantine.map((q) => [q.stage, q.reason, q.source_provenance.source_file, q.source_provenance.line_offset, q.recorded_at]),
        [
          ['score', 'line_too_long', 'data/evidence/2026/06/01/mixed.jsonl', 1, RECORDED_AT],
          ...bad.map((_, n) => ['score', 'schema_violation', 'data/evidence/2026/06/01/only_bad.jsonl', n, RECORDED_AT]),
        ],
      );
      assert.deepEqual(quarantine.slice(1).map((q) => q.source_record), bad.map(([, parsed]) => parsed));
      assert.ok(quarantine.every((q) => q.errors.length > 0));
    } finally {
      await removeDir(root);
    }
  });

  test('a re-run gives the same bytes; the whole tree is rebuilt from the evidence there is now', async () => {
    const root = await evidenceRoot();
    try {
      const scored = path.join(root, 'data/scored-runs');
      await score(root);
      const first = await snapshot(scored);
      await writeFile(path.join(scored, '2026/05/01/stale.jsonl'), 'left over\n');
      await score(root);
      assert.deepEqual(await snapshot(scored), first);
      await rm(path.join(root, 'data/evidence/2026/05/02'), { recursive: true });
      await score(root);
      assert.deepEqual(await listFiles(scored), [...first.keys()].filter((file) => file.startsWith('2026/05/01/')));
      assert.deepEqual(await readdir(path.join(scored, '2026/05')), ['01']);
    } finally {
      await removeDir(root);
    }
  });

  test('a missing evidence tree is an I/O error naming it and leaves the scored tree as it was', async () => {
    const root = await evidenceRoot();
    try {
      await score(root);
      const before = await snapshot(path.join(root, 'data/scored-runs'));
      await rm(path.join(root, 'data/evidence'), { recursive: true });
      await assert.rejects(score(root), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && /data\/evidence/.test(error.message));
      assert.deepEqual(await snapshot(path.join(root, 'data/scored-runs')), before);
      assert.deepEqual((await readdir(path.join(root, 'data'))).sort(), ['_kb', 'scored-runs']);
    } finally {
      await removeDir(root);
    }
  });

  test('deep metadata in evidence: a valid row scores, an invalid one is quarantined', async () => {
    const root = await evidenceRoot();
    try {
      const [valid] = await readJsonl<EvidenceRecord>(path.join(root, 'data/evidence/2026/05/01/scrum_reviews.jsonl'));
      const deep = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const json = JSON.stringify(valid);
      const lines = [
        `${json.slice(0, -1)},"metadata":${deep(100_000)}}`, // metadata is not part of the ScoredRun
        `${JSON.stringify({ ...valid, task_id: '' }).slice(0, -1)},"metadata":${deep(2_000)}}`,
      ];
      await mkdir(path.join(root, 'data/evidence/2026/07/01'), { recursive: true });
      await writeFile(path.join(root, 'data/evidence/2026/07/01/deep.jsonl'), `${lines.join('\n')}\n`);
      await runScore({ root, recordedAt: RECORDED_AT });
      const [run, ...rest] = await readJsonl<ScoredRun>(path.join(root, 'data/scored-runs/2026/07/01/deep.jsonl'));
      assert.deepEqual(rest, []);
      assert.deepEqual([run!.evidence_run_id, run!.category], ['scrum-001', 'accepted']);
      const [q] = await readJsonl<QuarantineRecord>(path.join(root, 'exports/quarantine/score.jsonl'));
      assert.deepEqual([q!.reason, q!.source_provenance.line_offset], ['schema_violation', 1]);
      assert.equal(canonicalHash(q!.source_record), canonicalHash(JSON.parse(lines[1]!)));
    } finally {
      await removeDir(root);
    }
  });
});

describe('scoreRow', () => {
  test('never mutates its input, and keeps the category for the engine to count', async () => {
    const [valid] = await readJsonl<EvidenceRecord>(path.join(FIXTURE_ARCHIVE, 'data/evidence/2026/05/01/scrum_reviews.jsonl'));
    const before = structuredClone(valid!);
    const deepFreeze = (value: unknown): void => {
      if (typeof value === 'object' && value !== null) Object.values(Object.freeze(value)).forEach(deepFreeze);
    };
    deepFreeze(valid);
    const row = scoreRow(RECORDED_AT);
    const location = { source_file: 'x', line_offset: 0 };
    const kept = row(valid, location);
    assert.ok(!(kept instanceof Rejection));
    assert.deepEqual(valid, before);
    const run = JSON.parse(kept.value) as ScoredRun;
    assert.deepEqual([run.category, run.reasons], ['accepted', ['scrum_accepted_on_attempt=1']]);
    assert.equal(kept.category, 'accepted');
    assert.deepEqual(row(valid, location), kept); // deterministic
    const rejected = row({ ...valid, signals: null }, location);
    assert.ok(rejected instanceof Rejection);
    assert.equal(rejected.reason, 'schema_violation');
  });
});

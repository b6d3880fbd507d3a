import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readRunSummary } from '../pipelines/inspect.js';
import { DistillError } from '../src/errors.js';
import { driftReport, findPriorRun, type RunReports } from '../src/report/drift.js';
import { combinedHash, runHash } from '../src/report/hashes.js';
import type { RunSummary, StageReceipt } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';
import type { RunStage } from '../src/receipts.js';

const RUN_STAGES = ['collect', 'score', 'export-rag', 'export-sft', 'export-preference'];
import { removeDir, tempDir } from './helpers.js';

const HASH = (c: string): string => c.repeat(64);
const RECORDED_AT = '2026-05-01T00:00:00.000Z';

const COUNTS: Record<RunStage, StageReceipt['record_counts']> = {
  collect: { in: 100, out: 98, quarantined: 2, by_reason: { schema_violation: 2 }, by_category: {} },
  score: { in: 98, out: 98, quarantined: 0, by_reason: {}, by_category: { accepted: 50, partially_accepted: 20, rejected: 18, needs_human_review: 10 } },
  'export-rag': { in: 98, out: 70, quarantined: 28, by_reason: { category_disallowed: 10, unsafe_rag_category: 18 }, by_category: { accepted: 50, partially_accepted: 20 } },
  'export-sft': { in: 98, out: 50, quarantined: 48, by_reason: { category_disallowed: 20, unsafe_sft_category: 28 }, by_category: { accepted: 50 } },
  'export-preference': { in: 98, out: 10, quarantined: 0, unpaired: 68, by_reason: {}, by_category: {} },
};

const SAMPLES: Partial<Record<RunStage, Record<string, number[]>>> = {
  collect: { evidence_text_length: Array.from({ length: 200 }, (_, i) => 100 + ((i * 37) % 400)) },
  'export-sft': { sft_response_length: Array.from({ length: 50 }, (_, i) => 200 + ((i * 13) % 300)) },
};

function receipt(runId: string, stage: RunStage): StageReceipt {
  const inputs = [{ path: `in/${stage}.jsonl`, bytes: 10, sha256: HASH('1') }];
  const outputs = [{ path: `out/${stage}.jsonl`, bytes: 20, sha256: HASH('2') }];
  const counts = COUNTS[stage];
  return {
    schema_version: 1,
    run_id: runId,
    stage,
    tool_version: '0.1.0',
    git_sha: null,
    recorded_at: RECORDED_AT,
    started_at: '2026-05-01T10:00:00.000Z',
    finished_at: '2026-05-01T10:00:01.000Z',
    duration_ms: 1000,
    inputs,
    outputs,
    input_hash: combinedHash(inputs),
    output_hash: combinedHash(outputs),
    record_counts: structuredClone(counts),
    validation: { passed: true, errors: [], warnings: [] },
    samples: structuredClone(SAMPLES[stage] ?? {}),
  };
}

function summaryOf(runId: string, receipts: StageReceipt[], finishedAt = '2026-05-01T10:00:05.000Z'): RunSummary {
  const out = (stage: RunStage): number => receipts.find((r) => r.stage === stage)!.record_counts.out;
  return {
    schema_version: 1,
    run_id: runId,
    recorded_at: RECORDED_AT,
    started_at: '2026-05-01T10:00:00.000Z',
    finished_at: finishedAt,
    stages: receipts.map((r) => ({ stage: r.stage, passed: r.validation.passed, skipped: false, in: r.record_counts.in, out: r.record_counts.out, quarantined: r.record_counts.quarantined })),
    total_records_in: receipts.reduce((sum, r) => sum + r.record_counts.in, 0),
    total_records_out: receipts.reduce((sum, r) => sum + r.record_counts.out, 0),
    datasets: { sft: out('export-sft'), rag: out('export-rag'), preference: out('export-preference') },
    total_quarantined: receipts.reduce((sum, r) => sum + r.record_counts.quarantined, 0),
    overall_passed: receipts.every((r) => r.validation.passed),
    run_hash: runHash(receipts.map((r) => r.output_hash)),
  };
}

/** A run; `edit` changes its receipts before the summary is derived from them. */
function run(runId: string, edit: (receipts: Map<RunStage, StageReceipt>) => void = () => {}): RunReports {
  const receipts = new Map(RUN_STAGES.map((stage) => [stage, receipt(runId, stage)] as const));
  edit(receipts);
  const list = [...receipts.values()];
  return { summary: summaryOf(runId, list), receipts: list };
}

function assertValidDrift(report: unknown): void {
  const { driftReport: validate } = validators();
  assert.ok(validate(report), JSON.stringify(validate.errors));
}

test('identical runs → ok, no flags, psi 0', () => {
  const report = driftReport(run('run-2'), run('run-1'));
  assertValidDrift(report);
  assert.equal(report.severity, 'ok');
  assert.deepEqual(report.flags, []);
  assert.equal(report.prior_run_id, 'run-1');
  assert.equal(report.deterministic_violation, false);
  assert.ok(report.metrics.every((m) => m.flag === 'ok' && m.pct_change === (m.prior === 0 ? null : 0))); // prior 0: pct null
  assert.deepEqual(
    report.distributions.map((d) => [d.metric, d.psi, d.verdict, d.buckets.length]),
    [['evidence_text_length', 0, 'stable', 10], ['sft_response_length', 0, 'stable', 10]],
  );
});

test('metric names: per stage, category (score), reason (summed over stages), dataset; sorted', () => {
  const report = driftReport(run('run-2'), run('run-1'));
  const names = report.metrics.map((m) => m.metric);
  assert.deepEqual(names, [...names].sort());
  for (const name of ['collect.in', 'export-preference.quarantined', 'category.needs_human_review', 'reason.category_disallowed', 'dataset.sft']) assert.ok(names.includes(name), name);
  assert.equal(report.metrics.find((m) => m.metric === 'reason.category_disallowed')!.current, 30);
  assert.equal(report.metrics.find((m) => m.metric === 'category.accepted')!.current, 50); // score's, not the exports'
  assert.equal(names.length, 5 * 3 + 4 + 4 + 3);
});

test('a 30% change in one metric → warn naming it; 20% exactly stays ok', () => {
  const report = driftReport(
    run('run-2', (r) => {
      r.get('export-sft')!.record_counts.out = 65; // 50 → 65: +30%
      r.get('export-rag')!.record_counts.out = 84; // 70 → 84: +20%, not past the threshold
    }),
    run('run-1'),
  );
  assertValidDrift(report);
  assert.equal(report.severity, 'warn');
  assert.deepEqual(report.flags, ['count:dataset.sft', 'count:export-sft.out']);
  assert.deepEqual(report.metrics.find((m) => m.metric === 'export-sft.out'), { metric: 'export-sft.out', prior: 50, current: 65, pct_change: 0.3, flag: 'warn' });
  assert.equal(report.metrics.find((m) => m.metric === 'export-rag.out')!.flag, 'ok');
  // A custom threshold moves the line.
  assert.equal(driftReport(run('b', (r) => void (r.get('export-sft')!.record_counts.out = 65)), run('a'), 0.5).severity, 'ok');
});

test('a quarantine reason absent from the prior → warn new_reason, pct null; a vanished one is a -100% change', () => {
  const report = driftReport(
    run('run-2', (r) => {
      r.get('collect')!.record_counts.by_reason = { line_too_long: 2 };
    }),
    run('run-1'),
  );
  assertValidDrift(report);
  assert.equal(report.severity, 'warn');
  assert.deepEqual(report.flags, ['new_reason:line_too_long', 'count:reason.schema_violation']);
  assert.deepEqual(report.metrics.find((m) => m.metric === 'reason.line_too_long'), { metric: 'reason.line_too_long', prior: 0, current: 2, pct_change: null, flag: 'warn' });
  assert.deepEqual(report.metrics.find((m) => m.metric === 'reason.schema_violation'), { metric: 'reason.schema_violation', prior: 2, current: 0, pct_change: -1, flag: 'warn' });
});

test('prior 0 and current 0 is ok; a new validation error warns', () => {
  const zero = (r: Map<RunStage, StageReceipt>): void => {
    r.get('export-preference')!.record_counts.out = 0;
  };
  assert.equal(driftReport(run('b', zero), run('a', zero)).metrics.find((m) => m.metric === 'dataset.preference')!.flag, 'ok');
  const report = driftReport(
    run('b', (r) => {
      r.get('export-sft')!.validation = { passed: false, errors: ['SFT output holds quality_score rejected'], warnings: [] };
    }),
    run('a'),
  );
  assert.deepEqual(report.flags, ['run_failed', 'new_validation_error:export-sft']);
});

test('same input_hash, recorded_at and tool_version with another output_hash → deterministic_violation alert', () => {
  const report = driftReport(
    run('run-2', (r) => {
      r.get('score')!.output_hash = HASH('f');
    }),
    run('run-1'),
  );
  assertValidDrift(report);
  assert.equal(report.deterministic_violation, true);
  assert.equal(report.severity, 'alert');
  assert.deepEqual(report.flags, ['deterministic_violation:score']);
  // Another recorded_at (or tool_version, or input) explains a different output.
  for (const edit of [(s: StageReceipt) => void (s.recorded_at = '2026-05-02T00:00:00Z'), (s: StageReceipt) => void (s.tool_version = '0.2.0'), (s: StageReceipt) => void (s.input_hash = HASH('e'))]) {
    const explained = driftReport(
      run('run-2', (r) => {
        const score = r.get('score')!;
        score.output_hash = HASH('f');
        edit(score);
      }),
      run('run-1'),
    );
    assert.equal(explained.deterministic_violation, false);
    assert.equal(explained.severity, 'ok');
  }
});

test('a failed run → alert', () => {
  const current = run('run-2');
  current.summary.overall_passed = false;
  const report = driftReport(current, run('run-1'));
  assert.equal(report.severity, 'alert');
  assert.deepEqual(report.flags, ['run_failed']);
  assert.equal(driftReport(current, undefined).severity, 'alert');
});

test('a shifted distribution (psi major) → warn psi:<metric>', () => {
  const report = driftReport(
    run('run-2', (r) => {
      r.get('export-sft')!.samples = { sft_response_length: Array.from({ length: 50 }, (_, i) => 600 + i) };
    }),
    run('run-1'),
  );
  assertValidDrift(report);
  assert.equal(report.severity, 'warn');
  assert.deepEqual(report.flags, ['psi:sft_response_length']);
  const sft = report.distributions.find((d) => d.metric === 'sft_response_length')!;
  assert.equal(sft.verdict, 'major');
});

test('no prior run: prior_run_id null, every metric first_run, nothing warns', () => {
  const report = driftReport(run('run-1'), undefined);
  assertValidDrift(report);
  assert.equal(report.prior_run_id, null);
  assert.equal(report.severity, 'ok');
  assert.deepEqual(report.flags, []);
  assert.ok(report.metrics.length > 0);
  assert.ok(report.metrics.every((m) => m.flag === 'first_run' && m.prior === null && m.pct_change === null));
  assert.deepEqual(report.distributions, [
    { metric: 'evidence_text_length', psi: 0, verdict: 'stable', buckets: [] },
    { metric: 'sft_response_length', psi: 0, verdict: 'stable', buckets: [] },
  ]);
});

test('field order of the report is the documented order', () => {
  const report = driftReport(run('run-2'), run('run-1'));
  assert.deepEqual(Object.keys(report), ['schema_version', 'run_id', 'prior_run_id', 'severity', 'flags', 'metrics', 'distributions', 'deterministic_violation']);
  assert.deepEqual(Object.keys(report.metrics[0]!), ['metric', 'prior', 'current', 'pct_change', 'flag']);
  assert.deepEqual(Object.keys(report.distributions[0]!), ['metric', 'psi', 'verdict', 'buckets']);
  assert.deepEqual(Object.keys(report.distributions[0]!.buckets[0]!), ['lower', 'upper', 'prior', 'current']);
});

async function writeRun(reports: string, reportsOf: RunReports, skip: RunStage[] = []): Promise<void> {
  const dir = path.join(reports, reportsOf.summary.run_id);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'summary.json'), `${JSON.stringify(reportsOf.summary, null, 2)}\n`);
  for (const r of reportsOf.receipts) if (!skip.includes(r.stage)) await writeFile(path.join(dir, `${r.stage}.json`), `${JSON.stringify(r, null, 2)}\n`);
}

const finishedAt = (reports: RunReports, at: string): RunReports => ({ ...reports, summary: { ...reports.summary, finished_at: at } });

test('findPriorRun: the latest finished_at before the current run started, with its receipts', async () => {
  const root = await tempDir();
  try {
    const reports = path.join(root, 'reports', 'distillation');
    assert.equal(await findPriorRun(reports, '2026-05-03T00:00:00.000Z'), undefined); // no folder yet
    await writeRun(reports, finishedAt(run('zz-old'), '2026-05-01T00:00:00.000Z'));
    await writeRun(reports, finishedAt(run('aa-prior'), '2026-05-02T00:00:00.000Z'), ['export-preference']);
    await writeRun(reports, finishedAt(run('mm-later'), '2026-05-03T12:00:00.000Z')); // finished after the current start
    await mkdir(path.join(reports, 'running')); // no summary yet: passed over
    await writeFile(path.join(reports, 'stray.txt'), 'not a run');
    const prior = await findPriorRun(reports, '2026-05-03T00:00:00.000Z');
    assert.equal(prior?.summary.run_id, 'aa-prior');
    assert.deepEqual(
      prior.receipts.map((r) => r.stage),
      ['collect', 'score', 'export-rag', 'export-sft'],
    );
    assert.equal((await findPriorRun(reports, '2026-05-01T00:00:00.000Z')), undefined); // strictly before
    await writeFile(path.join(reports, 'zz-old', 'summary.json'), '{"schema_version": 1');
    await assert.rejects(findPriorRun(reports, '2026-05-03T00:00:00.000Z'), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && error.path!.endsWith(path.join('zz-old', 'summary.json')));
    // A FIFO in a report's place is refused, never blocked on.
    const summary = path.join(reports, 'zz-old', 'summary.json');
    await rm(summary);
    execFileSync('mkfifo', [summary]);
    await assert.rejects(findPriorRun(reports, '2026-05-03T00:00:00.000Z'), { code: 'DS_IO', message: `${summary}: not a valid report: not a regular file` });
  } finally {
    await removeDir(root);
  }
});

test('inspect prints a run\'s summary.md: none there prints nothing; a FIFO in its place is refused, never blocked on', async () => {
  const root = await tempDir();
  try {
    const reports = path.join(root, 'reports', 'distillation');
    await writeRun(reports, finishedAt(run('run-1'), '2026-05-01T00:00:00.000Z'));
    const markdown = path.join(reports, 'run-1', 'summary.md');
    assert.equal((await readRunSummary(root, 'run-1')).markdown, '');
    await writeFile(markdown, '# run-1\n');
    assert.equal((await readRunSummary(root, 'latest')).markdown, '# run-1\n');
    await rm(markdown);
    execFileSync('mkfifo', [markdown]);
    await assert.rejects(readRunSummary(root, 'run-1'), { code: 'DS_IO', message: `${markdown}: not a valid report: not a regular file` });
  } finally {
    await removeDir(root);
  }
});

test('schemas: a receipt, a summary and a drift report validate; a missing or extra field is rejected', () => {
  const { stageReceipt, runSummary, driftReport: driftSchema } = validators();
  const reports = run('run-1');
  for (const r of reports.receipts) assert.ok(stageReceipt(r), JSON.stringify(stageReceipt.errors));
  assert.ok(runSummary(reports.summary), JSON.stringify(runSummary.errors));
  const drift = driftReport(reports, run('run-0'));
  assert.ok(driftSchema(drift));

  const withGit = { ...reports.receipts[0]!, git_sha: 'a'.repeat(40) };
  assert.ok(stageReceipt(withGit));
  const cases: Array<[string, (value: unknown) => boolean, unknown]> = [
    ['receipt without output_hash', stageReceipt, (({ output_hash: _, ...rest }) => rest)(reports.receipts[0]!)],
    ['receipt with an extra field', stageReceipt, { ...reports.receipts[0]!, extra: 1 }],
    ['receipt with an unknown reason', stageReceipt, { ...reports.receipts[0]!, record_counts: { ...reports.receipts[0]!.record_counts, by_reason: { made_up: 1 } } }],
    ['receipt with an extra count', stageReceipt, { ...reports.receipts[0]!, record_counts: { ...reports.receipts[0]!.record_counts, paired: 1 } }],
    ['receipt with a bad git_sha', stageReceipt, { ...reports.receipts[0]!, git_sha: 'HEAD' }],
    ['receipt with a bad recorded_at', stageReceipt, { ...reports.receipts[0]!, recorded_at: '2026-05-01' }],
    ['receipt with an oversized sample', stageReceipt, { ...reports.receipts[0]!, samples: { x: new Array<number>(10_001).fill(1) } }],
    ['summary without run_hash', runSummary, (({ run_hash: _, ...rest }) => rest)(reports.summary)],
    ['summary with an extra dataset', runSummary, { ...reports.summary, datasets: { ...reports.summary.datasets, dpo: 1 } }],
    ['summary stage with an extra field', runSummary, { ...reports.summary, stages: [{ ...reports.summary.stages[0]!, extra: true }] }],
    ['drift without deterministic_violation', driftSchema, (({ deterministic_violation: _, ...rest }) => rest)(drift)],
    ['drift with an extra field', driftSchema, { ...drift, extra: [] }],
    ['drift with an unknown severity', driftSchema, { ...drift, severity: 'fine' }],
    ['drift metric with an unknown flag', driftSchema, { ...drift, metrics: [{ ...drift.metrics[0]!, flag: 'bad' }] }],
  ];
  for (const [name, validate, value] of cases) assert.equal(validate(value), false, name);
});

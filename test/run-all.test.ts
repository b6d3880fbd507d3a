import assert from 'node:assert/strict';
import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { DriftReport, RunSummary, StageReceipt } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';
import { fixtureCopy, removeDir, runCli, type CliResult } from './helpers.js';

const PINNED = ['--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536'];
const STAGES = ['collect', 'score', 'export-rag', 'export-sft', 'export-preference'];

const runAll = (root: string, runId: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> =>
  runCli(['run-all', '--root', root, '--run-id', runId, ...PINNED, ...extra], { env });

const report = async <T>(root: string, runId: string, name: string): Promise<T> =>
  JSON.parse(await readFile(path.join(root, 'reports/distillation', runId, name), 'utf8')) as T;

/** A receipt or summary without the fields allowed to differ between identical runs. */
const withoutTimings = (text: string): string => text.replace(/"(started_at|finished_at|duration_ms)": [^,\n]+/g, '"$1": "-"');

async function withFixture(body: (root: string) => Promise<void>): Promise<void> {
  const root = await fixtureCopy();
  try {
    await body(root);
  } finally {
    await removeDir(root);
  }
}

describe('run-all', () => {
  test('writes five schema-valid receipts, a summary, summary.md and drift.json; counts add up', async () => {
    await withFixture(async (root) => {
      const result = await runAll(root, 'run-a');
      assert.equal(result.code, 0, result.stderr);
      const names = (await readdir(path.join(root, 'reports/distillation/run-a'))).sort();
      assert.deepEqual(names, [...STAGES.map((s) => `${s}.json`), 'drift.json', 'report.html', 'summary.json', 'summary.md'].sort());
      const { stageReceipt, runSummary, driftReport } = validators();
      for (const stage of STAGES) {
        const receipt = await report<StageReceipt>(root, 'run-a', `${stage}.json`);
        assert.ok(stageReceipt(receipt), JSON.stringify(stageReceipt.errors));
        assert.equal(receipt.stage, stage);
        assert.ok(receipt.validation.passed);
        const counts = receipt.record_counts;
        if (stage === 'export-preference') assert.ok(counts.unpaired !== undefined && counts.unpaired > 0);
        else assert.equal(counts.in, counts.out + counts.quarantined);
        assert.match(receipt.input_hash, /^[0-9a-f]{64}$/);
        assert.ok(receipt.outputs.every((o) => /^[0-9a-f]{64}$/.test(o.sha256)));
      }
      const collect = await report<StageReceipt>(root, 'run-a', 'collect.json');
      assert.equal(collect.samples['evidence_text_length']?.length, 40);
      assert.ok((await report<StageReceipt>(root, 'run-a', 'export-sft.json')).samples['sft_response_length']!.length > 0);
      assert.deepEqual(collect.validation.warnings, ['quarantined 1 row: duplicate_id', 'quarantined 3 rows: schema_violation']);
      const summary = await report<RunSummary>(root, 'run-a', 'summary.json');
      assert.ok(runSummary(summary));
      assert.equal(summary.overall_passed, true);
      assert.deepEqual(summary.datasets, { sft: 11, rag: 19, preference: 12 });
      const drift = await report<DriftReport>(root, 'run-a', 'drift.json');
      assert.ok(driftReport(drift));
      assert.equal(drift.prior_run_id, null);
      const baselines = (await readFile(path.join(root, 'data/_kb/audit_baselines.jsonl'), 'utf8')).trim().split('\n');
      assert.equal(baselines.length, 1);
      assert.match(result.stderr, /metric +prior +current +pct_change +flag/);
    });
  });

  test('identical runs: the same hashes, drift ok, receipts byte-identical but for timings', async () => {
    const receiptsOf = async (root: string): Promise<string[]> =>
      Promise.all([...STAGES.map((s) => `${s}.json`), 'summary.json'].map(async (name) => withoutTimings(await readFile(path.join(root, 'reports/distillation/run-x', name), 'utf8'))));
    let first: string[] = [];
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'run-x')).code, 0);
      first = await receiptsOf(root);
      assert.equal((await runAll(root, 'run-y')).code, 0);
      const drift = await report<DriftReport>(root, 'run-y', 'drift.json');
      assert.equal(drift.prior_run_id, 'run-x');
      assert.equal(drift.severity, 'ok');
      assert.deepEqual(drift.flags, []);
      assert.equal(drift.deterministic_violation, false);
      assert.ok(drift.distributions.every((d) => d.psi === 0));
      const [x, y] = [await report<RunSummary>(root, 'run-x', 'summary.json'), await report<RunSummary>(root, 'run-y', 'summary.json')];
      assert.equal(x.run_hash, y.run_hash);
    });
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'run-x')).code, 0);
      assert.deepEqual(await receiptsOf(root), first);
    });
  });

  test('a change past the threshold in one source warns, naming the metrics', async () => {
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'before')).code, 0);
      const modes = path.join(root, 'data/_kb/mode_experiments.jsonl');
      const lines = (await readFile(modes, 'utf8')).trim().split('\n');
      await writeFile(modes, `${lines[0]}\n`); // one source shrinks: its 5 pairs of 12 go
      const result = await runAll(root, 'after');
      assert.equal(result.code, 0, result.stderr);
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.severity, 'warn');
      assert.ok(drift.flags.some((flag) => flag.includes('export-preference.out')), drift.flags.join(','));
      assert.match(result.stderr, /export-preference\.out +12 +\d+ +-\d+\.\d% +warn/);
    });
  });

  test('a quarantine reason the prior run did not have warns', async () => {
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'before')).code, 0);
      await appendFile(path.join(root, 'data/_kb/outcomes.jsonl'), `{"run_id":"too-long","text":"${'x'.repeat(70_000)}"}\n`);
      assert.equal((await runAll(root, 'after')).code, 0);
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.severity, 'warn');
      assert.ok(drift.flags.includes('new_reason:line_too_long'), drift.flags.join(','));
    });
  });

  test('a stage whose output changed for the same inputs, recorded_at and tool version is a deterministic_violation alert', async () => {
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'before')).code, 0);
      const scorePath = path.join(root, 'reports/distillation/before/score.json');
      const tampered = JSON.parse(await readFile(scorePath, 'utf8')) as StageReceipt;
      tampered.output_hash = '0'.repeat(64);
      await writeFile(scorePath, JSON.stringify(tampered, null, 2));
      assert.equal((await runAll(root, 'after')).code, 0);
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.deterministic_violation, true);
      assert.equal(drift.severity, 'alert');
      assert.ok(drift.flags.includes('deterministic_violation:score'), drift.flags.join(','));
    });
  });

  test('a stage that fails validation fails the run and skips later stages; --continue-on-failure runs them', async () => {
    await withFixture(async (root) => {
      const env = { ...process.env, DISTILL_STREAM_FAIL_VALIDATION: 'score' };
      const failed = await runAll(root, 'failed', [], env);
      assert.equal(failed.code, 1);
      const summary = await report<RunSummary>(root, 'failed', 'summary.json');
      assert.equal(summary.overall_passed, false);
      assert.deepEqual(summary.stages.map((s) => [s.stage, s.passed, s.skipped]), [
        ['collect', true, false],
        ['score', false, false],
        ['export-rag', false, true],
        ['export-sft', false, true],
        ['export-preference', false, true],
      ]);
      assert.equal((await report<DriftReport>(root, 'failed', 'drift.json')).severity, 'alert');
      const health = await runCli(['health', '--root', root]);
      assert.equal(health.code, 1);
      assert.match(health.stdout, /fail +last run: failed FAILED/);

      const continued = await runAll(root, 'continued', ['--continue-on-failure'], env);
      assert.equal(continued.code, 1);
      const stages = (await report<RunSummary>(root, 'continued', 'summary.json')).stages;
      assert.ok(stages.every((s) => !s.skipped));
      assert.deepEqual(stages.map((s) => s.passed), [true, false, true, true, true]);
    });
  });

  test('a truncated last line in audit_baselines.jsonl is an error, not silence', async () => {
    await withFixture(async (root) => {
      await writeFile(path.join(root, 'data/_kb/audit_baselines.jsonl'), '{"run_id":"old","recorded_at":"2026-05-01T00:00:00Z","metrics":{');
      const result = await runAll(root, 'run');
      assert.equal(result.code, 3);
      assert.match(result.stderr, /audit_baselines\.jsonl/);
    });
  });

  test('read prints a run summary by id or the latest; health is clean after a good run', async () => {
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'only')).code, 0);
      const byId = await runCli(['read', '--root', root, '--run-id', 'only']);
      assert.equal(byId.code, 0);
      assert.match(byId.stdout, /^# distill-stream run only/);
      const latest = await runCli(['read', '--root', root, '--latest', '--json']);
      assert.equal((JSON.parse(latest.stdout) as RunSummary).run_id, 'only');
      assert.equal((await runCli(['read', '--root', root])).code, 2);
      assert.equal((await runCli(['read', '--root', root, '--run-id', 'nope'])).code, 3);
      const health = await runCli(['health', '--root', root]);
      assert.equal(health.code, 0, health.stdout);
      assert.match(health.stdout, /ok +evidence index: fresh/);
    });
  });

  test('health fails, naming the file, on a damaged summary or drift report instead of crashing', async () => {
    await withFixture(async (root) => {
      assert.equal((await runAll(root, 'only')).code, 0);
      const runDir = path.join(root, 'reports/distillation/only');
      await writeFile(path.join(runDir, 'drift.json'), '{"severity":');
      const damagedDrift = await runCli(['health', '--root', root]);
      assert.equal(damagedDrift.code, 1, damagedDrift.stderr);
      assert.match(damagedDrift.stdout, /fail +drift: .*drift\.json/);
      await writeFile(path.join(runDir, 'summary.json'), '{}');
      const damagedSummary = await runCli(['health', '--root', root]);
      assert.equal(damagedSummary.code, 1, damagedSummary.stderr);
      assert.match(damagedSummary.stdout, /fail +last run: .*summary\.json/);
    });
  });
});

/**
 * run-all through the library in-process: receipts, summary, drift against the prior run, failed
 * validation and skipping, the audit-baseline lineage, and health on what it wrote. One run of the
 * fixture archive ("first") is made once and only read; a test that changes inputs or reports works
 * on a copy of it, so the prior run is there without running it again. Exit codes, stderr and the
 * read and health commands are the CLI's, in cli-contract.test.ts and cli-commands.test.ts.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkHealth } from '../pipelines/inspect.js';
import type { RunAllResult } from '../pipelines/run-all.js';
import { DistillError } from '../src/errors.js';
import type { DriftReport, RunSummary, StageReceipt } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';
import { copyOf, fixtureCopy, inFolder, listFiles, removeDir, withoutTimings } from './helpers.js';
import { runAllOn } from './library.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const STAGES = ['collect', 'score', 'export-rag', 'export-sft', 'export-preference'];

const runAll = (root: string, runId: string, options: Parameters<typeof runAllOn>[3] = {}): Promise<RunAllResult> => runAllOn(root, runId, RECORDED_AT, options);

const report = async <T>(root: string, runId: string, name: string): Promise<T> =>
  JSON.parse(await readFile(path.join(root, 'reports/distillation', runId, name), 'utf8')) as T;

const receiptsOf = async (root: string, runId: string): Promise<string[]> =>
  Promise.all([...STAGES.map((s) => `${s}.json`), 'summary.json'].map(async (name) => withoutTimings(await readFile(path.join(root, 'reports/distillation', runId, name), 'utf8'))));

// Every test works on its own copy (or only reads "first"): they run concurrently, and one's fsyncs overlap another's work.
describe('run-all', { concurrency: true }, () => {
  /** The fixture archive after one passing run-all, "first". Only read. */
  let first = '';
  let firstRun: RunAllResult;
  before(async () => {
    first = await fixtureCopy();
    firstRun = await runAll(first, 'first');
  });
  after(() => removeDir(first));

  /** A private copy of `first`: its inputs, its reports and its baseline lineage. */
  const copyOfFirst = (): Promise<string> => copyOf(first);

  test('writes five schema-valid receipts, a summary, summary.md and drift.json; counts add up', async () => {
    const names = (await readdir(path.join(first, 'reports/distillation/first'))).sort();
    assert.deepEqual(names, [...STAGES.map((s) => `${s}.json`), 'drift.json', 'report.html', 'summary.json', 'summary.md'].sort());
    const { stageReceipt, runSummary, driftReport } = validators();
    for (const stage of STAGES) {
      const receipt = await report<StageReceipt>(first, 'first', `${stage}.json`);
      assert.ok(stageReceipt(receipt), JSON.stringify(stageReceipt.errors));
      assert.equal(receipt.stage, stage);
      assert.ok(receipt.validation.passed);
      const counts = receipt.record_counts;
      if (stage === 'export-preference') assert.ok(counts.unpaired !== undefined && counts.unpaired > 0);
      else assert.equal(counts.in, counts.out + counts.quarantined);
      assert.match(receipt.input_hash, /^[0-9a-f]{64}$/);
      assert.ok(receipt.outputs.every((o) => /^[0-9a-f]{64}$/.test(o.sha256)));
    }
    const collect = await report<StageReceipt>(first, 'first', 'collect.json');
    assert.equal(collect.samples['evidence_text_length']?.length, 40);
    assert.ok((await report<StageReceipt>(first, 'first', 'export-sft.json')).samples['sft_response_length']!.length > 0);
    assert.deepEqual(collect.validation.warnings, ['quarantined 1 row: duplicate_id', 'quarantined 3 rows: schema_violation']);
    const summary = await report<RunSummary>(first, 'first', 'summary.json');
    assert.ok(runSummary(summary));
    assert.equal(summary.overall_passed, true);
    assert.deepEqual(summary.datasets, { sft: 11, rag: 19, preference: 12 });
    assert.deepEqual(firstRun.summary, summary);
    const drift = await report<DriftReport>(first, 'first', 'drift.json');
    assert.ok(driftReport(drift));
    assert.equal(drift.prior_run_id, null);
    const baselines = (await readFile(path.join(first, 'data/_kb/audit_baselines.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(baselines.length, 1);
    assert.match(firstRun.baselineTable, /metric +prior +current +pct_change +flag/);
  });

  test('identical runs: the same hashes, drift ok, receipts byte-identical but for timings', async () => {
    await inFolder(copyOfFirst, async (root) => {
      await runAll(root, 'second');
      const drift = await report<DriftReport>(root, 'second', 'drift.json');
      assert.equal(drift.prior_run_id, 'first');
      assert.equal(drift.severity, 'ok');
      assert.deepEqual(drift.flags, []);
      assert.equal(drift.deterministic_violation, false);
      assert.ok(drift.distributions.every((d) => d.psi === 0));
      const [x, y] = [await report<RunSummary>(root, 'first', 'summary.json'), await report<RunSummary>(root, 'second', 'summary.json')];
      assert.equal(x.run_hash, y.run_hash);
    });
    // The same run id on another copy of the archive: the same receipts.
    await inFolder(fixtureCopy, async (root) => {
      await runAll(root, 'first');
      assert.deepEqual(await receiptsOf(root, 'first'), await receiptsOf(first, 'first'));
    });
  });

  test('a change past the threshold in one source warns, naming the metrics', async () => {
    await inFolder(copyOfFirst, async (root) => {
      const modes = path.join(root, 'data/_kb/mode_experiments.jsonl');
      const lines = (await readFile(modes, 'utf8')).trim().split('\n');
      await writeFile(modes, `${lines[0]}\n`); // one source shrinks: its 5 pairs of 12 go
      const result = await runAll(root, 'after');
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.severity, 'warn');
      assert.ok(drift.flags.some((flag) => flag.includes('export-preference.out')), drift.flags.join(','));
      assert.match(result.baselineTable, /export-preference\.out +12 +\d+ +-\d+\.\d% +warn/);
    });
  });

  test('a quarantine reason the prior run did not have warns', async () => {
    await inFolder(copyOfFirst, async (root) => {
      await appendFile(path.join(root, 'data/_kb/outcomes.jsonl'), `{"run_id":"too-long","text":"${'x'.repeat(70_000)}"}\n`);
      await runAll(root, 'after');
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.severity, 'warn');
      assert.ok(drift.flags.includes('new_reason:line_too_long'), drift.flags.join(','));
    });
  });

  test('a stage whose output changed for the same inputs, recorded_at and tool version is a deterministic_violation alert', async () => {
    await inFolder(copyOfFirst, async (root) => {
      const scorePath = path.join(root, 'reports/distillation/first/score.json');
      const tampered = JSON.parse(await readFile(scorePath, 'utf8')) as StageReceipt;
      tampered.output_hash = '0'.repeat(64);
      await writeFile(scorePath, JSON.stringify(tampered, null, 2));
      await runAll(root, 'after');
      const drift = await report<DriftReport>(root, 'after', 'drift.json');
      assert.equal(drift.deterministic_violation, true);
      assert.equal(drift.severity, 'alert');
      assert.ok(drift.flags.includes('deterministic_violation:score'), drift.flags.join(','));
    });
  });

  test('a stage that fails validation fails the run and skips later stages; continueOnFailure runs them', async () => {
    await inFolder(fixtureCopy, async (root) => {
      const failed = await runAll(root, 'failed', { failValidation: 'score' });
      assert.equal(failed.summary.overall_passed, false);
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
      const lastRun = (await checkHealth(root)).find((check) => check.check === 'last run');
      assert.equal(lastRun?.status, 'fail');
      assert.match(lastRun!.detail, /^failed FAILED/);

      const continued = await runAll(root, 'continued', { failValidation: 'score', continueOnFailure: true });
      assert.equal(continued.summary.overall_passed, false);
      const stages = (await report<RunSummary>(root, 'continued', 'summary.json')).stages;
      assert.ok(stages.every((s) => !s.skipped));
      assert.deepEqual(stages.map((s) => s.passed), [true, false, true, true, true]);
    });
  });

  test('a --run-id that is not one plain name is a usage error, and nothing is written inside or outside the root', async () => {
    await inFolder(fixtureCopy, async (root) => {
      const around = async (): Promise<string[]> => [...(await readdir(path.dirname(root))).sort(), ...(await listFiles(root))];
      const before = await around();
      for (const runId of ['../..', '..', 'a/b', 'a\\b', '.hidden', '']) {
        await assert.rejects(runAll(root, runId), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE', runId);
      }
      assert.deepEqual(await around(), before);
    });
  });

  test('a truncated last line in audit_baselines.jsonl is an error, not silence', async () => {
    await inFolder(fixtureCopy, async (root) => {
      await writeFile(path.join(root, 'data/_kb/audit_baselines.jsonl'), '{"run_id":"old","recorded_at":"2026-05-01T00:00:00Z","metrics":{');
      await assert.rejects(runAll(root, 'run'), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && /audit_baselines\.jsonl/.test(error.message));
    });
  });

  test('health is clean after a good run, and fails, naming the file, on a damaged summary or drift report instead of crashing', async () => {
    const statusOf = (checks: Awaited<ReturnType<typeof checkHealth>>, name: string) => checks.find((check) => check.check === name);
    const clean = await checkHealth(first);
    assert.ok(clean.every((check) => check.status !== 'fail'), JSON.stringify(clean));
    assert.deepEqual(statusOf(clean, 'evidence index'), { check: 'evidence index', status: 'ok', detail: 'fresh' });
    await inFolder(copyOfFirst, async (root) => {
      const runDir = path.join(root, 'reports/distillation/first');
      await writeFile(path.join(runDir, 'drift.json'), '{"severity":');
      const damagedDrift = statusOf(await checkHealth(root), 'drift');
      assert.equal(damagedDrift?.status, 'fail');
      assert.match(damagedDrift!.detail, /drift\.json/);
      await writeFile(path.join(runDir, 'summary.json'), '{}');
      const damagedSummary = statusOf(await checkHealth(root), 'last run');
      assert.equal(damagedSummary?.status, 'fail');
      assert.match(damagedSummary!.detail, /summary\.json/);
    });
  });
});

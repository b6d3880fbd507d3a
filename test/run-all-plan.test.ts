/**
 * run-all planned phase by phase (`plan -- run-all`, then `shard` and `merge` per phase): byte for
 * byte what one run-all process writes, run as the CLI runs (a process per plan, shard and merge),
 * on the fixture archive and on one with bad raw rows of every kind; the phase contract (which
 * phase a shard runs, missing shards, a finished run, changed inputs) through the library.
 */
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { generateArchive } from '../data-fixtures/generate.js';
import { mergeRunAllPhase, planRunAll, runRunAllShard, type PinnedRunAllOptions, type RunAllMergeOutcome, type RunAllPlan } from '../pipelines/run-all-plan.js';
import { DistillError } from '../src/errors.js';
import type { RunSummary, StageReceipt } from '../src/receipts.js';
import { builtinRulesetText } from '../src/rules/builtin.js';
import { STAGES } from '../src/stages/registry.js';
import { badRowsArchive, fixtureCopy, inFolder, PACKAGE_ROOT, runCli, snapshot, tempDir, unruledArchive, withoutTimings, type CliResult } from './helpers.js';
import { FIXTURE_MAX_LINE_BYTES, runAllOn, runAllOptions } from './library.js';
import { addHostileSource, maskTimings } from './report-runs.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const RUN_ID = 'r1';
const MY_RULES = path.join(PACKAGE_ROOT, 'data-fixtures/rules/my-rules.json');
/** Pieces this small cut the fixture's files inside, so a file's rows span shards in every phase. */
const ENV = { ...process.env, DISTILL_STREAM_MIN_PIECE_BYTES: '64' };
const runArgs = (root: string): string[] => ['--root', root, '--run-id', RUN_ID, '--recorded-at', RECORDED_AT, '--max-line-bytes', String(FIXTURE_MAX_LINE_BYTES)];

const oneProcess = (root: string, extra: string[] = [], env: NodeJS.ProcessEnv = ENV): Promise<CliResult> => runCli(['run-all', ...runArgs(root), '--jobs', '1', ...extra], { env });

/**
 * plan, then phase by phase every shard (a phase's shards at once, each its own process) and the
 * merge, as a scheduler chains them; the merges' results, up to the one that finished the run.
 */
async function staged(root: string, work: string, shards: number, extra: string[] = [], env: NodeJS.ProcessEnv = ENV): Promise<CliResult[]> {
  const planFile = path.join(work, 'plan.json');
  const planned = await runCli(['plan', '--shards', String(shards), '--out', planFile, '--', 'run-all', ...runArgs(root), ...extra], { env });
  assert.equal(planned.code, 0, planned.stderr);
  const merges: CliResult[] = [];
  for (const [phase, stage] of STAGES.entries()) {
    const ran = await Promise.all(Array.from({ length: shards }, (_, n) => runCli(['shard', planFile, '--shard', String(n)], { env })));
    ran.forEach((shard, n) => assert.equal(shard.stderr, `[shard] ${n} of ${shards}: ran (phase ${phase + 1} of ${STAGES.length}, ${stage.name})\n`));
    const merged = await runCli(['merge', planFile], { env });
    merges.push(merged);
    if (!/^\[merge\] next: /m.test(merged.stderr)) break;
    assert.equal(merged.code, 0, merged.stderr);
  }
  return merges;
}

/** The staged run's page has the Shards section one process's has not: the page without it (and its nav entry). */
const withoutShards = (page: string): string => page.replace(/<section id="shards">[\s\S]*?<\/section>/, '').replace('<li><a href="#shards">Shards</a></li>', '');

/** `text` with the root's absolute path blanked: a stage that failed on the layout names it (`--root /tmp/…: data/evidence: …`), and two runs have two roots. */
const rootless = (text: string, root: string): string => text.replaceAll(root, '<root>');

/** The run's reports with what may differ between two runs of the same inputs blanked: the timings, the root, and the page's shards. */
async function reportsOf(root: string): Promise<Map<string, string>> {
  const dir = path.join(root, 'reports/distillation', RUN_ID);
  const reports = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    const text = rootless(await readFile(path.join(dir, name), 'utf8'), root);
    if (name.endsWith('.json')) reports.set(name, withoutTimings(text));
    else if (name.endsWith('.md')) reports.set(name, text.replace(/started \S+, finished \S+\./, 'started -, finished -.'));
    else reports.set(name, withoutShards(maskTimings(text)));
  }
  return reports;
}

const page = (root: string): Promise<string> => readFile(path.join(root, 'reports/distillation', RUN_ID, 'report.html'), 'utf8');
const summaryOf = async (root: string): Promise<RunSummary> => JSON.parse(await readFile(path.join(root, 'reports/distillation', RUN_ID, 'summary.json'), 'utf8')) as RunSummary;

/** Everything the staged run wrote is what one process wrote: datasets, quarantines, trees, the baseline line, the reports. */
async function assertSameRun(many: string, one: string): Promise<void> {
  for (const [what, files] of [['file', snapshot], ['report', reportsOf]] as const) {
    const [got, want] = [await files(many), await files(one)];
    assert.deepEqual([...got.keys()], [...want.keys()], `the same ${what}s`);
    for (const [name, text] of want) {
      const other = got.get(name)!;
      if (other === text) continue;
      let at = 0;
      while (other[at] === text[at]) at++;
      assert.fail(`${what} ${name} differs at ${at}: ${JSON.stringify(other.slice(Math.max(0, at - 80), at + 80))} where one process has ${JSON.stringify(text.slice(Math.max(0, at - 80), at + 80))}`);
    }
  }
}

/**
 * badRowsArchive with raw rows of every kind collect and the exports quarantine: malformed JSON, no
 * created_at, repeated run_ids, wrong types, blank lines, unsafe file paths and repeated texts (the
 * generator's, appended to the fixture's sources), a line past --max-line-bytes, a source named with markup.
 */
async function badRawArchive(): Promise<string> {
  const root = await badRowsArchive();
  const generated = await tempDir('distill-generated-');
  await generateArchive({ out: generated, records: 300, kbOnly: true });
  for (const name of await readdir(path.join(generated, 'data/_kb'))) await appendFile(path.join(root, 'data/_kb', name), await readFile(path.join(generated, 'data/_kb', name)));
  await appendFile(path.join(root, 'data/_kb/outcomes.jsonl'), `{"run_id":"too-long","text":"${'x'.repeat(FIXTURE_MAX_LINE_BYTES + 10)}"}\n`);
  await addHostileSource(root);
  await writeFile(path.join(root, 'rules.json'), builtinRulesetText());
  return root;
}

/** Every case at once, each a few processes at a time. */
async function atOnce<T>(cases: readonly T[], body: (one: T) => Promise<void>): Promise<void> {
  await Promise.all(cases.map(body));
}

/** A root with raw logs and nothing else. */
async function rawOnly(): Promise<string> {
  const root = await fixtureCopy();
  for (const folder of ['data/evidence', 'data/scored-runs']) await rm(path.join(root, folder), { recursive: true });
  return root;
}

/** A root with no raw logs: collect writes an empty tree, and every later stage reads nothing. */
async function emptyArchive(): Promise<string> {
  const root = await tempDir();
  await mkdir(path.join(root, 'data/_kb'), { recursive: true });
  return root;
}

/** Raw logs only, and a file where the quarantine folder goes: collect cannot write, so data/evidence, score's input, is never made. */
async function unwritableQuarantine(): Promise<string> {
  const root = await rawOnly();
  await mkdir(path.join(root, 'exports'));
  await writeFile(path.join(root, 'exports/quarantine'), 'not a folder\n');
  return root;
}

describe('run-all planned phase by phase, run as the CLI runs', () => {
  test('on the fixture archive, at 2 and 3 shards: the datasets, quarantines, trees and reports of one process, every shard on the page', () =>
    inFolder(fixtureCopy, async (one) => {
      // The three runs at once: each staged run has stretches of one process (a merge), so together they keep both cores busy.
      const single = oneProcess(one);
      await Promise.all(
        [2, 3].map((shards) =>
          inFolder(fixtureCopy, (many) =>
            inFolder(tempDir, async (work) => {
              const merges = await staged(many, work, shards);
              assert.equal(merges.length, STAGES.length);
              const last = merges.at(-1)!;
              assert.equal(last.code, 0, last.stderr);
              assert.match(last.stderr, /^\[run-all\] r1 passed; drift ok$/m);
              assert.equal((await single).code, 0);
              await assertSameRun(many, one);
              const sharded = await page(many);
              assert.match(sharded, new RegExp(`${shards * STAGES.length} shard\\(s\\) over ${STAGES.length} stage\\(s\\), all done`));
              assert.equal(sharded.split('<tr class="shard-done">').length - 1, shards * STAGES.length);
              assert.doesNotMatch(await page(one), /id="shards"/);
            }),
          ),
        ),
      );
    }));

  test('on an archive with bad raw rows of every kind and the built-in rules as a rules file, 3 shards: the same as one process', () =>
    inFolder(badRawArchive, (one) =>
      inFolder(badRawArchive, (many) =>
        inFolder(tempDir, async (work) => {
          const rules = (root: string): string[] => ['--rules', path.join(root, 'rules.json')];
          const [single, merges] = await Promise.all([oneProcess(one, rules(one)), staged(many, work, 3, rules(many))]);
          assert.equal(merges.at(-1)!.code, single.code, merges.at(-1)!.stderr);
          const reasons = async (stage: string): Promise<string[]> => Object.keys((JSON.parse(await readFile(path.join(many, 'reports/distillation', RUN_ID, `${stage}.json`), 'utf8')) as StageReceipt).record_counts.by_reason);
          assert.deepEqual(await reasons('collect'), ['duplicate_id', 'line_too_long', 'schema_violation']);
          assert.deepEqual(await reasons('export-sft'), ['category_disallowed', 'empty_content', 'hallucinated_file_path', 'not_instructable', 'unsafe_sft_category']);
          assert.deepEqual(await reasons('export-preference'), ['invalid_preference_pairing']);
          await assertSameRun(many, one);
        }),
      ),
    ));

  test('a stage that fails its validation ends the run, the later stages skipped, as in one process; a shard or merge after that does nothing', () =>
    inFolder(fixtureCopy, (one) =>
      inFolder(fixtureCopy, (many) =>
        inFolder(tempDir, async (work) => {
          const env = { ...ENV, DISTILL_STREAM_FAIL_VALIDATION: 'score' };
          const [single, merges] = await Promise.all([oneProcess(one, [], env), staged(many, work, 2, [], env)]);
          assert.equal(single.code, 1);
          assert.deepEqual(merges.map((merge) => merge.code), [0, 1]);
          assert.match(merges[1]!.stderr, /^\[run-all\] export-rag skipped in=0 out=0 quarantined=0$/m);
          assert.deepEqual((await summaryOf(many)).stages.map((s) => [s.stage, s.passed, s.skipped]), [
            ['collect', true, false],
            ['score', false, false],
            ['export-rag', false, true],
            ['export-sft', false, true],
            ['export-preference', false, true],
          ]);
          await assertSameRun(many, one);
          assert.deepEqual((await readdir(work)).filter((name) => name.startsWith('plan.json.shards')), ['plan.json.shards']);
          assert.deepEqual((await readdir(path.join(work, 'plan.json.shards'))).sort(), ['phase-1-collect', 'phase-2-score', 'run-all.json'], 'no phase is planned for a skipped stage');
          const planFile = path.join(work, 'plan.json');
          const shard = await runCli(['shard', planFile, '--shard', '1'], { env });
          assert.deepEqual([shard.code, shard.stderr], [0, '[shard] 1 of 2: nothing to run, run-all r1 has finished (FAILED)\n']);
          const merge = await runCli(['merge', planFile], { env });
          assert.deepEqual([merge.code, merge.stderr], [0, '[merge] nothing to merge: run-all r1 has finished (FAILED)\n']);
          await assertSameRun(many, one);
        }),
      ),
    ));

  test('--fail-if-empty where a stage writes nothing (no raw logs; no rule for the only source, with and without the review rows): the exit code, stderr, receipts and summary of one process', () =>
    atOnce(
      [
        { make: emptyArchive, flags: [], failed: 'export-rag' },
        { make: unruledArchive, flags: [], failed: 'export-rag' },
        { make: unruledArchive, flags: ['--include-review'], failed: 'export-sft' },
      ],
      ({ make, flags, failed }) =>
        inFolder(make, (one) =>
          inFolder(make, (many) =>
            inFolder(tempDir, async (work) => {
              const extra = ['--fail-if-empty', ...flags];
              const [single, merges] = await Promise.all([oneProcess(one, extra), staged(many, work, 2, extra)]);
              const last = merges.at(-1)!;
              assert.deepEqual([last.code, rootless(last.stderr, many)], [single.code, rootless(single.stderr, one)]);
              assert.equal(single.code, 1);
              const stages = (await summaryOf(many)).stages;
              assert.deepEqual(stages.filter((s) => !s.passed && !s.skipped).map((s) => s.stage), [failed]);
              assert.ok(stages.slice(stages.findIndex((s) => s.stage === failed) + 1).every((s) => s.skipped), 'the stages after it skipped');
              await assertSameRun(many, one);
            }),
          ),
        ),
    ));

  test('a stage that cannot write its outputs fails in its receipt, and the next phase\'s input folder is missing (with --continue-on-failure, every stage fails so): as in one process', () =>
    atOnce(
      [[], ['--continue-on-failure']],
      (extra) =>
        inFolder(unwritableQuarantine, (one) =>
          inFolder(unwritableQuarantine, (many) =>
            inFolder(tempDir, async (work) => {
              const [single, merges] = await Promise.all([oneProcess(one, extra), staged(many, work, 2, extra)]);
              const last = merges.at(-1)!;
              assert.deepEqual([last.code, rootless(last.stderr, many)], [single.code, rootless(single.stderr, one)]);
              assert.equal(single.code, 1);
              assert.match(single.stderr, /^\[run-all\] {3}collect: --quarantine \(default\) exports\/quarantine\/collect\.jsonl: a part of the path is not a folder$/m);
              const stages = (await summaryOf(many)).stages.map((s) => [s.stage, s.passed, s.skipped]);
              if (extra.length === 0) assert.deepEqual(stages.slice(1), STAGES.slice(1).map((stage) => [stage.receipt, false, true]));
              else {
                assert.deepEqual(stages, STAGES.map((stage) => [stage.receipt, false, false]));
                assert.match(single.stderr, /^\[run-all\] {3}score: --root \S+: data\/evidence: no such file or folder$/m);
              }
              await assertSameRun(many, one);
            }),
          ),
        ),
    ));

  test('the merge refuses while a phase\'s shards are missing, naming them and the --array= that resubmits them; nothing is written', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        const planFile = path.join(work, 'plan.json');
        assert.equal((await runCli(['plan', '--shards', '3', '--out', planFile, '--', 'run-all', ...runArgs(root)], { env: ENV })).code, 0);
        assert.equal((await runCli(['shard', planFile], { env: { ...ENV, SLURM_ARRAY_TASK_ID: '1' } })).code, 0);
        const before = await snapshot(root);
        const merge = await runCli(['merge', planFile], { env: ENV });
        assert.equal(merge.code, 3);
        assert.equal(merge.stderr, 'distill-stream: run-all phase 1 of 5 (collect): shards 0, 2 of 3 are not done; nothing was written\nresubmit them: sbatch --array=0,2 …\n');
        assert.deepEqual(await snapshot(root), before);
        assert.deepEqual(await readdir(root).then((names) => names.includes('reports')), false);
      }),
    ));

  test('a plan --out where no folder can be made is refused, named as typed, before any work', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        await writeFile(path.join(work, 'taken'), '');
        const planned = await runCli(['plan', '--shards', '2', '--out', 'taken/plan.json', '--work', 'shards', '--', 'run-all', ...runArgs(root)], { cwd: work, env: ENV });
        assert.deepEqual([planned.code, planned.stderr], [3, 'distill-stream: --out taken/plan.json: a part of the path is not a folder\n']);
        // Refused before any phase was planned: no work folder, so the same --work takes the next plan.
        assert.deepEqual(await readdir(work), ['taken']);
        const again = await runCli(['plan', '--shards', '2', '--out', 'plans/plan.json', '--work', 'shards', '--', 'run-all', ...runArgs(root)], { cwd: work, env: ENV });
        assert.equal(again.code, 0, again.stderr);
      }),
    ));
});

const planIn = async (root: string, work: string, shards: number, options: Partial<PinnedRunAllOptions> = {}): Promise<RunAllPlan> =>
  (await planRunAll(runAllOptions(root, RUN_ID, RECORDED_AT, options), shards, path.join(work, 'plan.json'), path.join(work, 'shards'))).plan;

/** Every shard of the current phase, in this process, then its merge. */
async function phase(plan: RunAllPlan): Promise<RunAllMergeOutcome> {
  for (let n = 0; n < plan.shardCount; n++) assert.equal((await runRunAllShard(plan, n)).kind, 'ran');
  return mergeRunAllPhase(plan);
}

/** Phase after phase until the run has finished; each merge's outcome. */
async function allPhases(plan: RunAllPlan): Promise<RunAllMergeOutcome[]> {
  const outcomes = [await phase(plan)];
  while (outcomes.at(-1)!.kind === 'next') outcomes.push(await phase(plan));
  return outcomes;
}

/** A file of the fixture's evidence, score's input once collect has merged. */
const EVIDENCE = 'data/evidence/2026/05/01/scrum_reviews.jsonl';

const refused = (pattern: RegExp) => (error: unknown): boolean => error instanceof DistillError && error.code === 'DS_IO' && pattern.test(error.message);

describe('the phases of a run-all plan', () => {
  test('more shards than the input has places to cut: every index of every phase is valid, the empty ones do nothing, and the run is one process\'s', () =>
    inFolder(fixtureCopy, (one) =>
      inFolder(fixtureCopy, (many) =>
        inFolder(tempDir, async (work) => {
          await runAllOn(one, RUN_ID, RECORDED_AT);
          const plan = await planIn(many, work, 12);
          const outcomes = await allPhases(plan);
          assert.deepEqual(outcomes.map((o) => o.kind), ['next', 'next', 'next', 'next', 'finished']);
          const phases = outcomes.flatMap((o) => (o.kind === 'next' ? [o.next.plan] : []));
          assert.ok(phases.every((p) => p.shards.length === 12));
          assert.ok(phases.every((p) => p.shards.some((pieces) => pieces.length === 0)), 'every phase has an empty shard');
          await assertSameRun(many, one);
          assert.match(await page(many), /60 shard\(s\) over 5 stage\(s\), all done/);
        }),
      ),
    ));

  test('--continue-on-failure: a failed stage\'s merge plans the next phase, and every stage runs, as in one process', () =>
    inFolder(fixtureCopy, (one) =>
      inFolder(fixtureCopy, (many) =>
        inFolder(tempDir, async (work) => {
          const options = { failValidation: 'collect', continueOnFailure: true };
          await runAllOn(one, RUN_ID, RECORDED_AT, options);
          const outcomes = await allPhases(await planIn(many, work, 2, options));
          assert.equal(outcomes.length, STAGES.length);
          const summary = await summaryOf(many);
          assert.deepEqual(summary.stages.map((s) => [s.passed, s.skipped]), [[false, false], [true, false], [true, false], [true, false], [true, false]]);
          assert.equal(summary.overall_passed, false);
          await assertSameRun(many, one);
        }),
      ),
    ));

  test('a shard started before its phase\'s predecessor merged runs the current phase; once the run has finished a shard and a merge do nothing', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        const plan = await planIn(root, work, 2);
        const current = async (n: number): Promise<[number | undefined, string]> => {
          const outcome = await runRunAllShard(plan, n);
          return outcome.kind === 'ran' ? [outcome.phase.index, outcome.result] : [undefined, `finished ${outcome.passed}`];
        };
        assert.deepEqual(await current(0), [0, 'ran']);
        // Shard 1 of phase 2, started early: collect is not merged, so it runs collect's shard 1.
        assert.deepEqual(await current(1), [0, 'ran']);
        assert.deepEqual(await current(1), [0, 'done already']);
        const merged = await mergeRunAllPhase(plan);
        assert.equal(merged.kind === 'next' && merged.next.stage.name, 'score');
        assert.deepEqual(await current(1), [1, 'ran']);
        assert.equal((await runRunAllShard(plan, 0)).kind, 'ran');
        while ((await mergeRunAllPhase(plan)).kind === 'next') for (let n = 0; n < 2; n++) await runRunAllShard(plan, n);
        assert.deepEqual(await current(0), [undefined, 'finished true']);
        assert.deepEqual(await mergeRunAllPhase(plan), { kind: 'finished already', passed: true });
        await assert.rejects(runRunAllShard(plan, 2), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && /--shard 2 is not a shard of this plan \(0…1\)/.test(error.message));
      }),
    ));

  test('an input changed between phases is refused by the next phase\'s shards and merge, naming it; a rules file changed since the plan, by the merge that would plan with it', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        const plan = await planIn(root, path.join(work, 'a'), 2);
        assert.equal((await phase(plan)).kind, 'next');
        await appendFile(path.join(root, EVIDENCE), '\n');
        await assert.rejects(runRunAllShard(plan, 0), refused(new RegExp(`^${EVIDENCE} changed since the plan was written`)));

        const rules = path.join(root, 'my-rules.json');
        await copyFile(MY_RULES, rules);
        const withRules = await planIn(root, path.join(work, 'b'), 2, { rules });
        for (let n = 0; n < 2; n++) await runRunAllShard(withRules, n);
        const original = await readFile(rules);
        await appendFile(rules, '\n');
        await assert.rejects(mergeRunAllPhase(withRules), refused(/^--rules .*my-rules\.json: the rules file changed since the plan was written; write a new plan$/));
        // The same bytes again: the merge that was refused runs again in full.
        await writeFile(rules, original);
        assert.equal((await mergeRunAllPhase(withRules)).kind, 'next');
      }),
    ));

  test('a phase\'s merge refuses an input or the rules file changed after its shards ran, and records nothing: the stage is not failed by it', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        const receipt = path.join(root, 'reports/distillation', RUN_ID, 'score.json');
        const plan = await planIn(root, path.join(work, 'a'), 2);
        assert.equal((await phase(plan)).kind, 'next');
        for (let n = 0; n < 2; n++) assert.equal((await runRunAllShard(plan, n)).kind, 'ran');
        await appendFile(path.join(root, EVIDENCE), '\n');
        for (let attempt = 0; attempt < 2; attempt++) await assert.rejects(mergeRunAllPhase(plan), refused(new RegExp(`^${EVIDENCE} changed since the plan was written`)));
        await assert.rejects(readFile(receipt), { code: 'ENOENT' });

        const rules = path.join(root, 'my-rules.json');
        await copyFile(MY_RULES, rules);
        const withRules = await planIn(root, path.join(work, 'b'), 2, { rules });
        assert.equal((await phase(withRules)).kind, 'next');
        for (let n = 0; n < 2; n++) assert.equal((await runRunAllShard(withRules, n)).kind, 'ran');
        await appendFile(rules, '\n');
        await assert.rejects(mergeRunAllPhase(withRules), refused(/^--rules .*my-rules\.json: the rules file changed since the plan was written; write a new plan$/));
        await assert.rejects(readFile(receipt), { code: 'ENOENT' });
      }),
    ));

  test('a work folder that holds a run-all plan\'s phases is refused by a new plan', () =>
    inFolder(fixtureCopy, (root) =>
      inFolder(tempDir, async (work) => {
        await planIn(root, work, 2);
        await assert.rejects(planIn(root, work, 3), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && /holds the phases of a run-all plan already/.test(error.message));
      }),
    ));
});

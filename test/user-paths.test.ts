import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runExportAll } from '../pipelines/export-all.js';
import { runStage, type StageCommandOptions } from '../pipelines/stage.js';
import { DistillError } from '../src/errors.js';
import { stageNamed } from '../src/stages/registry.js';
import { resolveInputs, type InputSource } from '../src/index.js';
import { fixtureCopy, inFolder, PACKAGE_ROOT, runCli, type CliResult } from './helpers.js';

/** Rejects with exit 3 and exactly this message: the path as the user typed it, after its option. */
const failsWith = async (run: Promise<unknown>, message: string): Promise<void> => {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof DistillError, String(error));
    assert.equal(error.code, 'DS_IO');
    assert.equal(error.message, message);
    return true;
  });
};

test('an I/O error names the path as typed and the option it came from, never one made relative to the root', () =>
  inFolder(fixtureCopy, async (cwd) => {
    // The root is a subfolder, so a path relative to it would read ../nonexistent.
    await mkdir(path.join(cwd, 'sub'));
    const root = 'sub';
    const base: StageCommandOptions = { cwd, root: '.', recordedAt: '2026-05-01T00:00:00.000Z' };
    const sft = stageNamed('sft')!;
    await failsWith(runStage(sft, { ...base, evidence: '/nope/x' }), '--evidence /nope/x: no such file or folder');
    await failsWith(runStage(sft, { ...base, evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runStage(sft, { ...base, root, inputs: ['data/scored-runs'], evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runExportAll({ ...base, evidence: 'nonexistent' }), '--evidence nonexistent: no such file or folder');
    await failsWith(runStage(stageNamed('score')!, { ...base, rules: 'nope.json' }), '--rules nope.json: no such file or folder');
    await failsWith(runStage(sft, { ...base, root, evidence: 'data/evidence', inputs: ['data/nope.jsonl'] }), 'data/nope.jsonl: no such file or folder');
    await failsWith(runExportAll({ ...base, root, evidence: 'data/evidence', inputs: ['data/nope.jsonl'] }), 'data/nope.jsonl: no such file or folder');
    await failsWith(runStage(stageNamed('collect')!, { ...base, root: 'nope' }), '--root nope: data/_kb: no such file or folder');
  }));

test('resolveInputs resolves relative inputs against the folder given (default the root), never the process\'s', () =>
  inFolder(fixtureCopy, async (root) => {
    const names = async (sources: AsyncIterable<InputSource>): Promise<string[]> => {
      const found: string[] = [];
      for await (const source of sources) found.push(source.display);
      return found;
    };
    const expected = await names(resolveInputs([path.join(root, 'data/scored-runs/2026/05/03')], root));
    assert.ok(expected.length > 0);
    assert.deepEqual(await names(resolveInputs(['data/scored-runs/2026/05/03'], root)), expected);
    assert.deepEqual(await names(resolveInputs(['05/03'], root, path.join(root, 'data/scored-runs/2026'))), expected);
    await assert.rejects(names(resolveInputs(['05/nope'], root, path.join(root, 'data/scored-runs/2026'))), /^DistillError: 05\/nope: no such file or folder$/m);
  }));

test('run-all names --root and --rules as typed on the command line', () =>
  inFolder(fixtureCopy, async (cwd) => {
    const missingRoot = await runCli(['run-all', '--root', 'nope'], { cwd });
    assert.equal(missingRoot.code, 3);
    assert.equal(missingRoot.stderr.trim(), 'distill-stream: --root nope: no such file or folder');
    const missingRules = await runCli(['run-all', '--root', '.', '--rules', 'nope.yaml'], { cwd });
    assert.equal(missingRules.code, 3);
    assert.equal(missingRules.stderr.trim(), 'distill-stream: --rules nope.yaml: no such file or folder');
  }));

/** sft on the fixture's scored runs, as a command in a copy of it names them; with its evidence unless another is given. */
const sft = (...args: string[]): string[] => ['sft', 'data/scored-runs', ...(args.includes('--evidence') ? [] : ['--evidence', 'data/evidence']), '--out', 'out/sft.jsonl', '--recorded-at', '2026-05-01T00:00:00.000Z', ...args];
/** The fixture is a few KB: with this, --jobs 2 runs it as two local shards. */
const SHARDED = { ...process.env, DISTILL_STREAM_MIN_SHARD_BYTES: '1' };

test('--jobs 2 (local shards) names a rules file, the evidence and an input as --jobs 1 does: as typed, never as the plan pins them', () =>
  inFolder(fixtureCopy, async (cwd) => {
    await writeFile(path.join(cwd, 'bad-rules.json'), '{not json\n');
    await writeFile(path.join(cwd, 'bad.jsonl.gz'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x67, 0x61, 0x72, 0x62]));
    const both = async (args: string[]): Promise<[CliResult, CliResult]> => Promise.all([1, 2].map((jobs) => runCli([...args, '--jobs', String(jobs)], { cwd, env: SHARDED }))) as Promise<[CliResult, CliResult]>;
    const cases: Array<[args: string[], code: number, stderr: string]> = [
      [sft('--rules', 'bad-rules.json'), 2, "distill-stream: bad-rules.json: 1 problem in the rules file:\n  bad-rules.json:1:2: not JSON: expected a property name in double quotes, found 'n'\n"],
      [sft('--rules', 'nope.json'), 3, 'distill-stream: --rules nope.json: no such file or folder\n'],
      [sft('--evidence', 'nope'), 3, 'distill-stream: --evidence nope: no such file or folder\n'],
    ];
    for (const [args, code, stderr] of cases) {
      for (const [n, ran] of (await both(args)).entries()) assert.deepEqual([ran.code, ran.stderr.replace(/^Run .*\n/m, '')], [code, stderr], `--jobs ${n + 1}: ${args.join(' ')}`);
    }
    // A shard's own error is the run's, the shard named.
    const [one, two] = await both(sft('bad.jsonl.gz'));
    assert.deepEqual([one.code, one.stderr.split('\n').at(-2)], [3, 'distill-stream: bad.jsonl.gz: unexpected end of file']);
    assert.deepEqual([two.code, two.stderr.split('\n').at(-2)], [3, 'distill-stream: shard 1 of 2: bad.jsonl.gz: unexpected end of file']);
  }));

test('a plan, its shards and its merge name the rules file and the evidence as typed to the command planned, relative to the folder it was planned in', () =>
  inFolder(fixtureCopy, async (cwd) => {
    await copyFile(path.join(PACKAGE_ROOT, 'data-fixtures/rules/my-rules.json'), path.join(cwd, 'rules.json'));
    const cli = async (...args: string[]): Promise<[number | null, string]> => {
      const ran = await runCli(args, { cwd });
      return [ran.code, ran.stderr.replace(/^Run .*\n/m, '')];
    };
    const plan = (...args: string[]): Promise<[number | null, string]> => cli('plan', '--shards', '2', '--out', 'plan.json', '--', ...sft(...args));
    assert.deepEqual(await plan('--evidence', 'nope'), [3, 'distill-stream: --evidence nope: no such file or folder\n']);
    assert.deepEqual(await plan('--rules', 'nope.json'), [3, 'distill-stream: --rules nope.json: no such file or folder\n']);
    assert.equal((await plan('--rules', 'rules.json'))[0], 0);
    for (const n of ['0', '1']) assert.equal((await cli('shard', 'plan.json', '--shard', n))[0], 0);
    await rename(path.join(cwd, 'data/evidence'), path.join(cwd, 'evidence'));
    assert.deepEqual(await cli('merge', 'plan.json'), [3, 'distill-stream: --evidence data/evidence: no such file or folder\n']);
    await rename(path.join(cwd, 'evidence'), path.join(cwd, 'data/evidence'));
    await appendFile(path.join(cwd, 'rules.json'), '\n');
    const changed: [number, string] = [3, 'distill-stream: --rules rules.json: the rules file changed since the plan was written; write a new plan\n'];
    assert.deepEqual(await cli('shard', 'plan.json', '--shard', '0'), changed);
    assert.deepEqual(await cli('merge', 'plan.json'), changed);
    await rm(path.join(cwd, 'rules.json'));
    const gone: [number, string] = [3, 'distill-stream: --rules rules.json: no such file or folder\n'];
    assert.deepEqual(await cli('shard', 'plan.json', '--shard', '0'), gone);
    assert.deepEqual(await cli('merge', 'plan.json'), gone);
  }));

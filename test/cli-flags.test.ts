import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { main } from '../src/cli/main.js';
import { parseSize } from '../src/cli/parse.js';
import { fixtureCopy, inFolder, snapshot } from './helpers.js';

/** Runs the CLI in this process: its exit code and what it wrote. */
async function cli(argv: string[], cwd = process.cwd(), env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]): Writable => new Writable({ write: (chunk: Buffer, _encoding, done) => (into.push(chunk.toString('utf8')), done()) });
  const code = await main(argv, { stdout: sink(out), stderr: sink(err), cwd, env, stdinIsTerminal: true });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('a flag a command does not take is a usage error naming the command', async () => {
  for (const [argv, flag] of [
    [['export-all', '--out', 'x'], '--out'],
    [['export-all', '--quarantine', 'x'], '--quarantine'],
    [['export-all', '--format', 'messages'], '--format'],
    [['rag', '--format', 'messages'], '--format'],
    [['rag', '--include-partial'], '--include-partial'],
    [['index', '--dry-run'], '--dry-run'],
    [['run-all', '--dry-run'], '--dry-run'],
  ] as const) {
    const { code, stderr } = await cli([...argv]);
    assert.equal(code, 2, argv.join(' '));
    assert.equal(stderr.split('\n')[0], `distill-stream: ${argv[0]} does not take ${flag}`, argv.join(' '));
  }
});

test('collect and score take --dry-run: they count and write nothing', () =>
  inFolder(fixtureCopy, async (root) => {
    const before = await snapshot(root);
    for (const command of ['collect', 'score']) assert.equal((await cli([command, '--root', root, '--dry-run', '--jobs', '1'])).code, 0, command);
    assert.deepEqual(await snapshot(root), before);
  }));

test('a near miss gets a did-you-mean', async () => {
  const { code, stderr } = await cli(['sft', '--max-line', '5']);
  assert.equal(code, 2);
  assert.match(stderr, /did you mean --max-line-bytes\?/);
});

test('sizes take binary and decimal units', () => {
  assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseSize('1MB'), 1_000_000);
});

test('help sft prints what sft --help prints', async () => {
  const [help, flag] = [await cli(['help', 'sft']), await cli(['sft', '--help'])];
  assert.equal(help.code, 0);
  assert.ok(help.stdout.includes('distill-stream sft'));
  assert.equal(help.stdout, flag.stdout);
});

test('shard takes its index from AWS_BATCH_JOB_ARRAY_INDEX', async () => {
  const { code, stderr } = await cli(['shard', 'nope-plan.json'], process.cwd(), { AWS_BATCH_JOB_ARRAY_INDEX: 'x1' });
  assert.equal(code, 2);
  assert.match(stderr, /AWS_BATCH_JOB_ARRAY_INDEX 'x1' is not a shard index/);
});

test('run-all prints the failed stage\'s reason line', () =>
  inFolder(fixtureCopy, async (root) => {
    const { code, stderr } = await cli(['run-all', '--root', root, '--run-id', 'r1', '--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536', '--jobs', '1'], root, { DISTILL_STREAM_FAIL_VALIDATION: 'collect' });
    assert.equal(code, 1);
    assert.match(stderr, /\[run-all\] collect FAILED/);
    assert.match(stderr, /\[run-all\] {3}collect: \S.*/);
  }));

/**
 * The Kubernetes example's commands, run as its pods run them: the plan Job's, the Indexed Job's
 * once per JOB_COMPLETION_INDEX (0 … completions-1), then the merge Job's — on a copy of the fixture
 * archive where the manifest says /data. (examples/slurm runs on a real cluster in slurm.test.ts.)
 * Then examples/slurm/submit.sh's chaining of a run-all plan's phases, against stand-ins for
 * sbatch, squeue and scancel that record what would be submitted.
 */
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EXPORT_STAGES } from '../src/stages/registry.js';
import { CLI, FIXTURE_ARCHIVE, PACKAGE_ROOT, removeDir, runCli, runProgram, tempDir } from './helpers.js';

test('examples/kubernetes: the plan Job, every index of the Indexed Job, and the merge Job run as written', async () => {
  const manifest = await readFile(path.join(PACKAGE_ROOT, 'examples', 'kubernetes', 'indexed-job.yaml'), 'utf8');
  // Each container's command is a flow sequence of plain or double-quoted scalars on one line.
  const commands = [...manifest.matchAll(/^\s+command: \[(.*)\]$/gm)].map((match) => match[1]!.split(',').map((arg) => arg.trim().replace(/^"(.*)"$/, '$1')));
  assert.equal(commands.length, 3, 'the plan, shard and merge containers');
  const [plan, shard, merge] = commands as [string[], string[], string[]];
  for (const command of commands) assert.equal(command[0], 'distill-stream');
  assert.deepEqual([plan[1], shard.slice(1), merge.slice(1)], ['plan', ['shard', '/data/plan.json'], ['merge', '/data/plan.json']]);
  assert.match(manifest, /^\s+completionMode: Indexed\b/m);
  const completions = Number(/^\s+completions: (\d+)/m.exec(manifest)?.[1]);
  const parallelism = Number(/^\s+parallelism: (\d+)/m.exec(manifest)?.[1]);
  assert.equal(plan[plan.indexOf('--shards') + 1], String(completions), "completions is the plan's --shards");

  const data = await tempDir('distill-k8s-');
  try {
    await cp(FIXTURE_ARCHIVE, path.join(data, 'archive'), { recursive: true });
    const local = (command: string[]): string[] => command.slice(1).map((arg) => arg.replace(/^\/data(?=\/|$)/, data));
    const planned = await runCli(local(plan));
    assert.equal(planned.code, 0, planned.stderr);
    // `parallelism` pods at a time, as the Job runs them.
    for (let first = 0; first < completions; first += parallelism) {
      const indexes = Array.from({ length: Math.min(parallelism, completions - first) }, (_, n) => first + n);
      const pods = await Promise.all(indexes.map((index) => runCli(local(shard), { env: { ...process.env, JOB_COMPLETION_INDEX: String(index) } })));
      pods.forEach((pod, n) => {
        assert.equal(pod.code, 0, pod.stderr);
        assert.match(pod.stderr, new RegExp(`\\[shard\\] ${indexes[n]} of ${completions}: ran`));
      });
    }
    // A retried pod (or an AWS Batch child, its index in AWS_BATCH_JOB_ARRAY_INDEX) of a done shard does nothing.
    const again = await runCli(local(shard), { env: { ...process.env, AWS_BATCH_JOB_ARRAY_INDEX: '0' } });
    assert.match(again.stderr, /\[shard\] 0 of \d+: done already/);
    const merged = await runCli(local(merge));
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stderr, /^\[sft\] read=\d+ exported=\d+/m);
    for (const stage of EXPORT_STAGES) assert.ok((await stat(path.join(data, 'archive', stage.writes))).isFile(), `${stage.writes} written`);
  } finally {
    await removeDir(data);
  }
});

test('examples/slurm/submit.sh on a run-all plan: every phase submitted up front, each array after the merge before it; --resubmit submits what is missing of the current phase and the phases after it', async () => {
  const dir = await tempDir('distill-submit-');
  try {
    // sbatch, squeue and scancel stand-ins: sbatch records its arguments and answers the next job id as --parsable does.
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    const script = async (name: string, lines: string[]): Promise<void> => {
      await writeFile(path.join(bin, name), ['#!/bin/sh', ...lines, ''].join('\n'));
      await chmod(path.join(bin, name), 0o755);
    };
    await script('sbatch', [`n=$(($(cat '${dir}/id' 2>/dev/null || echo 100) + 1))`, `echo "$n" >'${dir}/id'`, `echo "$n $*" >>'${dir}/sbatch.log'`, 'echo "$n;distill"']);
    await script('squeue', ['exit 0']);
    await script('scancel', ['exit 0']);
    await script('distill-stream', [`exec '${process.execPath}' '${CLI}' "$@"`]);
    const env = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, LOGS: path.join(dir, 'logs') };
    const root = path.join(dir, 'archive');
    await cp(FIXTURE_ARCHIVE, root, { recursive: true });
    const plan = path.join(dir, 'plan.json');
    const submit = (args: string[]) => runProgram(path.join(PACKAGE_ROOT, 'examples', 'slurm', 'submit.sh'), args, { env });
    const submitted = async (): Promise<string[]> => {
      const lines = (await readFile(path.join(dir, 'sbatch.log'), 'utf8')).trim().split('\n');
      await rm(path.join(dir, 'sbatch.log'));
      // Each job as "<id> <dependency> <array> <script>", the log and plan paths left out.
      return lines.map((line) => {
        const [id, ...args] = line.split(' ');
        const value = (flag: string): string => args.find((arg) => arg.startsWith(`--${flag}=`))?.slice(flag.length + 3) ?? '-';
        return `${id} ${value('dependency')} ${value('array')} ${path.basename(args.at(-2)!)}${args.includes('--kill-on-invalid-dep=yes') ? '' : ' (waits when its dependency fails)'}`;
      });
    };
    const first = await submit([plan, '2', '--', 'run-all', '--root', root, '--run-id', 'r1', '--recorded-at', '2026-05-02T00:00:00.000Z']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await submitted(), [
      '101 - 0-1 shard.sbatch', '102 afterok:101 - merge.sbatch',
      '103 afterok:102 0-1 shard.sbatch', '104 afterok:103 - merge.sbatch',
      '105 afterok:104 0-1 shard.sbatch', '106 afterok:105 - merge.sbatch',
      '107 afterok:106 0-1 shard.sbatch', '108 afterok:107 - merge.sbatch',
      '109 afterok:108 0-1 shard.sbatch', '110 afterok:109 - merge.sbatch',
    ]);
    assert.equal((await readFile(`${plan}.jobs`, 'utf8')).trim(), '101 102 103 104 105 106 107 108 109 110');
    // Phase 1 done; of phase 2 only shard 0 (shard 1 lost): the chain after it was cancelled.
    for (const args of [['shard', plan, '--shard', '0'], ['shard', plan, '--shard', '1'], ['merge', plan], ['shard', plan, '--shard', '0']]) assert.equal((await runCli(args)).code, 0);
    const lost = await submit(['--resubmit', plan]);
    assert.equal(lost.code, 0, lost.stderr);
    assert.match(lost.stderr, /run-all phase 2 of 5 \(score\): shards 1 of 2 are not done; nothing was written/);
    assert.deepEqual(await submitted(), [
      '111 - 1 shard.sbatch', '112 afterok:111 - merge.sbatch',
      '113 afterok:112 0-1 shard.sbatch', '114 afterok:113 - merge.sbatch',
      '115 afterok:114 0-1 shard.sbatch', '116 afterok:115 - merge.sbatch',
      '117 afterok:116 0-1 shard.sbatch', '118 afterok:117 - merge.sbatch',
    ]);
    // Shard 1 ran, but its merge's job failed: the resubmit merges here and submits the phases after.
    assert.equal((await runCli(['shard', plan, '--shard', '1'])).code, 0);
    const merged = await submit(['--resubmit', plan]);
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /^\[run-all\] score passed in=40 out=40 quarantined=0$/m);
    assert.deepEqual(await submitted(), [
      '119 - 0-1 shard.sbatch', '120 afterok:119 - merge.sbatch',
      '121 afterok:120 0-1 shard.sbatch', '122 afterok:121 - merge.sbatch',
      '123 afterok:122 0-1 shard.sbatch', '124 afterok:123 - merge.sbatch',
    ]);
  } finally {
    await removeDir(dir);
  }
});


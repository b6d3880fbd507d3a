/**
 * The Kubernetes example's commands, run as its pods run them: the plan Job's, the Indexed Job's
 * once per JOB_COMPLETION_INDEX (0 … completions-1), then the merge Job's — on a copy of the fixture
 * archive where the manifest says /data. (examples/slurm runs on a real cluster in slurm.test.ts.)
 */
import assert from 'node:assert/strict';
import { cp, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EXPORT_STAGES } from '../src/stages/registry.js';
import { FIXTURE_ARCHIVE, PACKAGE_ROOT, removeDir, runCli, tempDir } from './helpers.js';

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

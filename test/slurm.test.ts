/**
 * Slurm for real: a one-node cluster started by hand (munged, slurmctld and slurmd as children of
 * this process, in a temp folder, on free ports, with a munge key of their own), then
 * examples/slurm/submit.sh as a user runs it — a 4-shard array of export-all and the merge after it
 * (--dependency=afterok) — checked byte for byte against one process; then a lost shard and a
 * failed one, each resubmitted alone through `submit.sh --resubmit`, and checked again; then a
 * 2-shard run-all plan, its five phases submitted up front as array → merge chains, against one
 * run-all process.
 *
 * Runs as root only (the daemons run as root, and Debian's packages are installed when missing);
 * otherwise it is skipped, loudly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { appendFile, chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateArchive } from '../data-fixtures/generate.js';
import { quarantineFile } from '../src/layout.js';
import { EXPORT_STAGES, STAGES } from '../src/stages/registry.js';
import { CLI, FIXTURE_ARCHIVE, PACKAGE_ROOT, removeDir, runCli, runProgram, snapshot, tempDir, withoutTimings, type Ran } from './helpers.js';

const PACKAGES = ['slurmctld', 'slurmd', 'slurm-client', 'munge'];
const COMMANDS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'squeue', 'scancel', 'sinfo'];
const SUBMIT = path.join(PACKAGE_ROOT, 'examples', 'slurm', 'submit.sh');
const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const SHARDS = 4;
/** Pieces this small let the plan cut the archive's files inside, so a file spans two shards. */
const MIN_PIECE_BYTES = '256';
/** Sorted entries this small are still paired in ranges: the merge job pairs its groups in processes side by side. */
const MIN_PAIR_RANGE_BYTES = '1';
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const JOB_TIMEOUT_MS = 120_000;
/** Job states after which a job does nothing more. */
const FINISHED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED']);

/** The daemons live in /usr/sbin, which a user's PATH may leave out. */
const PATH = `${process.env['PATH'] ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`;
const onPath = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', env: { ...process.env, PATH } }).status === 0;
const missing = COMMANDS.filter((command) => !onPath(command));

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'this process is not root: the one-node cluster runs munged, slurmctld and slurmd as root';
  if (missing.length > 0 && !existsSync('/usr/bin/apt-get')) return `${missing.join(', ')} missing and no apt-get to install ${PACKAGES.join(', ')} (not Debian)`;
  return undefined;
}

/** A TCP port free right now (the cluster's two ports, so it never meets another one on this host). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Debian's packages, when a command is missing: apt-get waits for a dpkg another process holds. */
async function installSlurm(log: string): Promise<void> {
  if (missing.length === 0) return;
  process.stderr.write(`# ${missing.join(', ')} missing: apt-get update && apt-get install -y ${PACKAGES.join(' ')}\n`);
  const apt = `apt-get update && apt-get install -y -o DPkg::Lock::Timeout=600 ${PACKAGES.join(' ')}`;
  const result = await runProgram('sh', ['-c', `(${apt}) >${log} 2>&1`], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const tail = result.code === 0 ? '' : (await readFile(log, 'utf8')).split('\n').slice(-20).join('\n');
  assert.equal(result.code, 0, `apt-get install ${PACKAGES.join(' ')} failed:\n${tail}`);
  for (const command of COMMANDS) assert.ok(onPath(command), `${command} is still missing after apt-get install`);
}

/** The daemons of the one-node cluster, each a child of this process, stopped by pid. */
class Cluster {
  private readonly daemons: Array<{ name: string; child: ChildProcess; error?: Error }> = [];
  private readonly killAtExit = (): void => {
    for (const { child } of this.daemons) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  /** The environment of every Slurm client and, through sbatch, of every job. */
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly dir: string, bin: string) {
    // Nothing of an outer allocation (a suite run inside a Slurm job) may reach this cluster's jobs.
    const outer = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(SLURM|SBATCH|SALLOC|SRUN)_/.test(name)));
    this.env = { ...outer, SLURM_CONF: path.join(dir, 'slurm.conf'), PATH: `${bin}:${PATH}`, DISTILL_STREAM_MIN_PIECE_BYTES: MIN_PIECE_BYTES, DISTILL_STREAM_MIN_PAIR_RANGE_BYTES: MIN_PAIR_RANGE_BYTES };
    process.on('exit', this.killAtExit);
  }

  private start(name: string, command: string, args: string[]): void {
    const out = openSync(path.join(this.dir, `${name}.out`), 'a');
    const child = spawn(command, args, { stdio: ['ignore', out, out], env: this.env });
    closeSync(out);
    const daemon: (typeof this.daemons)[number] = { name, child };
    child.on('error', (error) => (daemon.error = error)); // reported by the wait that follows
    this.daemons.push(daemon);
  }

  /** munged, slurmctld and slurmd in the foreground; resolves when sinfo shows the node idle. */
  async up(): Promise<void> {
    const host = os.hostname().split('.')[0]!;
    const munge = path.join(this.dir, 'munge');
    const socket = path.join(munge, 'munge.socket.2');
    for (const folder of ['munge', 'state', 'spool', 'log']) await mkdir(path.join(this.dir, folder), { recursive: true });
    // A key of this cluster's own (never /etc/munge): munged wants it private to the user it runs as.
    await writeFile(path.join(munge, 'munge.key'), randomBytes(1024), { mode: 0o400 });
    const controllerPort = await freePort();
    let nodePort = await freePort();
    while (nodePort === controllerPort) nodePort = await freePort();
    // Beyond the minimum: SlurmctldHost must name this host (slurmctld refuses to run elsewhere), its
    // address given so nothing waits on DNS; AuthInfo points every daemon and client at this munged;
    // CR_CPU lets two shards share the node (memory is not tracked, so no RealMemory is needed);
    // CPUs never exceeds the machine's (slurmd drains a node with fewer than configured); MailProg is
    // one that exists (Debian ships no /usr/bin/mail).
    const conf = [
      'ClusterName=distill',
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${controllerPort}`,
      `SlurmdPort=${nodePort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      'MpiDefault=none',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'ReturnToService=2',
      'JobCompType=jobcomp/none',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      'MailProg=/bin/true',
      `SlurmctldPidFile=${path.join(this.dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${path.join(this.dir, 'slurmd.pid')}`,
      `StateSaveLocation=${path.join(this.dir, 'state')}`,
      `SlurmdSpoolDir=${path.join(this.dir, 'spool')}`,
      `SlurmctldLogFile=${path.join(this.dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${path.join(this.dir, 'log', 'slurmd.log')}`,
      `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${Math.min(2, os.availableParallelism())} State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    ];
    await writeFile(this.env['SLURM_CONF']!, `${conf.join('\n')}\n`);
    this.start('munged', 'munged', ['--foreground', '--force', `--socket=${socket}`, `--key-file=${path.join(munge, 'munge.key')}`, `--pid-file=${path.join(munge, 'munged.pid')}`, `--seed-file=${path.join(munge, 'munged.seed')}`, `--log-file=${path.join(munge, 'munged.log')}`]);
    await this.until('munged made its socket', async () => existsSync(socket), 10_000);
    this.start('slurmctld', 'slurmctld', ['-D', '-f', this.env['SLURM_CONF']!]);
    this.start('slurmd', 'slurmd', ['-D', '-f', this.env['SLURM_CONF']!, '-N', host]);
    await this.until('sinfo shows the node idle', async () => (await this.slurm('sinfo', ['--noheader', '--format=%t'])).stdout.trim() === 'idle', 30_000);
  }

  /** A Slurm client command against this cluster. */
  slurm(command: string, args: readonly string[]): Promise<Ran> {
    return runProgram(command, args, { env: this.env, cwd: this.dir });
  }

  /** Waits for `ready`, failing with the daemons' logs when it never comes or a daemon died. */
  async until(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      const dead = this.daemons.find(({ child, error }) => error !== undefined || child.exitCode !== null || child.signalCode !== null);
      if (dead !== undefined || Date.now() > deadline) assert.fail(`${dead === undefined ? 'timed out' : `${dead.name} ${dead.error?.message ?? 'exited'}`} before ${what}\n${await this.logs()}`);
      await sleep(250);
    }
  }

  /** The last lines each daemon wrote, for a failure's message. */
  async logs(): Promise<string> {
    const files = [...this.daemons.map(({ name }) => `${name}.out`), 'log/slurmctld.log', 'log/slurmd.log'];
    const tails = await Promise.all(files.map(async (file) => `--- ${file}\n${(await readFile(path.join(this.dir, file), 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')}`));
    return tails.join('\n');
  }

  /**
   * Each job record's state (`scontrol show job` gives an array one record per task), waited for
   * until every one has finished — or, for a job held by a dependency that can no longer be
   * satisfied, until Slurm says so.
   */
  async settled(job: string): Promise<Array<{ task: string; state: string; reason: string }>> {
    let records: Array<{ task: string; state: string; reason: string }> = [];
    await this.until(
      `job ${job} finished`,
      async () => {
        const shown = await this.slurm('scontrol', ['--oneliner', 'show', 'job', job]);
        records = shown.stdout
          .split('\n')
          .filter((line) => line.includes('JobState='))
          .map((line) => ({ task: /ArrayTaskId=(\S+)/.exec(line)?.[1] ?? '', state: /JobState=(\S+)/.exec(line)![1]!, reason: /Reason=(\S+)/.exec(line)?.[1] ?? '' }));
        return records.length > 0 && records.every((r) => FINISHED.has(r.state) || r.reason === 'DependencyNeverSatisfied');
      },
      JOB_TIMEOUT_MS,
    );
    return records;
  }

  /** Cancels what is left, then stops slurmd, slurmctld and munged by pid and waits for each. */
  async down(): Promise<void> {
    if (this.daemons.some(({ name }) => name === 'slurmctld')) await this.slurm('scancel', ['--user=root']).catch(() => undefined);
    for (const { child } of [...this.daemons].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      if ((await Promise.race([exited.then(() => true), sleep(15_000, false, { ref: false })])) === false) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    process.off('exit', this.killAtExit);
  }
}


/** The job ids submit.sh kept beside the plan: the shard array's and the merge's. */
async function jobsOf(planFile: string): Promise<{ array: string; merge: string }> {
  const [array, merge] = (await readFile(`${planFile}.jobs`, 'utf8')).trim().split(' ');
  return { array: array!, merge: merge! };
}

/** The stage summary lines a run printed ([sft] read=… exported=…). */
const summaryLines = (stderr: string): string[] => stderr.split('\n').filter((line) => /^\[(sft|rag|preference)\] /.test(line));

/** Removes every dataset and quarantine export-all writes, so only a new merge can bring them back. */
async function removeExports(root: string): Promise<void> {
  for (const stage of EXPORT_STAGES) {
    await rm(path.join(root, stage.writes), { force: true });
    await rm(path.join(root, quarantineFile(stage.name)), { force: true });
  }
}

const skip = skipReason();
if (skip !== undefined) process.stderr.write(`\n!!! SKIPPING the Slurm test: ${skip}. Run the suite as root on Debian to run it.\n\n`);

describe('examples/slurm on a one-node Slurm cluster', () => {
  if (skip !== undefined) {
    test('a 4-shard array and its merge equal one process, byte for byte', (t) => {
      console.log(`# slurm.test skipped: ${skip}`);
      t.skip(skip);
    });
    return;
  }

  const timings: string[] = [];
  async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }

  let dir = '';
  let cluster: Cluster | undefined;
  let many = '';
  let planFile = '';
  let work = '';
  let failFile = '';
  let expected = new Map<string, string>();
  let expectedSummary: string[] = [];
  /** A copy of the archive before any run, for run-all: one process on `runAllOne`, the phases on Slurm on `runAllMany`. */
  let runAllOne = '';
  let runAllMany = '';

  /** submit.sh as a user runs it, from the temp folder (the jobs' working folder), its logs there. */
  const submit = (args: string[]): Promise<Ran> => runProgram(SUBMIT, args, { env: { ...cluster!.env, LOGS: path.join(dir, 'logs') }, cwd: dir });
  const log = (name: string): Promise<string> => readFile(path.join(dir, 'logs', name), 'utf8').catch(() => '');
  const shardFolder = (n: number): string => path.join(work, `shard-${String(n).padStart(5, '0')}`);
  /** The plan builds the evidence index before it writes itself; a shard or merge that wrote the index would leave it newer. */
  const assertIndexOnlyRead = async (): Promise<void> => {
    const index = path.join(many, 'data', 'evidence', '.distill-index');
    const written = await Promise.all((await readdir(index)).map(async (name) => ({ name, mtimeMs: (await stat(path.join(index, name))).mtimeMs })));
    const planned = (await stat(planFile)).mtimeMs;
    assert.deepEqual(written.filter(({ mtimeMs }) => mtimeMs > planned).map(({ name }) => name), [], 'nothing in the index folder is newer than the plan');
    assert.equal(written.filter(({ name }) => name.endsWith('.idx')).length, 1, 'one index generation');
  };
  const loseShard = async (n: number): Promise<void> => {
    await rm(shardFolder(n), { recursive: true, force: true });
    await rm(`${shardFolder(n)}.done`, { force: true });
    await removeExports(many);
  };

  before(
    async () => {
      dir = await tempDir('distill-slurm-');
      await timed('install', () => installSlurm(path.join(dir, 'apt.log')));
      // distill-stream on the jobs' PATH; a shard index written to failFile fails once, as a task on a lost node does.
      const bin = path.join(dir, 'bin');
      failFile = path.join(dir, 'fail-shard');
      await mkdir(bin);
      const wrapper = path.join(bin, 'distill-stream');
      await writeFile(
        wrapper,
        [
          '#!/bin/sh',
          `if [ -f '${failFile}' ] && [ "\${SLURM_ARRAY_TASK_ID:-}" = "$(cat '${failFile}')" ]; then`,
          `  rm -f '${failFile}'; echo "distill-stream: shard $SLURM_ARRAY_TASK_ID lost on purpose" >&2; exit 1`,
          'fi',
          `exec '${process.execPath}' '${CLI}' "$@"`,
          '',
        ].join('\n'),
      );
      await chmod(wrapper, 0o755);
      cluster = new Cluster(dir, bin);
      await timed('cluster up', () => cluster!.up());

      await timed('archive', async () => {
        const base = path.join(dir, 'base');
        await generateArchive({ out: base, records: 2000 });
        // Every kind of bad row, twice in one file: cut across shards, its duplicates in a later shard than their first copy.
        const rows = await readFile(path.join(FIXTURE_ARCHIVE, 'data/scored-runs/2026/05/03/hand_written_rows.jsonl'));
        const bad = path.join(base, 'data/scored-runs/2026/05/03/hand_written_rows.jsonl');
        await mkdir(path.dirname(bad), { recursive: true });
        await writeFile(bad, rows);
        await appendFile(bad, rows);
        for (const copy of ['one', 'many', 'run-all-one', 'run-all-many']) await cp(base, path.join(dir, copy), { recursive: true });
      });
      many = path.join(dir, 'many');
      runAllOne = path.join(dir, 'run-all-one');
      runAllMany = path.join(dir, 'run-all-many');
      planFile = path.join(dir, 'plan.json');
      work = `${planFile}.shards`;
      const single = await timed('one process', () => runCli(['export-all', '--root', path.join(dir, 'one'), '--recorded-at', RECORDED_AT, '--jobs', '1']));
      assert.equal(single.code, 0, single.stderr);
      expectedSummary = summaryLines(single.stderr);
      assert.equal(expectedSummary.length, 3, single.stderr);
      expected = await snapshot(path.join(dir, 'one'));
      for (const stage of EXPORT_STAGES) assert.ok((await stat(path.join(dir, 'one', stage.writes))).size > 0, `${stage.writes} is written and not empty`);
    },
    { timeout: INSTALL_TIMEOUT_MS + 5 * 60_000 },
  );

  after(async () => {
    await timed('cluster down', async () => cluster?.down());
    console.log(`# slurm.test timings: ${timings.join(', ')}`);
    await removeDir(dir);
  });

  test('submit.sh: a 4-shard array and the merge after it write every file one process writes, byte for byte', { timeout: 5 * 60_000 }, async () => {
    const submitted = await timed('plan and submit', () => submit([planFile, String(SHARDS), '--', 'export-all', '--root', many, '--recorded-at', RECORDED_AT]));
    assert.equal(submitted.code, 0, submitted.stderr);
    const plan = JSON.parse(await readFile(planFile, 'utf8')) as { shards: Array<Array<{ start: number }>> };
    assert.equal(plan.shards.length, SHARDS);
    assert.ok(plan.shards.slice(1).some((pieces) => pieces[0]!.start > 0), 'a shard starts inside a file');
    const { array, merge } = await jobsOf(planFile);
    const merged = await timed('4 shards and the merge on Slurm', () => cluster!.settled(merge));
    const tasks = await cluster!.settled(array);
    assert.deepEqual(tasks.map(({ task, state }) => `${task} ${state}`).sort(), ['0 COMPLETED', '1 COMPLETED', '2 COMPLETED', '3 COMPLETED'], await cluster!.logs());
    assert.equal(merged[0]!.state, 'COMPLETED', `${merged[0]!.state} ${merged[0]!.reason}\n${await log(`distill-merge-${merge}.out`)}`);
    for (let n = 0; n < SHARDS; n++) assert.match(await log(`distill-shard-${array}_${n}.out`), new RegExp(`\\[shard\\] ${n} of ${SHARDS}: ran`));
    assert.deepEqual(summaryLines(await log(`distill-merge-${merge}.out`)), expectedSummary);
    assert.deepEqual(await snapshot(many), expected);
    await assertIndexOnlyRead();
  });

  test('submit.sh --resubmit: a lost shard is submitted alone, then a new merge; byte for byte again', { timeout: 5 * 60_000 }, async () => {
    const kept = [0, 1, 3].map((n) => `${shardFolder(n)}.done`);
    const keptTimes = await Promise.all(kept.map(async (marker) => (await stat(marker)).mtimeMs));
    await loseShard(2);
    const resubmitted = await timed('resubmit a lost shard', async () => {
      const ran = await submit(['--resubmit', planFile]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stderr, /shards 2 of 4 are not done; nothing was written/);
      const jobs = await jobsOf(planFile);
      await cluster!.settled(jobs.merge);
      return jobs;
    });
    const tasks = await cluster!.settled(resubmitted.array);
    assert.deepEqual(tasks.map(({ task, state }) => `${task} ${state}`), ['2 COMPLETED'], 'only shard 2 ran again');
    assert.equal((await cluster!.settled(resubmitted.merge))[0]!.state, 'COMPLETED', await log(`distill-merge-${resubmitted.merge}.out`));
    assert.match(await log(`distill-shard-${resubmitted.array}_2.out`), /\[shard\] 2 of 4: ran/);
    assert.deepEqual(await Promise.all(kept.map(async (marker) => (await stat(marker)).mtimeMs)), keptTimes, 'the other shards were not run again');
    assert.deepEqual(summaryLines(await log(`distill-merge-${resubmitted.merge}.out`)), expectedSummary);
    assert.deepEqual(await snapshot(many), expected);
  });

  test('submit.sh --resubmit: a failed shard leaves its merge pending; the resubmit cancels it and runs the shard again', { timeout: 5 * 60_000 }, async () => {
    await loseShard(1);
    await writeFile(failFile, '1');
    const failed = await timed('a failed shard, resubmitted', async () => {
      const first = await submit(['--resubmit', planFile]);
      assert.equal(first.code, 0, first.stderr);
      const jobs = await jobsOf(planFile);
      assert.deepEqual((await cluster!.settled(jobs.array)).map(({ task, state }) => `${task} ${state}`), ['1 FAILED']);
      const waiting = await cluster!.settled(jobs.merge);
      assert.deepEqual([waiting[0]!.state, waiting[0]!.reason], ['PENDING', 'DependencyNeverSatisfied']);
      assert.match(await log(`distill-shard-${jobs.array}_1.out`), /shard 1 lost on purpose/);
      const second = await submit(['--resubmit', planFile]);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /shards 1 of 4 are not done/);
      const again = await jobsOf(planFile);
      await cluster!.settled(again.merge);
      return { jobs, again };
    });
    assert.equal((await cluster!.settled(failed.jobs.merge))[0]!.state, 'CANCELLED', 'the merge left waiting is cancelled');
    assert.deepEqual((await cluster!.settled(failed.again.array)).map(({ task, state }) => `${task} ${state}`), ['1 COMPLETED']);
    assert.equal((await cluster!.settled(failed.again.merge))[0]!.state, 'COMPLETED', await log(`distill-merge-${failed.again.merge}.out`));
    assert.deepEqual(await snapshot(many), expected);
    await assertIndexOnlyRead();
  });

  test('submit.sh -- run-all: five phases of 2 shards, each array after the merge before it, write what one run-all process writes', { timeout: 5 * 60_000 }, async () => {
    const runArgs = (root: string): string[] => ['--root', root, '--run-id', 'nightly', '--recorded-at', RECORDED_AT];
    const runAllPlan = path.join(dir, 'run-all.json');
    const [single, submitted] = await timed('run-all: one process, and 5 phases submitted', () =>
      Promise.all([runCli(['run-all', ...runArgs(runAllOne), '--jobs', '1']), submit([runAllPlan, '2', '--', 'run-all', ...runArgs(runAllMany)])]),
    );
    assert.equal(single.code, 0, single.stderr);
    assert.equal(submitted.code, 0, submitted.stderr);
    const jobs = (await readFile(`${runAllPlan}.jobs`, 'utf8')).trim().split(' ');
    assert.equal(jobs.length, 2 * STAGES.length, 'an array and a merge per phase');
    assert.match(submitted.stdout, /^phase 2 of 5: shards: job \d+ \(--array=0-1\), after job \d+; merge: job \d+, after them$/m);
    await timed('run-all: 5 phases of 2 shards on Slurm', () => cluster!.settled(jobs.at(-1)!));
    for (const [n, job] of jobs.entries()) {
      const states = (await cluster!.settled(job)).map(({ state }) => state);
      assert.deepEqual(states, n % 2 === 0 ? ['COMPLETED', 'COMPLETED'] : ['COMPLETED'], `job ${job}: ${states.join(', ')}\n${await log(`distill-merge-${job}.out`)}`);
    }
    for (const [n, stage] of STAGES.entries()) assert.match(await log(`distill-shard-${jobs[2 * n]}_1.out`), new RegExp(`^\\[shard\\] 1 of 2: ran \\(phase ${n + 1} of 5, ${stage.name}\\)$`, 'm'));
    assert.match(await log(`distill-merge-${jobs.at(-1)}.out`), /^\[run-all\] nightly passed; drift ok$/m);
    assert.deepEqual(await snapshot(runAllMany), await snapshot(runAllOne));
    const receipts = async (root: string): Promise<string[]> =>
      Promise.all([...STAGES.map((stage) => `${stage.receipt}.json`), 'summary.json', 'drift.json'].map(async (name) => withoutTimings(await readFile(path.join(root, 'reports/distillation/nightly', name), 'utf8'))));
    assert.deepEqual(await receipts(runAllMany), await receipts(runAllOne));
  });
});

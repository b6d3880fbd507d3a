import path from 'node:path';
import { planShards, runShardOf } from '../../../pipelines/cluster.js';
import { isRunAllPlan, mergeRunAllPhase, planRunAll, readAnyPlan, runRunAllShard, type Phase, type RunAllPlan } from '../../../pipelines/run-all-plan.js';
import { SHARDABLE, arrayExpression, missingShards, type ShardPlan, type ShardProgressMessage } from '../../../pipelines/shards.js';
import type { ProgressSink } from '../../progress.js';
import { mergePlan } from '../../../pipelines/stage.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { option } from '../../options.js';
import { EXPORT_STAGES, STAGES, stageNamed } from '../../stages/registry.js';
import { validateStage } from '../../engine/validate.js';
import { HELP, JSON_SUMMARY } from '../common-options.js';
import type { Command, Session } from '../command.js';
import { parseArgs } from '../parse.js';
import { printDatasetInfo, printStageSummary } from '../summary.js';
import type { Terminal } from '../terminal.js';
import { printRunAll, printStageRecord, runAllOptionsOf } from './run-all.js';

/** The environment variables schedulers give an array task its index in. */
const INDEX_VARIABLES = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

/** Commands a plan takes: those whose work shards, and run-all, planned phase by phase. */
const PLANNABLE: readonly string[] = [...SHARDABLE, 'run-all'];

export const planCommand: Command = {
  name: 'plan',
  group: 'Scale',
  summary: 'cut a command\'s work into shards for a cluster (Slurm, Kubernetes, AWS Batch)',
  operands: '-- CMD [options…]',
  description: [
    `CMD is one of ${PLANNABLE.join(', ')}, with its own options. The plan pins the`,
    'command, its options, recorded_at and the inputs (walk order, sizes, mtimes), cuts them into N pieces balanced by',
    'bytes (a big uncompressed file at line starts), and builds the evidence index once for the exports. Then run',
    '`shard PLAN` once per index and `merge PLAN`.',
    `run-all is planned in ${STAGES.length} phases, one per stage (${STAGES.map((stage) => stage.name).join(', ')}), each N shards and a merge:`,
    '`shard PLAN` runs a shard of the current phase, `merge PLAN` merges it, writes its receipt and plans the next phase;',
    'the last merge writes the summary, drift report, baseline line and report page. The bytes are those of run-all in',
    'one process, but for the timings.',
  ],
  options: {
    shards: option('count', 'N', 'how many shards'),
    out: option('path', 'PLAN.json', 'where to write the plan'),
    work: option('path', 'DIR', 'where shards write their results (default: PLAN.json.shards beside the plan)'),
    ...HELP,
  },
  examples: [
    'distill-stream plan --shards 8 --out plan.json -- export-all --root /data/archive --recorded-at 2026-05-01T00:00:00Z',
    'distill-stream plan --shards 4 --out plan.json -- sft --root . --include-partial',
    'distill-stream plan --shards 16 --out nightly.json -- run-all --root /data/archive --run-id nightly-42',
  ],
  takesOperands: false,
  takesRest: true,
  run: async (session) => {
    const { args, cwd, terminal, commandNamed } = session;
    const shards = args.values['shards'] as number | undefined;
    const out = args.values['out'] as string | undefined;
    if (shards === undefined || out === undefined) throw usageError('plan needs --shards N and --out PLAN.json');
    const [name, ...inner] = args.rest ?? [];
    if (name === undefined) throw usageError('plan needs the command to shard after --: plan --shards N --out PLAN.json -- CMD [options…]');
    if (!PLANNABLE.includes(name)) throw usageError(`${name} cannot be sharded (one of ${PLANNABLE.join(', ')})`);
    const command = commandNamed(name)!;
    const parsed = parseArgs(command.name, command.options, inner);
    const work = args.values['work'] as string | undefined;
    if (name === 'run-all') {
      if (parsed.positionals.length > 0) throw usageError('run-all takes no operands');
      const { plan, phase } = await planRunAll(runAllOptionsOf(parsed.values, session), shards, path.resolve(cwd, out), path.resolve(cwd, work ?? `${out}.shards`), terminal, out);
      terminal.line(`[plan] run-all ${plan.options.runId}: ${STAGES.length} phases (${STAGES.map((stage) => stage.name).join(', ')}) of ${shards} shards → ${out} (work in ${path.relative(cwd, plan.work) || '.'})`);
      terminal.line(`[plan] ${nextPhase(out, { index: 0, stage: STAGES[0]!, plan: phase })}`);
      return 0;
    }
    const plan = await planShards(name, { ...parsed.values, cwd, inputs: parsed.positionals, shards, planFile: out, work, progress: terminal });
    terminal.line(`[plan] ${name}: ${filesLine(plan)} in ${shards} shards → ${out} (work in ${path.relative(cwd, plan.work) || '.'})`);
    return 0;
  },
};

const filesLine = (plan: ShardPlan): string => `${plan.inputs.length} files, ${plan.inputs.reduce((sum, f) => sum + f.size, 0)} bytes`;

/** What to run for a run-all plan's phase: its shards (as an --array= range), then the merge. */
const nextPhase = (file: string, phase: Phase): string =>
  `phase ${phase.index + 1} of ${STAGES.length} (${phase.stage.name}, ${filesLine(phase.plan)}): run \`distill-stream shard ${file}\` for each shard (--array=0-${phase.plan.shards.length - 1}), then \`distill-stream merge ${file}\``;

/** The shard index from --shard, else from the scheduler's environment. */
function shardIndex(session: Session): number {
  const given = session.args.values['shard'] as number | undefined;
  if (given !== undefined) return given;
  for (const variable of INDEX_VARIABLES) {
    const value = session.env[variable];
    if (value !== undefined && value !== '') {
      if (!/^\d+$/.test(value)) throw usageError(`${variable} '${value}' is not a shard index`);
      return Number(value);
    }
  }
  throw usageError(`shard needs --shard i, or one of ${INDEX_VARIABLES.join(', ')} set by the scheduler`);
}

/** How often a local shard tells its parent what it read: often enough for a progress line, rarely enough to cost nothing. */
const PROGRESS_EVERY_MS = 200;

/** A shard whose local run is gone (killed outright, even by SIGKILL: its end of the channel closes) stops as a signal stops it, removing its temps. */
const stopWithParent = (): void => void process.kill(process.pid, 'SIGTERM');

/**
 * A shard started by a local run (an IPC channel to its parent) sends what it read to the parent's
 * progress line — at most every PROGRESS_EVERY_MS, and what is left once `run` is done, so the
 * parent's line is told every byte and row — and stops when the parent is gone; a shard a
 * scheduler started has no parent to tell.
 */
async function tellingParent<T>(run: (progress: ProgressSink | undefined) => Promise<T>): Promise<T> {
  const send = process.send?.bind(process);
  if (send === undefined) return run(undefined);
  if (!process.connected) stopWithParent(); // gone before this shard began to listen
  process.once('disconnect', stopWithParent);
  const pending: ShardProgressMessage = { bytes: 0, rows: 0 };
  let last = 0;
  const flush = (): void => {
    last = Date.now();
    if (pending.bytes === 0 && pending.rows === 0) return;
    send({ ...pending });
    pending.bytes = 0;
    pending.rows = 0;
  };
  const due = (): void => {
    if (Date.now() - last >= PROGRESS_EVERY_MS) flush();
  };
  try {
    return await run({
      begin: () => undefined,
      bytes: (n) => {
        pending.bytes += n;
        due();
      },
      rows: (n) => {
        pending.rows += n;
        due();
      },
    });
  } finally {
    if (process.connected) flush();
    process.off('disconnect', stopWithParent);
  }
}

export const shardCommand: Command = {
  name: 'shard',
  group: 'Scale',
  summary: 'run one shard of a plan',
  operands: 'PLAN.json',
  description: [
    'Runs shard i (from --shard, or SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX) into its own',
    'folder, committed whole, then a done marker. A done shard is not run again; a plan whose inputs changed is refused.',
    'For a run-all plan it runs shard i of the current phase (the first stage not merged yet), and nothing once the run',
    'has finished.',
  ],
  options: { shard: option('index', 'i', 'the shard to run (0-based; default: from the scheduler)'), ...HELP },
  examples: ['distill-stream shard plan.json --shard 0', 'SLURM_ARRAY_TASK_ID=3 distill-stream shard plan.json'],
  takesOperands: true,
  run: async (session) => {
    const [file, ...extra] = session.args.positionals;
    if (file === undefined || extra.length > 0) throw usageError('shard takes one plan file');
    const index = shardIndex(session);
    const plan = await readAnyPlan(path.resolve(session.cwd, file), file);
    if (!isRunAllPlan(plan)) {
      session.terminal.line(`[shard] ${index} of ${plan.shards.length}: ${await tellingParent((progress) => runShardOf(plan, index, progress))}`);
      return 0;
    }
    const outcome = await tellingParent((progress) => runRunAllShard(plan, index, progress));
    if (outcome.kind === 'finished') session.terminal.line(`[shard] ${index} of ${plan.shardCount}: nothing to run, run-all ${plan.options.runId} has finished (${outcome.passed ? 'passed' : 'FAILED'})`);
    else session.terminal.line(`[shard] ${index} of ${plan.shardCount}: ${outcome.result} (phase ${outcome.phase.index + 1} of ${STAGES.length}, ${outcome.phase.stage.name})`);
    return 0;
  },
};

export const mergeCommand: Command = {
  name: 'merge',
  group: 'Scale',
  summary: 'merge a plan\'s shards into the command\'s outputs',
  operands: 'PLAN.json',
  description: [
    'Writes the outputs, quarantines and counts the command would have written in one process, byte for byte. While a',
    'shard is missing it writes nothing, names the missing indexes and prints the --array= that resubmits exactly those.',
    'For a run-all plan it merges the current phase, writes its stage\'s receipt and plans the next phase; after the last',
    'stage (or one that failed, without --continue-on-failure) it writes what run-all writes at its end and exits as it does.',
  ],
  options: { ...JSON_SUMMARY, ...HELP },
  examples: ['distill-stream merge plan.json'],
  takesOperands: true,
  run: async ({ args, cwd, terminal }) => {
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) throw usageError('merge takes one plan file');
    const plan = await readAnyPlan(path.resolve(cwd, file), file);
    if (isRunAllPlan(plan)) return mergeRunAll(plan, file, terminal, args.values['json'] === true);
    const missing = await missingShards(plan);
    if (missing.length > 0) return refuseMissing(terminal, '', missing, plan.shards.length);
    const { counts, datasetInfo } = await mergePlan(plan);
    printDatasetInfo(terminal, plan.command, datasetInfo);
    const stages = plan.command === 'export-all' ? EXPORT_STAGES : [stageNamed(plan.command)!];
    let failed = false;
    for (const stage of stages) {
      const stageCounts = counts.get(stage.name)!;
      printStageSummary(terminal, args.values['json'] === true, stage.name, stageCounts);
      if (!validateStage(stage, stageCounts).passed) failed = true;
    }
    return failed ? EXIT_CODE.DS_VALIDATION : 0;
  },
};

/** A merge with shards missing writes nothing: it names them, and the --array= that resubmits exactly those. */
function refuseMissing(terminal: Terminal, what: string, missing: readonly number[], shards: number): number {
  terminal.line(`distill-stream: ${what}shards ${missing.join(', ')} of ${shards} are not done; nothing was written`);
  terminal.line(`resubmit them: sbatch --array=${arrayExpression(missing)} …`);
  return EXIT_CODE.DS_IO;
}

/**
 * A run-all plan's merge: the current phase merged and its stage printed as run-all prints it, then
 * what to run next — or, when the run finished, all that run-all prints at its end, with its exit
 * code. A phase whose stage failed exits 0 while the run goes on (--continue-on-failure): the jobs
 * after it must start.
 */
async function mergeRunAll(plan: RunAllPlan, file: string, terminal: Terminal, json: boolean): Promise<number> {
  const outcome = await mergeRunAllPhase(plan, terminal);
  const runId = plan.options.runId;
  switch (outcome.kind) {
    case 'missing':
      return refuseMissing(terminal, `run-all phase ${outcome.phase.index + 1} of ${STAGES.length} (${outcome.phase.stage.name}): `, outcome.missing, plan.shardCount);
    case 'finished already':
      terminal.line(`[merge] nothing to merge: run-all ${runId} has finished (${outcome.passed ? 'passed' : 'FAILED'})`);
      return 0;
    case 'merged meanwhile':
      terminal.line(`[merge] nothing to merge: phase ${outcome.phase.index + 1} of ${STAGES.length} (${outcome.phase.stage.name}) was merged meanwhile`);
      return 0;
    case 'next':
      for (const record of outcome.records.slice(outcome.from)) printStageRecord(terminal, record);
      terminal.line(`[merge] next: ${nextPhase(file, outcome.next)}`);
      return 0;
    case 'finished':
      printRunAll(terminal, outcome.result, json);
      return outcome.result.summary.overall_passed ? 0 : EXIT_CODE.DS_VALIDATION;
  }
}

import path from 'node:path';
import { planShards, runPlanShard } from '../../../pipelines/cluster.js';
import { readPlan, SHARDABLE, arrayExpression, missingShards, type ShardProgressMessage } from '../../../pipelines/shards.js';
import type { ProgressSink } from '../../progress.js';
import { mergePlan } from '../../../pipelines/stage.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { option } from '../../options.js';
import { EXPORT_STAGES, stageNamed } from '../../stages/registry.js';
import { validateStage } from '../../engine/validate.js';
import { HELP, JSON_SUMMARY } from '../common-options.js';
import type { Command, Session } from '../command.js';
import { parseArgs } from '../parse.js';
import { printDatasetInfo, printStageSummary } from '../summary.js';

/** The environment variables schedulers give an array task its index in. */
const INDEX_VARIABLES = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

export const planCommand: Command = {
  name: 'plan',
  group: 'Scale',
  summary: 'cut a command\'s work into shards for a cluster (Slurm, Kubernetes, AWS Batch)',
  operands: '-- CMD [options…]',
  description: [
    `CMD is one of ${SHARDABLE.join(', ')}, with its own options. The plan pins the command, its options, recorded_at and`,
    'the inputs (walk order, sizes, mtimes), cuts them into N pieces balanced by bytes (a big uncompressed file at line',
    'starts), and builds the evidence index once for the exports. Then run `shard PLAN` once per index and `merge PLAN`.',
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
  ],
  takesOperands: false,
  takesRest: true,
  run: async ({ args, cwd, terminal, commandNamed }) => {
    const shards = args.values['shards'] as number | undefined;
    const out = args.values['out'] as string | undefined;
    if (shards === undefined || out === undefined) throw usageError('plan needs --shards N and --out PLAN.json');
    const [name, ...inner] = args.rest ?? [];
    if (name === undefined) throw usageError('plan needs the command to shard after --: plan --shards N --out PLAN.json -- CMD [options…]');
    if (!SHARDABLE.includes(name)) throw usageError(`${name} cannot be sharded (one of ${SHARDABLE.join(', ')})`);
    const command = commandNamed(name)!;
    const parsed = parseArgs(command.name, command.options, inner);
    const plan = await planShards(name, { ...parsed.values, cwd, inputs: parsed.positionals, shards, planFile: out, work: args.values['work'] as string | undefined, progress: terminal });
    terminal.line(`[plan] ${name}: ${plan.inputs.length} files, ${plan.inputs.reduce((sum, f) => sum + f.size, 0)} bytes in ${shards} shards → ${out} (work in ${path.relative(cwd, plan.work) || '.'})`);
    return 0;
  },
};

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

/**
 * A shard started by a local run (an IPC channel to its parent) sends what it read to the parent's
 * progress line; a shard a scheduler started has no parent to tell.
 */
function parentProgress(): ProgressSink | undefined {
  const send = process.send?.bind(process);
  if (send === undefined) return undefined;
  const pending: ShardProgressMessage = { bytes: 0, rows: 0 };
  let last = 0;
  const flush = (): void => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS) return;
    last = now;
    send({ ...pending });
    pending.bytes = 0;
    pending.rows = 0;
  };
  return {
    begin: () => undefined,
    bytes: (n) => {
      pending.bytes += n;
      flush();
    },
    rows: (n) => {
      pending.rows += n;
      flush();
    },
  };
}

export const shardCommand: Command = {
  name: 'shard',
  group: 'Scale',
  summary: 'run one shard of a plan',
  operands: 'PLAN.json',
  description: [
    'Runs shard i (from --shard, or SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX) into its own',
    'folder, committed whole, then a done marker. A done shard is not run again; a plan whose inputs changed is refused.',
  ],
  options: { shard: option('index', 'i', 'the shard to run (0-based; default: from the scheduler)'), ...HELP },
  examples: ['distill-stream shard plan.json --shard 0', 'SLURM_ARRAY_TASK_ID=3 distill-stream shard plan.json'],
  takesOperands: true,
  run: async (session) => {
    const [file, ...extra] = session.args.positionals;
    if (file === undefined || extra.length > 0) throw usageError('shard takes one plan file');
    const index = shardIndex(session);
    const { plan, result } = await runPlanShard(file, index, { cwd: session.cwd, progress: parentProgress() });
    session.terminal.line(`[shard] ${index} of ${plan.shards.length}: ${result}`);
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
  ],
  options: { ...JSON_SUMMARY, ...HELP },
  examples: ['distill-stream merge plan.json'],
  takesOperands: true,
  run: async ({ args, cwd, terminal }) => {
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) throw usageError('merge takes one plan file');
    const plan = await readPlan(path.resolve(cwd, file));
    const missing = await missingShards(plan);
    if (missing.length > 0) {
      terminal.line(`distill-stream: shards ${missing.join(', ')} of ${plan.shards.length} are not done; nothing was written`);
      terminal.line(`resubmit them: sbatch --array=${arrayExpression(missing)} …`);
      return EXIT_CODE.DS_IO;
    }
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


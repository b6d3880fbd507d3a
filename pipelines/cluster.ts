import path from 'node:path';
import type { ProgressSink } from '../src/progress.js';
import { readPlan, runShard, writePlan, type ShardPlan } from './shards.js';
import { planOptionsOf, shardContextOf, type StageCommandOptions } from './stage.js';

/** `plan`: a command's options as it takes them, and where the plan goes (relative paths against `cwd`). */
export interface PlanOptions extends StageCommandOptions {
  /** How many shards to cut the work into. */
  shards: number;
  /** The plan file. */
  planFile: string;
  /** Where shards write their results; default `<planFile>.shards`. */
  work?: string;
}

/** `distill-stream plan --shards N --out PLAN.json -- CMD …`: writes the plan of `command` (sft, rag, preference, export-all, collect or score). */
export async function planShards(command: string, options: PlanOptions): Promise<ShardPlan> {
  const { shards, planFile, work, ...commandOptions } = options;
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = path.resolve(cwd, planFile);
  return writePlan(command, planOptionsOf(command, { ...commandOptions, cwd }), shards, file, path.resolve(cwd, work ?? `${planFile}.shards`), { progress: options.progress, typed: planFile });
}

/** Runs shard `index` of a command's plan with the plan's pinned ruleset, flags and view; 'done already' when its marker is there. */
export async function runShardOf(plan: ShardPlan, index: number, progress?: ProgressSink): Promise<'ran' | 'done already'> {
  return runShard(plan, index, { ...(await shardContextOf(plan)), progress });
}

/** `distill-stream shard PLAN.json --shard i` for a command's plan file (a run-all plan's shards: runRunAllShard). */
export async function runPlanShard(planFile: string, index: number, options: { cwd?: string; progress?: ProgressSink } = {}): Promise<{ plan: ShardPlan; result: 'ran' | 'done already' }> {
  const plan = await readPlan(path.resolve(options.cwd ?? process.cwd(), planFile), planFile);
  return { plan, result: await runShardOf(plan, index, options.progress) };
}

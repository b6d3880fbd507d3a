import path from 'node:path';
import { inputBytes, oneVersionOf, resolveInputs } from '../src/io/inputs.js';
import { withRootLock } from '../src/io/lock.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { refuseCollisions, resolveOutput } from '../src/io/output-target.js';
import { STDIN_PATH } from '../src/io/paths.js';
import { runFanOut, type FanOutExport } from '../src/engine/run.js';
import type { StageCounts } from '../src/engine/counts.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantineFile } from '../src/layout.js';
import { EXPORT_STAGES } from '../src/stages/registry.js';
import { lastAnswerCached, withEvidence } from './evidence.js';
import { evidenceLabel, evidencePath, planReads, requireFolder, skippedInto, type CommonOptions } from './plan.js';
import { stageNotes, type StageNotes } from './hints.js';
import { readsStdin, runCommandSharded, rulesetOf, shardCount, stageFlags } from './stage.js';
import type { Ruleset } from '../src/core/ruleset.js';

/**
 * export-all's options: the shared ones but --out and --quarantine (each dataset goes to its
 * standard path under root), and every export's flags by camelCased name.
 */
export interface ExportAllOptions extends Omit<CommonOptions, 'out' | 'quarantine'> {
  evidence?: string;
  /** A rules file whose instruction templates the exports use; the built-in ones by default. */
  rules?: string | Ruleset;
  includePartial?: boolean;
  includeReview?: boolean;
  repoRoot?: string;
  onIndexReady?: (report: IndexReport) => void;
  stdinIsTerminal?: boolean;
}

export interface ExportAllResult {
  /** Each export's counts, by stage name, in run order. */
  counts: Map<string, StageCounts>;
  /** Each export's notes (hints when the input looks wrong), by stage name. */
  notes: Map<string, StageNotes>;
  index: IndexReport;
}

const DISCARD: OutputTarget = { kind: 'discard' };


/**
 * Every dataset export in one pass over the scored runs: each line is read, split and parsed once
 * and fed to each export's gate chain. Byte-identical to the exports run alone, each written to its
 * standard path; every output is committed only when all succeeded.
 */
export async function runExportAll(options: ExportAllOptions): Promise<ExportAllResult> {
  const reads = planReads(options, options.stdinIsTerminal ?? false);
  if (!reads.filter) await requireFolder(reads.root, LAYOUT.scoredRuns, options.root);
  return options.dryRun ? exportAll(options, reads) : withRootLock(reads.root, 'export-all', () => exportAll(options, reads));
}

async function exportAll(options: ExportAllOptions, { cwd, root, filter, inputs, named }: ReturnType<typeof planReads>): Promise<ExportAllResult> {
  // Sharded like each export alone (the same contract, byte for byte): one process per --jobs.
  const shards = await shardCount(EXPORT_STAGES[0]!, options);
  if (shards > 1) {
    const { counts, index } = await runCommandSharded('export-all', options, shards);
    return { ...resultOf(EXPORT_STAGES.map((stage) => counts.get(stage.name)!), options), index: index! };
  }
  const evidence = evidencePath({ cwd, root }, options.evidence);
  const place = { cwd: root, root, followSymlinks: options.followSymlinks ?? false };
  const layoutOutput = (relative: string, option: string): Promise<OutputTarget> => (options.dryRun ? Promise.resolve(DISCARD) : resolveOutput({ given: relative, option }, place));
  const exports: FanOutExport[] = [];
  for (const stage of EXPORT_STAGES) {
    const output = await layoutOutput(stage.writes, `the ${stage.name} dataset`);
    const quarantine = await layoutOutput(quarantineFile(stage.name), `the ${stage.name} quarantine`);
    exports.push({ stage, flags: stageFlags(stage, options), targets: { output, quarantine } });
  }
  const reads = [...(filter ? inputs : [path.join(root, LAYOUT.scoredRuns)]), evidence];
  await refuseCollisions(exports.flatMap(({ targets }) => [{ target: targets.output }, { target: targets.quarantine }]), reads.map((read) => ({ path: read, option: '' })));
  const ruleset = await rulesetOf(options.rules, { cwd, root });
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const recordedAt = options.recordedAt ?? new Date().toISOString();
  const sameVersion = await oneVersionOf(reads, root);
  const beforeCommit = async (unchanged: () => void): Promise<void> => {
    unchanged();
    await sameVersion();
  };
  return withEvidence({ evidence, root, label: evidenceLabel(options.evidence), maxLineBytes, onIndexReady: options.onIndexReady, progress: options.progress }, async (lookup, index, unchanged) => {
    const skipped: string[] = [];
    const sources = resolveInputs(filter ? named : [path.join(root, LAYOUT.scoredRuns)], root, cwd, skippedInto(skipped));
    options.progress?.begin('export-all', await inputBytes(filter ? (inputs.length > 0 ? inputs : [STDIN_PATH]) : [path.join(root, LAYOUT.scoredRuns)]).catch(() => undefined));
    const counts = await runFanOut(exports, { recordedAt, ruleset, maxLineBytes, progress: options.progress, inputs: sources, beforeCommit: () => beforeCommit(unchanged) }, lastAnswerCached(lookup));
    for (const stageCounts of counts) stageCounts.skipped.push(...skipped);
    return { ...resultOf(counts, options), index };
  });
}

/** Each export's counts and notes by stage name, from its counts in EXPORT_STAGES order. */
function resultOf(counts: readonly StageCounts[], options: ExportAllOptions): Omit<ExportAllResult, 'index'> {
  const readStdin = readsStdin(options);
  return {
    counts: new Map(EXPORT_STAGES.map((stage, n) => [stage.name, counts[n]!])),
    notes: new Map(EXPORT_STAGES.map((stage, n) => [stage.name, stageNotes(counts[n]!, { stage: stage.name, reads: stage.reads, readStdin })])),
  };
}

import { runFanOut, type FanOutExport } from '../src/engine/run.js';
import type { StageCounts } from '../src/engine/counts.js';
import type { EvidenceLookup, JoinedEvidence } from '../src/records.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantineFile } from '../src/layout.js';
import { EXPORT_STAGES } from '../src/stages/registry.js';
import { withEvidence } from './evidence.js';
import { evidencePath, layoutTarget, planInputs, planStage, type CommonOptions } from './plan.js';
import { stageFlags } from './stage.js';

/**
 * export-all's options: the shared ones but --out and --quarantine (each dataset goes to its
 * standard path under root), and every export's flags by camelCased name.
 */
export interface ExportAllOptions extends Omit<CommonOptions, 'out' | 'quarantine'> {
  evidence?: string;
  includePartial?: boolean;
  includeReview?: boolean;
  repoRoot?: string;
  onIndexReady?: (report: IndexReport) => void;
  stdinIsTerminal?: boolean;
}

export interface ExportAllResult {
  /** Each export's counts, by stage name, in run order. */
  counts: Map<string, StageCounts>;
  index: IndexReport;
}

const DISCARD: OutputTarget = { kind: 'discard' };

/**
 * The exports see each row in turn, so they ask for the same run one after the other: remembering
 * the last answer halves the index reads (the evidence is never mutated).
 */
function lastAnswerCached(lookup: EvidenceLookup): EvidenceLookup {
  let lastRunId: string | undefined;
  let lastEvidence: JoinedEvidence | undefined;
  return (runId) => {
    if (runId !== lastRunId) {
      lastEvidence = lookup(runId);
      lastRunId = runId;
    }
    return lastEvidence;
  };
}

/**
 * Every dataset export in one pass over the scored runs: each line is read, split and parsed once
 * and fed to each export's gate chain. Byte-identical to the exports run alone, each written to its
 * standard path; every output is committed only when all succeeded.
 */
export function runExportAll(options: ExportAllOptions): Promise<ExportAllResult> {
  const plan = planStage(options, 'sft', options.stdinIsTerminal ?? false);
  const stages = EXPORT_STAGES;
  const exports: FanOutExport[] = stages.map((stage) => ({
    stage,
    flags: stageFlags(stage, options),
    targets: options.dryRun
      ? { output: DISCARD, quarantine: DISCARD }
      : { output: layoutTarget(plan.root, stage.writes), quarantine: layoutTarget(plan.root, quarantineFile(stage.name)) },
  }));
  const evidence = { evidence: evidencePath(plan, options.evidence), root: plan.root, maxLineBytes: plan.maxLineBytes, onIndexReady: options.onIndexReady };
  return withEvidence(evidence, async (lookup, index) => {
    const inputs = planInputs(plan, LAYOUT.scoredRuns);
    const counts = await runFanOut(exports, { recordedAt: plan.recordedAt, maxLineBytes: plan.maxLineBytes, progress: options.progress, inputs }, lastAnswerCached(lookup));
    return { counts: new Map(stages.map((stage, n) => [stage.name, counts[n]!])), index };
  });
}

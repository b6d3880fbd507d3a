import { PairCounts, sortedCounts, type StageCounts } from '../engine/counts.js';
import type { RunStage, StageReceipt, StageValidation } from '../receipts.js';
import { combinedHash } from './hashes.js';

const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Who made a receipt and when. */
export interface ReceiptContext {
  runId: string;
  toolVersion: string;
  gitSha: string | null;
  recordedAt: string;
}

export interface StageTiming {
  started: Date;
  finished: Date;
  durationMs: number;
}

/** The StageReceipt of one stage run, from the engine's counts: the one source of truth for them from here on. */
export function buildReceipt(context: ReceiptContext, stage: RunStage, counts: StageCounts, validation: StageValidation, timing: StageTiming): StageReceipt {
  const inputs = [...counts.inputs].sort(byPath);
  const outputs = [...counts.outputs].sort(byPath);
  return {
    schema_version: 1,
    run_id: context.runId,
    stage,
    tool_version: context.toolVersion,
    git_sha: context.gitSha,
    recorded_at: context.recordedAt,
    started_at: timing.started.toISOString(),
    finished_at: timing.finished.toISOString(),
    duration_ms: Math.round(timing.durationMs),
    inputs,
    outputs,
    input_hash: combinedHash(inputs),
    output_hash: combinedHash(outputs),
    record_counts: {
      in: counts.in,
      out: counts.out,
      quarantined: counts.quarantined,
      ...(counts instanceof PairCounts ? { unpaired: counts.unpaired } : {}),
      by_reason: sortedCounts(counts.byReason),
      by_category: sortedCounts(counts.byCategory),
      ...(counts.bySplit.size > 0 ? { by_split: Object.fromEntries(counts.bySplit) } : {}),
    },
    validation,
    samples: counts.sampleValues(),
  };
}

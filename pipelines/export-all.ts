import path from 'node:path';
import type { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readLineBatches } from '../src/io/inputs.js';
import type { QuarantineWriter } from '../src/io/quarantine.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantinePath } from '../src/layout.js';
import { displayPath } from '../src/io/paths.js';
import type { PreferenceRow } from '../src/stages/preference.js';
import { ragRow } from '../src/stages/rag.js';
import { BATCH_HIGH_WATER_MARK, FanOutStage, joinLines, type FanOutBranch } from '../src/stages/row-stage.js';
import { sftRow } from '../src/stages/sft.js';
import { StageStats } from '../src/stages/stats.js';
import { drained } from '../src/io/drain.js';
import type { JoinedEvidence } from '../src/io/evidence-index.js';
import type { EvidenceLookup } from '../src/stages/export-row.js';
import { withEvidenceIndex, type ExportRun } from './export.js';
import { PreferencePairer } from './preference.js';
import { withOutput, withQuarantine } from './row-export.js';

export interface ExportAllRun extends Omit<ExportRun, 'output' | 'quarantine'> {
  includePartial: boolean;
  includeReview: boolean;
  repoRoot: string | undefined;
  /** Where each dataset goes; defaults to the standard layout under root. */
  targets?: Partial<Record<'sft' | 'rag' | 'preference', { output: OutputTarget; quarantine: OutputTarget }>>;
}

export interface ExportAllResult {
  sft: StageStats;
  rag: StageStats;
  preference: StageStats;
}

const STAGES = ['sft', 'rag', 'preference'] as const;

/** The standard output and quarantine files of an export under `root`. */
export function standardTargets(root: string, stage: (typeof STAGES)[number]): { output: OutputTarget; quarantine: OutputTarget } {
  const file = (absolute: string): OutputTarget => ({ kind: 'file', path: absolute, display: displayPath(root, absolute) });
  return { output: file(path.join(root, LAYOUT[stage])), quarantine: file(quarantinePath(root, stage)) };
}

/** Writes a batch of lines to an output, resolving when it can take more. */
async function writeLines(output: Writable, lines: string[]): Promise<void> {
  if (!output.write(joinLines(lines))) await drained(output);
}

/**
 * The branches see each row in turn, so sft and rag ask for the same run one after the other:
 * remembering the last answer halves the index reads (the evidence is never mutated).
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
 * sft, rag and preference in one pass over the scored runs: each line is read, split and parsed
 * once and fed to the three gate chains; preference then pairs from its spilled rows. Every output
 * is committed only when all three succeeded. Byte-identical to the three commands run alone.
 */
export function runExportAll(run: ExportAllRun): Promise<ExportAllResult> {
  const targets = Object.fromEntries(STAGES.map((stage) => [stage, run.targets?.[stage] ?? standardTargets(run.root, stage)])) as Record<
    (typeof STAGES)[number],
    { output: OutputTarget; quarantine: OutputTarget }
  >;
  return withEvidenceIndex(run, async (indexLookup) => {
    const lookup = lastAnswerCached(indexLookup);
    const stats: ExportAllResult = { sft: new StageStats(), rag: new StageStats(), preference: new StageStats() };
    const pairer = new PreferencePairer();
    const withStage = <R>(stage: (typeof STAGES)[number], work: (quarantine: QuarantineWriter, output: Writable) => Promise<R>): Promise<R> =>
      withQuarantine(targets[stage].quarantine, stats[stage], stage, run.recordedAt, (quarantine) =>
        withOutput(targets[stage].output, stats[stage], (output) => work(quarantine, output)),
      );
    await withStage('sft', (sftQuarantine, sftOutput) =>
      withStage('rag', (ragQuarantine, ragOutput) =>
        withStage('preference', async (preferenceQuarantine, preferenceOutput) => {
          const branches: Array<FanOutBranch<string> | FanOutBranch<PreferenceRow | null>> = [
            { row: sftRow(run, lookup, stats.sft), quarantine: sftQuarantine, stats: stats.sft, accept: (lines: string[]) => writeLines(sftOutput, lines) },
            { row: ragRow(run, lookup, stats.rag), quarantine: ragQuarantine, stats: stats.rag, accept: (lines: string[]) => writeLines(ragOutput, lines) },
            { row: pairer.admit, quarantine: preferenceQuarantine, stats: stats.preference, accept: pairer.spill },
          ];
          const batches = Readable.from(readLineBatches(run.inputs, { maxLineBytes: run.maxLineBytes, digests: stats.sft.inputs, onBytes: run.onBytes }), {
            objectMode: true,
            highWaterMark: BATCH_HIGH_WATER_MARK,
          });
          await pipeline(batches, new FanOutStage(branches as Array<FanOutBranch<unknown>>));
          stats.rag.inputs.push(...stats.sft.inputs);
          stats.preference.inputs.push(...stats.sft.inputs);
          await pairer.writePairs(preferenceOutput, preferenceQuarantine, stats.preference, { lookup, recordedAt: run.recordedAt, format: 'spec' });
        }),
      ),
    );
    return stats;
  });
}

import { EvidenceIndex, type IndexReport } from '../src/io/evidence-index.js';
import { sftRow, type SftOptions } from '../src/stages/sft.js';
import type { StageStats } from '../src/stages/stats.js';
import { runRowStage, type RowStageRun } from './row-export.js';

export interface SftRun extends Omit<RowStageRun, 'stage'>, SftOptions {
  evidence: string;
  root: string;
  /** Told the index build's report before the export starts (e.g. for the stderr line). */
  onIndexReady?: (report: IndexReport) => void;
}

/** The SFT export (SPEC §2): scored runs joined with their evidence through the on-disk index. */
export async function runSft(run: SftRun): Promise<{ stats: StageStats; index: IndexReport }> {
  const { index, report } = await EvidenceIndex.open(run.evidence, { root: run.root, maxLineBytes: run.maxLineBytes });
  try {
    run.onIndexReady?.(report);
    const stats = await runRowStage({ ...run, stage: 'sft' }, (stageStats) => sftRow(run, (id) => index.get(id), stageStats));
    return { stats, index: report };
  } finally {
    await index.close();
  }
}

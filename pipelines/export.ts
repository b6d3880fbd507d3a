import { EvidenceIndex, type IndexReport } from '../src/io/evidence-index.js';
import type { EvidenceLookup } from '../src/stages/export-row.js';
import { ragRow, type RagOptions } from '../src/stages/rag.js';
import type { RowFunction } from '../src/stages/row-stage.js';
import { sftRow, type SftOptions } from '../src/stages/sft.js';
import type { StageStats } from '../src/stages/stats.js';
import { runRowStage, type RowStageRun } from './row-export.js';

export interface ExportRun extends Omit<RowStageRun, 'stage'> {
  evidence: string;
  root: string;
  /** Told the index build's report before the export starts (e.g. for the stderr line). */
  onIndexReady?: (report: IndexReport) => void;
}

export interface ExportResult {
  stats: StageStats;
  index: IndexReport;
}

/** Opens (building or refreshing) the evidence index, runs `work` with it, and always closes it. */
export async function withEvidenceIndex<R>(run: Pick<ExportRun, 'evidence' | 'root' | 'maxLineBytes' | 'onIndexReady'>, work: (lookup: EvidenceLookup, index: IndexReport) => Promise<R>): Promise<R> {
  const { index, report } = await EvidenceIndex.open(run.evidence, { root: run.root, maxLineBytes: run.maxLineBytes });
  try {
    run.onIndexReady?.(report);
    return await work((runId) => index.get(runId), report);
  } finally {
    await index.close();
  }
}

function runJoinedExport(run: ExportRun, stage: 'sft' | 'rag', makeRow: (lookup: EvidenceLookup, stats: StageStats) => RowFunction): Promise<ExportResult> {
  return withEvidenceIndex(run, async (lookup, index) => {
    const stats = await runRowStage({ ...run, stage }, (stageStats) => makeRow(lookup, stageStats));
    return { stats, index };
  });
}

/** The SFT export (SPEC §2): scored runs joined with their evidence through the on-disk index. */
export const runSft = (run: ExportRun & SftOptions): Promise<ExportResult> => runJoinedExport(run, 'sft', (lookup, stats) => sftRow(run, lookup, stats));

/** The RAG export (SPEC §2, RAG rules). */
export const runRag = (run: ExportRun & RagOptions): Promise<ExportResult> => runJoinedExport(run, 'rag', (lookup, stats) => ragRow(run, lookup, stats));

import type { DatasetStage, PairStage, StageDefinition } from '../engine/stage.js';
import type { RunSummary } from '../receipts.js';
import { collectStage } from './collect.js';
import { preferenceStage } from './preference.js';
import { ragStage } from './rag.js';
import { scoreStage } from './score.js';
import { sftStage } from './sft.js';

/**
 * Every stage, in the order run-all runs them: the one list the command line, export-all, run-all,
 * health and the receipts enumerate. A new dataset is one stage file (and its schema) added here.
 */
export const STAGES: readonly StageDefinition[] = [collectStage, scoreStage, ragStage, sftStage, preferenceStage];

/** The dataset exports, in the order summaries list the datasets (and export-all writes them). */
export const EXPORT_STAGES: ReadonlyArray<DatasetStage | PairStage> = [sftStage, ragStage, preferenceStage];

export function stageNamed(name: string): StageDefinition | undefined {
  return STAGES.find((stage) => stage.name === name);
}

/** The rows a run summary says an export wrote. */
export const datasetRows = (summary: Pick<RunSummary, 'datasets'>, stage: StageDefinition): number => summary.datasets[stage.name as keyof RunSummary['datasets']];

/** `sft 12, rag 7, preference 3`: a summary's rows per dataset in its order, each `shown` (summary.md plain, the report page with digit groups). */
export const datasetsLine = (summary: Pick<RunSummary, 'datasets'>, shown: (rows: number) => string = String): string =>
  EXPORT_STAGES.map((stage) => `${stage.name} ${shown(datasetRows(summary, stage))}`).join(', ');

import type { DatasetStage, PairStage, StageDefinition } from '../engine/stage.js';
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

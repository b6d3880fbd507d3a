import type { StageStats } from './stats.js';
import { SFT_FORBIDDEN_CATEGORIES } from '../core/gates.js';

/** Stage names in receipts and summaries (SPEC §6). */
export const RUN_STAGES = ['collect', 'score', 'export-rag', 'export-sft', 'export-preference'] as const;
export type RunStage = (typeof RUN_STAGES)[number];

export interface StageValidation {
  passed: boolean;
  errors: string[];
  warnings: string[];
}

/**
 * Checks the pipeline's own promises for one stage (SPEC §6): counts add up (preference with its
 * unpaired term), no forbidden category in SFT (re-checked from what was written), no rejected
 * playbook, no self-pair or equal texts among pairs. Quarantined input rows are warnings, listed by
 * reason; they never fail a stage.
 */
export function validateStage(stage: RunStage, stats: StageStats): StageValidation {
  const errors = [...stats.violations];
  if (stage === 'export-preference') {
    const accounted = stats.quarantined + (stats.paired ?? 0) + (stats.unpaired ?? 0);
    if (stats.in !== accounted) errors.push(`counts do not add up: in=${stats.in} but quarantined + paired + unpaired = ${accounted}`);
  } else if (stats.in !== stats.out + stats.quarantined) {
    errors.push(`counts do not add up: in=${stats.in} but out + quarantined = ${stats.out + stats.quarantined}`);
  }
  if (stage === 'export-sft') {
    for (const category of stats.byCategory.keys()) if (SFT_FORBIDDEN_CATEGORIES.has(category)) errors.push(`SFT output holds quality_score ${category}`);
  }
  if (stage === 'export-rag' && stats.byCategory.has('rejected')) errors.push('RAG output holds a rejected playbook');
  const warnings = [...stats.byReason.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([reason, n]) => `quarantined ${n} ${n === 1 ? 'row' : 'rows'}: ${reason}`);
  return { passed: errors.length === 0, errors, warnings };
}

import type { StageValidation } from '../receipts.js';
import type { PairCounts, StageCounts } from './counts.js';
import type { StageDefinition } from './stage.js';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Checks a stage's own promises on what it counted: the broken promises seen while writing, then its
 * declared invariants (counts add up, no forbidden category written, …). Quarantined input rows are
 * warnings, listed by reason; they never fail a stage.
 */
export function validateStage(stage: StageDefinition, counts: StageCounts): StageValidation {
  const errors = [...counts.violations];
  if (stage.kind === 'pairs') for (const invariant of stage.invariants) errors.push(...invariant(counts as PairCounts));
  else for (const invariant of stage.invariants) errors.push(...invariant(counts));
  const warnings = [...counts.byReason.entries()]
    .sort(([a], [b]) => byString(a, b))
    .map(([reason, n]) => `quarantined ${n} ${n === 1 ? 'row' : 'rows'}: ${reason}`);
  return { passed: errors.length === 0, errors, warnings };
}

import type { StageValidation } from '../receipts.js';
import type { PairCounts, StageCounts } from './counts.js';
import type { StageDefinition } from './stage.js';
import { byCodeUnits } from '../core/text.js';

/**
 * Checks a stage's own promises on what it counted: the broken promises seen while writing, then its
 * declared invariants (counts add up, no forbidden category written, …). Quarantined input rows are
 * warnings, listed by reason, and so is each entry of a folder read that was not read (a dangling
 * link, a FIFO); they never fail a stage.
 */
export function validateStage(stage: StageDefinition, counts: StageCounts): StageValidation {
  const errors = [...counts.violations];
  if (stage.kind === 'pairs') for (const invariant of stage.invariants) errors.push(...invariant(counts as PairCounts));
  else for (const invariant of stage.invariants) errors.push(...invariant(counts));
  const warnings = [...counts.byReason.entries()]
    .sort(([a], [b]) => byCodeUnits(a, b))
    .map(([reason, n]) => `quarantined ${n} ${n === 1 ? 'row' : 'rows'}: ${reason}`);
  warnings.push(...counts.skipped.map((entry) => `not read: ${entry}`));
  return { passed: errors.length === 0, errors, warnings };
}

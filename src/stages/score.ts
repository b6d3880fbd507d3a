import { isJsonObject } from '../core/gates.js';
import { reject } from '../core/rejection.js';
import { builtinRuleset, isDefaultRule, type Scorer } from '../core/ruleset.js';
import { stemOf } from '../core/stem.js';
import { toScoredRun } from '../core/scorer.js';
import { keep, type RowFunction } from '../engine/row.js';
import { rowsAddUp, type TreeStage } from '../engine/stage.js';
import { writtenRows } from '../engine/written.js';
import { LAYOUT } from '../layout.js';
import { describeErrors, validators } from '../schemas/validators.js';

/**
 * Score one evidence row: the EvidenceRecord schema, then the pure scorer (the built-in rules unless
 * `scorer` is given). A row its source has no rule for is kept with that source, for the stage's notice.
 */
export function scoreRow(recordedAt: string, scorer: Scorer = builtinRuleset().scorer): RowFunction {
  const { evidenceRecord } = validators();
  return (value) => {
    if (!isJsonObject(value)) return reject('schema_violation', 'row is not a JSON object');
    if (!evidenceRecord(value)) return reject('schema_violation', ...describeErrors(evidenceRecord.errors));
    const scored = toScoredRun(value, recordedAt, scorer);
    const sourceFile = value.provenance.source_file;
    return keep(`${JSON.stringify(scored)}\n`, scored.category, undefined, isDefaultRule(scorer.ruleFor(sourceFile)) ? stemOf(sourceFile) : undefined);
  };
}

const SCORE_FLAGS = {};

/** score: every evidence file gives a scored file at the same relative path under data/scored-runs. */
export const scoreStage: TreeStage<typeof SCORE_FLAGS> = {
  kind: 'tree',
  name: 'score',
  receipt: 'score',
  summary: 'data/evidence → data/scored-runs (one ScoredRun per evidence row)',
  reads: 'evidence',
  writes: LAYOUT.scoredRuns,
  layout: 'mirror',
  filterOnly: [],
  flags: SCORE_FLAGS,
  sampleMetric: undefined,
  usesRules: true,
  split: { by: 'rows', duplicatesBy: 'none' },
  invariants: [rowsAddUp],
  written: writtenRows('scoredRun', { countedAs: (row) => row.category }),
  rows: ({ recordedAt, ruleset }) => {
    const row = scoreRow(recordedAt, ruleset.scorer);
    return () => row;
  },
};

import { reject } from '../core/rejection.js';
import { builtinRuleset, type Scorer } from '../core/ruleset.js';
import { toScoredRun } from '../core/scorer.js';
import { isJsonObject } from '../core/gates.js';
import { describeErrors, validators } from '../schemas/validators.js';
import type { RowFunction } from './row-stage.js';
import type { StageStats } from './stats.js';

/** Score one evidence row (SPEC §3): EvidenceRecord schema, then the pure scorer (the built-in rules unless `scorer` is given). */
export function scoreRow(recordedAt: string, stats: StageStats, scorer: Scorer = builtinRuleset().scorer): RowFunction {
  const { evidenceRecord } = validators();
  return (value) => {
    if (!isJsonObject(value)) return reject('schema_violation', 'row is not a JSON object');
    if (!evidenceRecord(value)) return reject('schema_violation', ...describeErrors(evidenceRecord.errors));
    const scored = toScoredRun(value, recordedAt, scorer);
    stats.countCategory(scored.category);
    return `${JSON.stringify(scored)}\n`;
  };
}

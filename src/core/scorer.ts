import type { EvidenceRecord, ScoredRun } from '../records.js';
import { canonicalHash } from './canonical.js';
import { builtinRuleset, scoreWith, type Score, type Scorer } from './ruleset.js';

export { SCORER_VERSION, type Score } from './ruleset.js';

/**
 * The Success Scorer (docs/scoring.md) with the built-in ruleset: pure, deterministic, never throws on any
 * signals, never mutates its input. scoreWith takes any other ruleset's scorer.
 */
export function scoreEvidence(evidence: Pick<EvidenceRecord, 'provenance' | 'signals'>): Score {
  return scoreWith(builtinRuleset().scorer, evidence);
}

/** The ScoredRun of one evidence record (docs/records.md), fields in the documented order, scored by `scorer` (the built-in rules by default). */
export function toScoredRun(evidence: EvidenceRecord, recordedAt: string, scorer: Scorer = builtinRuleset().scorer): ScoredRun {
  const { category, reasons, source_class } = scoreWith(scorer, evidence);
  const scorerVersion = scorer.scorerVersion as ScoredRun['scorer_version'];
  const sigHash = canonicalHash({ category, evidence_sig_hash: evidence.provenance.sig_hash, reasons, scorer_version: scorerVersion });
  return {
    schema_version: 1,
    evidence_run_id: evidence.run_id,
    task_id: evidence.task_id,
    category,
    reasons,
    scorer_version: scorerVersion,
    source_class,
    provenance: {
      source_file: evidence.provenance.source_file,
      line_offset: evidence.provenance.line_offset,
      sig_hash: sigHash,
      recorded_at: recordedAt,
    },
  };
}

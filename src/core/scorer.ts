import type { Category, EvidenceRecord, ScoredRun, SourceClass } from '../records.js';
import { canonicalHash } from './canonical.js';
import { isJsonObject, type JsonObject } from './gates.js';
import { stemOf } from './stem.js';

export const SCORER_VERSION = 'v1.0.0';

export interface Score {
  category: Category;
  reasons: string[];
  source_class: SourceClass;
}

type Verdict = Pick<Score, 'category' | 'reasons'>;
type SubScorer = (signals: JsonObject) => Verdict;

const verdict = (category: Category, ...reasons: string[]): Verdict => ({ category, reasons });
const review = (...reasons: string[]): Verdict => verdict('needs_human_review', ...reasons);

const has = (signals: JsonObject, name: string): boolean => Object.hasOwn(signals, name);
/** `1.0` parses to 1, so it is an integer; `true` and `"1"` are not. */
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);
/** Reason values as JavaScript's String() writes them (SPEC §3). */
const shown = (value: unknown): string => String(value);

/** `<prefix>_<signal>_missing` or `_wrong_type`, for the signal that decided. */
const missing = (prefix: string, signal: string): string => `${prefix}_${signal}_missing`;
const wrongType = (prefix: string, signal: string): string => `${prefix}_${signal}_wrong_type`;

/** An integer signal's reason, or the missing/wrong-type reason; undefined when it is an integer. */
function integerProblem(signals: JsonObject, prefix: string, name: string): string | undefined {
  if (!has(signals, name)) return missing(prefix, name);
  return isInteger(signals[name]) ? undefined : wrongType(prefix, name);
}

function scoreScrum(signals: JsonObject): Verdict {
  const p = 'scrum';
  if (!has(signals, 'accepted_on_attempt')) return review(missing(p, 'accepted_on_attempt'));
  const attempt = signals['accepted_on_attempt'];
  if (attempt === null) {
    const head = 'scrum_accepted_on_attempt=null';
    const problem = integerProblem(signals, p, 'attempts') ?? integerProblem(signals, p, 'max_attempts');
    if (problem !== undefined) return review(head, problem);
    const attempts = signals['attempts'] as number;
    const max = signals['max_attempts'] as number;
    const reasons = [head, `scrum_attempts=${shown(attempts)}`, `scrum_max_attempts=${shown(max)}`];
    return verdict(attempts >= max ? 'rejected' : 'needs_human_review', ...reasons);
  }
  if (!isInteger(attempt)) return review(wrongType(p, 'accepted_on_attempt'));
  const head = `scrum_accepted_on_attempt=${shown(attempt)}`;
  if (attempt === 1) return verdict('accepted', head);
  const problem = integerProblem(signals, p, 'max_attempts');
  if (problem !== undefined) return review(head, problem);
  const max = signals['max_attempts'] as number;
  const reasons = [head, `scrum_max_attempts=${shown(max)}`];
  return verdict(attempt >= 2 && attempt <= max ? 'partially_accepted' : 'needs_human_review', ...reasons);
}

/** A string signal looked up in a table; other strings go to review, other types are wrong. */
function scoreByString(prefix: string, name: string, table: Readonly<Record<string, Category>>): SubScorer {
  return (signals) => {
    if (!has(signals, name)) return review(missing(prefix, name));
    const value = signals[name];
    if (typeof value !== 'string') return review(wrongType(prefix, name));
    const reason = `${prefix}_${name}=${value}`;
    return verdict(Object.hasOwn(table, value) ? table[value]! : 'needs_human_review', reason);
  };
}

const scoreObserver = scoreByString('observer', 'verdict', { accept: 'accepted', cycle: 'partially_accepted', reject: 'rejected' });

const scoreSeverity = scoreByString('audit', 'max_severity', {
  none: 'accepted',
  info: 'accepted',
  low: 'partially_accepted',
  medium: 'partially_accepted',
  high: 'rejected',
  critical: 'rejected',
});

function scoreAudit(signals: JsonObject): Verdict {
  if (has(signals, 'max_severity') && signals['max_severity'] !== null) return scoreSeverity(signals);
  // Legacy rows carry a boolean `passed` instead of a severity.
  if (!has(signals, 'passed')) return review('audit_max_severity_missing', 'audit_passed_missing');
  const passed = signals['passed'];
  if (typeof passed !== 'boolean') return review('audit_max_severity_missing', 'audit_passed_wrong_type');
  return verdict(passed ? 'accepted' : 'rejected', `audit_passed=${shown(passed)}`);
}

function scoreAutoApply(signals: JsonObject): Verdict {
  const p = 'auto_apply';
  if (!has(signals, 'apply_status')) return review(missing(p, 'apply_status'));
  const status = signals['apply_status'];
  if (typeof status !== 'string') return review(wrongType(p, 'apply_status'));
  const head = `auto_apply_apply_status=${status}`;
  if (status === 'applied') {
    if (!has(signals, 'tests_passed')) return verdict('partially_accepted', head, missing(p, 'tests_passed'));
    const tests = signals['tests_passed'];
    return verdict(tests === true ? 'accepted' : 'partially_accepted', head, `auto_apply_tests_passed=${shown(tests)}`);
  }
  return verdict(status === 'reverted' || status === 'failed' ? 'rejected' : 'needs_human_review', head);
}

function scoreContract(signals: JsonObject): Verdict {
  const p = 'contract';
  const recommendation = signals['recommendation'];
  if (!has(signals, 'recommendation') || recommendation === null) return review(missing(p, 'recommendation'));
  if (typeof recommendation !== 'string') return review(wrongType(p, 'recommendation'));
  if (recommendation === '') return review('contract_recommendation_empty');
  const head = `contract_recommendation=${recommendation}`;
  const markers = has(signals, 'risk_markers') ? signals['risk_markers'] : null;
  if (markers === null) return verdict('partially_accepted', head, 'contract_risk_markers=0');
  if (!Array.isArray(markers)) return review(head, wrongType(p, 'risk_markers'));
  return verdict(markers.length > 0 ? 'accepted' : 'partially_accepted', head, `contract_risk_markers=${markers.length}`);
}

function scoreOutcome(signals: JsonObject): Verdict {
  const p = 'outcome';
  if (!has(signals, 'outcome')) return review(missing(p, 'outcome'));
  const outcome = signals['outcome'];
  if (typeof outcome !== 'string') return review(wrongType(p, 'outcome'));
  const head = `outcome_outcome=${outcome}`;
  if (outcome === 'success') {
    if (!has(signals, 'citations')) return review(head, missing(p, 'citations'));
    const citations = signals['citations'];
    if (!isInteger(citations) || citations < 0) return review(head, wrongType(p, 'citations'));
    return verdict(citations >= 1 ? 'accepted' : 'partially_accepted', head, `outcome_citations=${shown(citations)}`);
  }
  if (outcome === 'partial') return verdict('partially_accepted', head);
  if (outcome === 'failure') return verdict('rejected', head);
  return review(head);
}

function scoreMode(signals: JsonObject): Verdict {
  const p = 'mode';
  if (!has(signals, 'grounded_fraction')) return review(missing(p, 'grounded_fraction'));
  const fraction = signals['grounded_fraction'];
  if (typeof fraction !== 'number') return review(wrongType(p, 'grounded_fraction'));
  const category: Category = fraction >= 0.9 ? 'accepted' : fraction >= 0.6 ? 'partially_accepted' : 'rejected';
  return verdict(category, `mode_grounded_fraction=${shown(fraction)}`);
}

/** The rule of each source stem (SPEC §3); any other stem is the extraction class. */
const RULES: ReadonlyMap<string, { sourceClass: SourceClass; score: SubScorer }> = new Map([
  ['scrum_reviews', { sourceClass: 'verdict', score: scoreScrum }],
  ['observer_reviews', { sourceClass: 'verdict', score: scoreObserver }],
  ['audits', { sourceClass: 'verdict', score: scoreAudit }],
  ['auto_apply', { sourceClass: 'verdict', score: scoreAutoApply }],
  ['contract_analyses', { sourceClass: 'verdict', score: scoreContract }],
  ['outcomes', { sourceClass: 'telemetry', score: scoreOutcome }],
  ['mode_experiments', { sourceClass: 'telemetry', score: scoreMode }],
]);

/** The Success Scorer: pure, deterministic, never throws on any signals, never mutates its input. */
export function scoreEvidence(evidence: Pick<EvidenceRecord, 'provenance' | 'signals'>): Score {
  const rule = RULES.get(stemOf(evidence.provenance.source_file));
  if (rule === undefined) return { category: 'needs_human_review', reasons: ['extraction_class_no_verdict'], source_class: 'extraction' };
  const signals: unknown = evidence.signals;
  const { category, reasons } = isJsonObject(signals) ? rule.score(signals) : review('signals_missing');
  return { category, reasons, source_class: rule.sourceClass };
}

/** The ScoredRun of one evidence record (SPEC §1), fields in SPEC order. */
export function toScoredRun(evidence: EvidenceRecord, recordedAt: string): ScoredRun {
  const { category, reasons, source_class } = scoreEvidence(evidence);
  const sigHash = canonicalHash({ category, evidence_sig_hash: evidence.provenance.sig_hash, reasons, scorer_version: SCORER_VERSION });
  return {
    schema_version: 1,
    evidence_run_id: evidence.run_id,
    task_id: evidence.task_id,
    category,
    reasons,
    scorer_version: SCORER_VERSION,
    source_class,
    provenance: {
      source_file: evidence.provenance.source_file,
      line_offset: evidence.provenance.line_offset,
      sig_hash: sigHash,
      recorded_at: recordedAt,
    },
  };
}

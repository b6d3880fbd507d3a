/**
 * Frozen copies of the hand-written Success Scorer and instruction templates that the built-in
 * ruleset replaced, kept as test-only oracles: the property tests hold the data-driven built-in
 * ruleset equal to them on random inputs. Never change them to make a test pass; docs/scoring.md and docs/rules.md
 * step 6 are what they encode.
 */
import type { JoinedEvidence } from '../src/records.js';
import type { Category, EvidenceRecord, SourceClass } from '../src/records.js';
import { stemOf } from '../src/core/stem.js';

interface Score {
  category: Category;
  reasons: string[];
  source_class: SourceClass;
}

type JsonObject = Record<string, unknown>;
type Verdict = Pick<Score, 'category' | 'reasons'>;
type SubScorer = (signals: JsonObject) => Verdict;

/** Every call builds a fresh reasons array, so callers may keep or change what they get. */
const verdict = (category: Category, ...reasons: string[]): Verdict => ({ category, reasons });
const review = (...reasons: string[]): Verdict => verdict('needs_human_review', ...reasons);

/** A signals object is a plain, non-array object. Kept here so the scorer imports no schema machinery. */
const isSignalsObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Absent means not an own property: inherited names and a JSON `"__proto__"` key's contents never count. */
const has = (signals: JsonObject, name: string): boolean => Object.hasOwn(signals, name);
/** `1.0` parses to 1, so it is an integer; `true` and `"1"` are not. */
const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/** `<prefix>_<signal>_missing` or `_wrong_type`, for the signal that decided. */
const missing = (prefix: string, signal: string): string => `${prefix}_${signal}_missing`;
const wrongType = (prefix: string, signal: string): string => `${prefix}_${signal}_wrong_type`;

/**
 * A reason value as JavaScript's String() writes it (docs/scoring.md), for any parsed JSON value. String()
 * itself throws on two JSON values: an object with an own non-callable `toString` (`{"toString":1}`)
 * and arrays nested deeper than the call stack. Here objects read as Object.prototype.toString
 * writes them and arrays are joined iteratively, with the same text String() gives when it succeeds.
 */
function shown(value: unknown): string {
  return Array.isArray(value) ? shownArray(value) : shownLeaf(value);
}

function shownLeaf(value: unknown): string {
  return typeof value === 'object' && value !== null ? '[object Object]' : String(value);
}

/** Array.prototype.join(',') all the way down: null elements are empty, nested arrays flatten in place. */
function shownArray(root: readonly unknown[]): string {
  const open: { items: readonly unknown[]; next: number }[] = [{ items: root, next: 0 }];
  let out = '';
  while (open.length > 0) {
    const top = open[open.length - 1]!;
    if (top.next === top.items.length) {
      open.pop();
      continue;
    }
    if (top.next > 0) out += ',';
    const item = top.items[top.next++];
    if (Array.isArray(item)) open.push({ items: item, next: 0 });
    else if (item !== null && item !== undefined) out += shownLeaf(item);
  }
  return out;
}

/** An integer signal, or the reason it is missing or wrong-typed (a string). */
function readInteger(signals: JsonObject, prefix: string, name: string): number | string {
  if (!has(signals, name)) return missing(prefix, name);
  const value = signals[name];
  return isInteger(value) ? value : wrongType(prefix, name);
}

function scoreScrum(signals: JsonObject): Verdict {
  if (!has(signals, 'accepted_on_attempt')) return review(missing('scrum', 'accepted_on_attempt'));
  const attempt = signals['accepted_on_attempt'];
  if (attempt === null) return scoreScrumNeverAccepted(signals);
  if (!isInteger(attempt)) return review(wrongType('scrum', 'accepted_on_attempt'));
  const head = `scrum_accepted_on_attempt=${shown(attempt)}`;
  if (attempt === 1) return verdict('accepted', head);
  const max = readInteger(signals, 'scrum', 'max_attempts');
  if (typeof max === 'string') return review(head, max);
  const category: Category = attempt >= 2 && attempt <= max ? 'partially_accepted' : 'needs_human_review';
  return verdict(category, head, `scrum_max_attempts=${shown(max)}`);
}

/** An explicit null: rejected once the attempts ran out; attempts is checked before max_attempts. */
function scoreScrumNeverAccepted(signals: JsonObject): Verdict {
  const head = 'scrum_accepted_on_attempt=null';
  const attempts = readInteger(signals, 'scrum', 'attempts');
  if (typeof attempts === 'string') return review(head, attempts);
  const max = readInteger(signals, 'scrum', 'max_attempts');
  if (typeof max === 'string') return review(head, max);
  const category: Category = attempts >= max ? 'rejected' : 'needs_human_review';
  return verdict(category, head, `scrum_attempts=${shown(attempts)}`, `scrum_max_attempts=${shown(max)}`);
}

/** A string signal looked up in a table; other strings go to review, other types are wrong. */
function scoreByString(prefix: string, name: string, table: Readonly<Record<string, Category>>): SubScorer {
  return (signals) => {
    if (!has(signals, name)) return review(missing(prefix, name));
    const value = signals[name];
    if (typeof value !== 'string') return review(wrongType(prefix, name));
    // hasOwn: a value such as "toString" must not find Object.prototype's members.
    return verdict(Object.hasOwn(table, value) ? table[value]! : 'needs_human_review', `${prefix}_${name}=${value}`);
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
  if (!has(signals, 'passed')) return review(missing('audit', 'max_severity'), missing('audit', 'passed'));
  const passed = signals['passed'];
  if (typeof passed !== 'boolean') return review(missing('audit', 'max_severity'), wrongType('audit', 'passed'));
  return verdict(passed ? 'accepted' : 'rejected', `audit_passed=${shown(passed)}`);
}

function scoreAutoApply(signals: JsonObject): Verdict {
  if (!has(signals, 'apply_status')) return review(missing('auto_apply', 'apply_status'));
  const status = signals['apply_status'];
  if (typeof status !== 'string') return review(wrongType('auto_apply', 'apply_status'));
  const head = `auto_apply_apply_status=${status}`;
  if (status === 'reverted' || status === 'failed') return verdict('rejected', head);
  if (status !== 'applied') return review(head);
  // Only `true` accepts; any other value, absent included, is a partial apply.
  if (!has(signals, 'tests_passed')) return verdict('partially_accepted', head, missing('auto_apply', 'tests_passed'));
  const tests = signals['tests_passed'];
  return verdict(tests === true ? 'accepted' : 'partially_accepted', head, `auto_apply_tests_passed=${shown(tests)}`);
}

function scoreContract(signals: JsonObject): Verdict {
  const recommendation = has(signals, 'recommendation') ? signals['recommendation'] : null;
  if (recommendation === null) return review(missing('contract', 'recommendation'));
  if (typeof recommendation !== 'string') return review(wrongType('contract', 'recommendation'));
  if (recommendation === '') return review('contract_recommendation_empty');
  const head = `contract_recommendation=${recommendation}`;
  const markers = has(signals, 'risk_markers') ? signals['risk_markers'] : null;
  if (markers === null) return verdict('partially_accepted', head, 'contract_risk_markers=0');
  if (!Array.isArray(markers)) return review(head, wrongType('contract', 'risk_markers'));
  return verdict(markers.length > 0 ? 'accepted' : 'partially_accepted', head, `contract_risk_markers=${markers.length}`);
}

function scoreOutcome(signals: JsonObject): Verdict {
  if (!has(signals, 'outcome')) return review(missing('outcome', 'outcome'));
  const outcome = signals['outcome'];
  if (typeof outcome !== 'string') return review(wrongType('outcome', 'outcome'));
  const head = `outcome_outcome=${outcome}`;
  if (outcome === 'partial') return verdict('partially_accepted', head);
  if (outcome === 'failure') return verdict('rejected', head);
  if (outcome !== 'success') return review(head);
  if (!has(signals, 'citations')) return review(head, missing('outcome', 'citations'));
  const citations = signals['citations'];
  if (!isInteger(citations) || citations < 0) return review(head, wrongType('outcome', 'citations'));
  return verdict(citations >= 1 ? 'accepted' : 'partially_accepted', head, `outcome_citations=${shown(citations)}`);
}

function scoreMode(signals: JsonObject): Verdict {
  if (!has(signals, 'grounded_fraction')) return review(missing('mode', 'grounded_fraction'));
  const fraction = signals['grounded_fraction'];
  if (typeof fraction !== 'number') return review(wrongType('mode', 'grounded_fraction'));
  const category: Category = fraction >= 0.9 ? 'accepted' : fraction >= 0.6 ? 'partially_accepted' : 'rejected';
  return verdict(category, `mode_grounded_fraction=${shown(fraction)}`);
}

/** The rule of each source stem (docs/scoring.md); any other stem is the extraction class. */
const RULES: ReadonlyMap<string, { source_class: SourceClass; score: SubScorer }> = new Map([
  ['scrum_reviews', { source_class: 'verdict', score: scoreScrum }],
  ['observer_reviews', { source_class: 'verdict', score: scoreObserver }],
  ['audits', { source_class: 'verdict', score: scoreAudit }],
  ['auto_apply', { source_class: 'verdict', score: scoreAutoApply }],
  ['contract_analyses', { source_class: 'verdict', score: scoreContract }],
  ['outcomes', { source_class: 'telemetry', score: scoreOutcome }],
  ['mode_experiments', { source_class: 'telemetry', score: scoreMode }],
]);

/** The Success Scorer: pure, deterministic, never throws on any signals, never mutates its input. */
export function handWrittenScore(evidence: Pick<EvidenceRecord, 'provenance' | 'signals'>): Score {
  const rule = RULES.get(stemOf(evidence.provenance.source_file));
  if (rule === undefined) return { category: 'needs_human_review', reasons: ['extraction_class_no_verdict'], source_class: 'extraction' };
  const signals: unknown = evidence.signals;
  const { category, reasons } = isSignalsObject(signals) ? rule.score(signals) : review('signals_missing');
  return { category, reasons, source_class: rule.source_class };
}

type Template = (evidence: JoinedEvidence, file: string) => string;

const withoutPrefix = (value: string, prefix: string): string => (value.startsWith(prefix) ? value.slice(prefix.length) : value);

/** The instruction of each source stem (docs/rules.md); values go in verbatim. */
const TEMPLATES: ReadonlyMap<string, Template> = new Map<string, Template>([
  ['scrum_reviews', (_, f) => `Review the file '${f}' against the PRD + change-proposal context. Produce a forensic audit with findings, severity, confidence, patches.`],
  ['mode_experiments', (e, f) => `Run task_class='${e.task_id}' for file '${f}'. Produce the mode-runner's expected output shape.`],
  ['auto_apply', (_, f) => `Auto-apply: emit a 6-line surgical patch for '${f}' based on the latest scrum review findings.`],
  ['audits', (e) => `Audit phase '${withoutPrefix(e.task_id, 'phase:')}' and report findings with severity.`],
  ['observer_reviews', (_, f) => `Observer-review the latest attempt on '${f}'. Verdict: accept | reject | cycle.`],
  ['contract_analyses', (e) => {
    const permit = withoutPrefix(e.task_id, 'permit:');
    return e.contractor !== ''
      ? `Analyze contractor '${e.contractor}' for permit '${permit}'. Recommend with risk markers.`
      : `Analyze permit '${permit}'. Recommend with risk markers.`;
  }],
  ['outcomes', () => 'Run scenario; report per-event outcome with citations.'],
]);

export function handWrittenInstruction(evidence: JoinedEvidence): string {
  const stem = stemOf(evidence.source_file);
  const file = evidence.source_files[0] ?? '';
  const template = TEMPLATES.get(stem);
  return template ? template(evidence, file) : `Source '${stem}' run; produce the appropriate output for this task type.`;
}

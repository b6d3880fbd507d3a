import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { canonicalHash } from '../src/core/canonical.js';
import { SCORER_VERSION, scoreEvidence, toScoredRun, type Score } from '../src/core/scorer.js';
import type { Category, EvidenceRecord, SourceClass } from '../src/records.js';

type Scorable = Pick<EvidenceRecord, 'provenance' | 'signals'>;
/** signals as JSON text (undefined: no signals field), expected category, expected reasons. */
type Row = [signals: string | undefined, category: Category, reasons: string[]];

const provenance = (sourceFile: string): EvidenceRecord['provenance'] => ({
  source_file: sourceFile,
  line_offset: 0,
  sig_hash: '0'.repeat(64),
  recorded_at: '2026-05-01T00:00:00Z',
});

/** Signals are parsed from JSON text, as the pipeline sees them: 1.0 is 1, "__proto__" an own key, 1e400 Infinity. */
function scorable(sourceFile: string, signalsJson: string | undefined): Scorable {
  if (signalsJson === undefined) return { provenance: provenance(sourceFile) };
  const parsed: unknown = JSON.parse(signalsJson);
  // The scorer must survive what the type forbids (null, arrays, scalars), so the cast is deliberate.
  return { provenance: provenance(sourceFile), signals: parsed as EvidenceRecord['signals'] };
}

const score = (stem: string, signalsJson: string | undefined): Score => scoreEvidence(scorable(`data/_kb/${stem}.jsonl`, signalsJson));

/** Test names stay readable when a row holds a 100 000-deep array. */
const shortName = (name: string): string => (name.length > 160 ? `${name.slice(0, 80)}…${name.slice(-80)}` : name);

/** One test per row: the exact category, reasons and source class. */
function truthTable(stem: string, sourceClass: SourceClass, rows: Row[]): void {
  describe(`${stem} (${sourceClass})`, () => {
    for (const [signals, category, reasons] of rows) {
      test(shortName(`${signals ?? '<no signals>'} → ${category} [${reasons.join(', ')}]`), () => {
        assert.deepEqual(score(stem, signals), { category, reasons, source_class: sourceClass });
      });
    }
  });
}

const SCRUM: Row[] = [
  ['{"accepted_on_attempt":1}', 'accepted', ['scrum_accepted_on_attempt=1']],
  ['{"accepted_on_attempt":1.0}', 'accepted', ['scrum_accepted_on_attempt=1']],
  ['{"accepted_on_attempt":1,"max_attempts":"x","attempts":null}', 'accepted', ['scrum_accepted_on_attempt=1']],
  ['{"accepted_on_attempt":2,"max_attempts":3}', 'partially_accepted', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":3,"max_attempts":3}', 'partially_accepted', ['scrum_accepted_on_attempt=3', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":2.0,"max_attempts":2.0}', 'partially_accepted', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts=2']],
  ['{"accepted_on_attempt":4,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=4', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":2,"max_attempts":1}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts=1']],
  ['{"accepted_on_attempt":0,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=0', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":-2,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=-2', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":2}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts_missing']],
  ['{"accepted_on_attempt":0}', 'needs_human_review', ['scrum_accepted_on_attempt=0', 'scrum_max_attempts_missing']],
  ['{"accepted_on_attempt":2,"max_attempts":"3"}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts_wrong_type']],
  ['{"accepted_on_attempt":2,"max_attempts":3.5}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts_wrong_type']],
  ['{"accepted_on_attempt":2,"max_attempts":true}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts_wrong_type']],
  ['{"accepted_on_attempt":2,"max_attempts":null}', 'needs_human_review', ['scrum_accepted_on_attempt=2', 'scrum_max_attempts_wrong_type']],
  ['{}', 'needs_human_review', ['scrum_accepted_on_attempt_missing']],
  ['{"attempts":3,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt_missing']],
  ['{"__proto__":{"accepted_on_attempt":1}}', 'needs_human_review', ['scrum_accepted_on_attempt_missing']],
  ['{"accepted_on_attempt":"1"}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":true}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":1.5,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":[1]}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":{}}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":1e400}', 'needs_human_review', ['scrum_accepted_on_attempt_wrong_type']],
  ['{"accepted_on_attempt":null,"attempts":3,"max_attempts":3}', 'rejected', ['scrum_accepted_on_attempt=null', 'scrum_attempts=3', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":null,"attempts":4,"max_attempts":3}', 'rejected', ['scrum_accepted_on_attempt=null', 'scrum_attempts=4', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":null,"attempts":3.0,"max_attempts":3.0}', 'rejected', ['scrum_accepted_on_attempt=null', 'scrum_attempts=3', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":null,"attempts":2,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts=2', 'scrum_max_attempts=3']],
  ['{"accepted_on_attempt":null}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_missing']],
  ['{"accepted_on_attempt":null,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_missing']],
  ['{"accepted_on_attempt":null,"max_attempts":"3"}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_missing']],
  ['{"accepted_on_attempt":null,"attempts":"3"}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_wrong_type']],
  ['{"accepted_on_attempt":null,"attempts":true,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_wrong_type']],
  ['{"accepted_on_attempt":null,"attempts":null,"max_attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_attempts_wrong_type']],
  ['{"accepted_on_attempt":null,"attempts":3}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_max_attempts_missing']],
  ['{"accepted_on_attempt":null,"attempts":3,"max_attempts":"3"}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_max_attempts_wrong_type']],
  ['{"accepted_on_attempt":null,"attempts":3,"max_attempts":null}', 'needs_human_review', ['scrum_accepted_on_attempt=null', 'scrum_max_attempts_wrong_type']],
];

const OBSERVER: Row[] = [
  ['{"verdict":"accept"}', 'accepted', ['observer_verdict=accept']],
  ['{"verdict":"cycle"}', 'partially_accepted', ['observer_verdict=cycle']],
  ['{"verdict":"reject"}', 'rejected', ['observer_verdict=reject']],
  ['{"verdict":"Accept"}', 'needs_human_review', ['observer_verdict=Accept']],
  ['{"verdict":"maybe"}', 'needs_human_review', ['observer_verdict=maybe']],
  ['{"verdict":""}', 'needs_human_review', ['observer_verdict=']],
  ['{"verdict":"toString"}', 'needs_human_review', ['observer_verdict=toString']],
  ['{"verdict":"__proto__"}', 'needs_human_review', ['observer_verdict=__proto__']],
  ['{}', 'needs_human_review', ['observer_verdict_missing']],
  ['{"__proto__":{"verdict":"accept"}}', 'needs_human_review', ['observer_verdict_missing']],
  ['{"verdict":null}', 'needs_human_review', ['observer_verdict_wrong_type']],
  ['{"verdict":1}', 'needs_human_review', ['observer_verdict_wrong_type']],
  ['{"verdict":true}', 'needs_human_review', ['observer_verdict_wrong_type']],
  ['{"verdict":["accept"]}', 'needs_human_review', ['observer_verdict_wrong_type']],
  ['{"verdict":{"accept":true}}', 'needs_human_review', ['observer_verdict_wrong_type']],
];

const AUDITS: Row[] = [
  ['{"max_severity":"none"}', 'accepted', ['audit_max_severity=none']],
  ['{"max_severity":"info"}', 'accepted', ['audit_max_severity=info']],
  ['{"max_severity":"low"}', 'partially_accepted', ['audit_max_severity=low']],
  ['{"max_severity":"medium"}', 'partially_accepted', ['audit_max_severity=medium']],
  ['{"max_severity":"high"}', 'rejected', ['audit_max_severity=high']],
  ['{"max_severity":"critical"}', 'rejected', ['audit_max_severity=critical']],
  ['{"max_severity":"none","passed":false}', 'accepted', ['audit_max_severity=none']],
  ['{"max_severity":"HIGH"}', 'needs_human_review', ['audit_max_severity=HIGH']],
  ['{"max_severity":""}', 'needs_human_review', ['audit_max_severity=']],
  ['{"max_severity":"constructor","passed":true}', 'needs_human_review', ['audit_max_severity=constructor']],
  ['{"max_severity":5}', 'needs_human_review', ['audit_max_severity_wrong_type']],
  ['{"max_severity":false,"passed":true}', 'needs_human_review', ['audit_max_severity_wrong_type']],
  ['{"max_severity":[],"passed":true}', 'needs_human_review', ['audit_max_severity_wrong_type']],
  ['{"max_severity":{}}', 'needs_human_review', ['audit_max_severity_wrong_type']],
  ['{"passed":true}', 'accepted', ['audit_passed=true']],
  ['{"passed":false}', 'rejected', ['audit_passed=false']],
  ['{"max_severity":null,"passed":true}', 'accepted', ['audit_passed=true']],
  ['{"max_severity":null,"passed":false}', 'rejected', ['audit_passed=false']],
  ['{}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_missing']],
  ['{"max_severity":null}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_missing']],
  ['{"__proto__":{"passed":true}}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_missing']],
  ['{"passed":"true"}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_wrong_type']],
  ['{"passed":1}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_wrong_type']],
  ['{"max_severity":null,"passed":null}', 'needs_human_review', ['audit_max_severity_missing', 'audit_passed_wrong_type']],
];

const DEEP = 100_000;

const AUTO_APPLY: Row[] = [
  ['{"apply_status":"applied","tests_passed":true}', 'accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=true']],
  ['{"apply_status":"applied","tests_passed":false}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=false']],
  ['{"apply_status":"applied","tests_passed":null}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=null']],
  ['{"apply_status":"applied","tests_passed":"true"}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=true']],
  ['{"apply_status":"applied","tests_passed":1.0}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=1']],
  ['{"apply_status":"applied","tests_passed":0.8999999999999999}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=0.8999999999999999']],
  ['{"apply_status":"applied","tests_passed":[true,[1,null],[]]}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=true,1,,']],
  ['{"apply_status":"applied","tests_passed":[]}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=']],
  ['{"apply_status":"applied","tests_passed":{"a":1}}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=[object Object]']],
  // String() itself throws on these two; the scorer must not.
  ['{"apply_status":"applied","tests_passed":{"toString":1}}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=[object Object]']],
  ['{"apply_status":"applied","tests_passed":[1,{"toString":"x"}]}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=1,[object Object]']],
  [`{"apply_status":"applied","tests_passed":${'['.repeat(DEEP)}7${']'.repeat(DEEP)}}`, 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=7']],
  ['{"apply_status":"applied"}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed_missing']],
  ['{"apply_status":"applied","__proto__":{"tests_passed":true}}', 'partially_accepted', ['auto_apply_apply_status=applied', 'auto_apply_tests_passed_missing']],
  ['{"apply_status":"reverted","tests_passed":true}', 'rejected', ['auto_apply_apply_status=reverted']],
  ['{"apply_status":"failed"}', 'rejected', ['auto_apply_apply_status=failed']],
  ['{"apply_status":"Applied","tests_passed":true}', 'needs_human_review', ['auto_apply_apply_status=Applied']],
  ['{"apply_status":"pending"}', 'needs_human_review', ['auto_apply_apply_status=pending']],
  ['{"apply_status":""}', 'needs_human_review', ['auto_apply_apply_status=']],
  ['{}', 'needs_human_review', ['auto_apply_apply_status_missing']],
  ['{"tests_passed":true}', 'needs_human_review', ['auto_apply_apply_status_missing']],
  ['{"apply_status":null}', 'needs_human_review', ['auto_apply_apply_status_wrong_type']],
  ['{"apply_status":true,"tests_passed":true}', 'needs_human_review', ['auto_apply_apply_status_wrong_type']],
  ['{"apply_status":["applied"]}', 'needs_human_review', ['auto_apply_apply_status_wrong_type']],
];

const CONTRACT: Row[] = [
  ['{"recommendation":"approve","risk_markers":["late_filing"]}', 'accepted', ['contract_recommendation=approve', 'contract_risk_markers=1']],
  ['{"recommendation":"approve","risk_markers":["a",null,{}]}', 'accepted', ['contract_recommendation=approve', 'contract_risk_markers=3']],
  ['{"recommendation":"deny","risk_markers":[]}', 'partially_accepted', ['contract_recommendation=deny', 'contract_risk_markers=0']],
  ['{"recommendation":"deny","risk_markers":null}', 'partially_accepted', ['contract_recommendation=deny', 'contract_risk_markers=0']],
  ['{"recommendation":"deny"}', 'partially_accepted', ['contract_recommendation=deny', 'contract_risk_markers=0']],
  ['{"recommendation":" "}', 'partially_accepted', ['contract_recommendation= ', 'contract_risk_markers=0']],
  ['{"recommendation":"deny","risk_markers":"late_filing"}', 'needs_human_review', ['contract_recommendation=deny', 'contract_risk_markers_wrong_type']],
  ['{"recommendation":"deny","risk_markers":{}}', 'needs_human_review', ['contract_recommendation=deny', 'contract_risk_markers_wrong_type']],
  ['{"recommendation":"deny","risk_markers":0}', 'needs_human_review', ['contract_recommendation=deny', 'contract_risk_markers_wrong_type']],
  ['{"recommendation":"deny","risk_markers":false}', 'needs_human_review', ['contract_recommendation=deny', 'contract_risk_markers_wrong_type']],
  ['{"recommendation":"","risk_markers":["x"]}', 'needs_human_review', ['contract_recommendation_empty']],
  ['{"recommendation":"","risk_markers":7}', 'needs_human_review', ['contract_recommendation_empty']],
  ['{}', 'needs_human_review', ['contract_recommendation_missing']],
  ['{"risk_markers":["x"]}', 'needs_human_review', ['contract_recommendation_missing']],
  ['{"recommendation":null,"risk_markers":["x"]}', 'needs_human_review', ['contract_recommendation_missing']],
  ['{"recommendation":1}', 'needs_human_review', ['contract_recommendation_wrong_type']],
  ['{"recommendation":true}', 'needs_human_review', ['contract_recommendation_wrong_type']],
  ['{"recommendation":["approve"]}', 'needs_human_review', ['contract_recommendation_wrong_type']],
  ['{"recommendation":{}}', 'needs_human_review', ['contract_recommendation_wrong_type']],
];

const OUTCOMES: Row[] = [
  ['{"outcome":"success","citations":2}', 'accepted', ['outcome_outcome=success', 'outcome_citations=2']],
  ['{"outcome":"success","citations":1}', 'accepted', ['outcome_outcome=success', 'outcome_citations=1']],
  ['{"outcome":"success","citations":1.0}', 'accepted', ['outcome_outcome=success', 'outcome_citations=1']],
  ['{"outcome":"success","citations":0}', 'partially_accepted', ['outcome_outcome=success', 'outcome_citations=0']],
  ['{"outcome":"success","citations":0.0}', 'partially_accepted', ['outcome_outcome=success', 'outcome_citations=0']],
  ['{"outcome":"success"}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_missing']],
  ['{"outcome":"success","citations":-1}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"success","citations":1.5}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"success","citations":"1"}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"success","citations":true}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"success","citations":null}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"success","citations":[1]}', 'needs_human_review', ['outcome_outcome=success', 'outcome_citations_wrong_type']],
  ['{"outcome":"partial"}', 'partially_accepted', ['outcome_outcome=partial']],
  ['{"outcome":"partial","citations":"x"}', 'partially_accepted', ['outcome_outcome=partial']],
  ['{"outcome":"failure","citations":5}', 'rejected', ['outcome_outcome=failure']],
  ['{"outcome":"Success","citations":2}', 'needs_human_review', ['outcome_outcome=Success']],
  ['{"outcome":""}', 'needs_human_review', ['outcome_outcome=']],
  ['{}', 'needs_human_review', ['outcome_outcome_missing']],
  ['{"citations":2}', 'needs_human_review', ['outcome_outcome_missing']],
  ['{"outcome":null}', 'needs_human_review', ['outcome_outcome_wrong_type']],
  ['{"outcome":1}', 'needs_human_review', ['outcome_outcome_wrong_type']],
  ['{"outcome":["success"],"citations":2}', 'needs_human_review', ['outcome_outcome_wrong_type']],
];

const MODE: Row[] = [
  ['{"grounded_fraction":0.9}', 'accepted', ['mode_grounded_fraction=0.9']],
  ['{"grounded_fraction":0.95}', 'accepted', ['mode_grounded_fraction=0.95']],
  ['{"grounded_fraction":1.0}', 'accepted', ['mode_grounded_fraction=1']],
  ['{"grounded_fraction":1.5}', 'accepted', ['mode_grounded_fraction=1.5']],
  ['{"grounded_fraction":1e400}', 'accepted', ['mode_grounded_fraction=Infinity']],
  ['{"grounded_fraction":0.8999999999999999}', 'partially_accepted', ['mode_grounded_fraction=0.8999999999999999']],
  ['{"grounded_fraction":0.6}', 'partially_accepted', ['mode_grounded_fraction=0.6']],
  ['{"grounded_fraction":6e-1}', 'partially_accepted', ['mode_grounded_fraction=0.6']],
  ['{"grounded_fraction":0.5999999}', 'rejected', ['mode_grounded_fraction=0.5999999']],
  ['{"grounded_fraction":0}', 'rejected', ['mode_grounded_fraction=0']],
  ['{"grounded_fraction":-0.0}', 'rejected', ['mode_grounded_fraction=0']],
  ['{"grounded_fraction":-0.5}', 'rejected', ['mode_grounded_fraction=-0.5']],
  ['{"grounded_fraction":1e-7}', 'rejected', ['mode_grounded_fraction=1e-7']],
  ['{}', 'needs_human_review', ['mode_grounded_fraction_missing']],
  ['{"__proto__":{"grounded_fraction":1}}', 'needs_human_review', ['mode_grounded_fraction_missing']],
  ['{"grounded_fraction":"0.9"}', 'needs_human_review', ['mode_grounded_fraction_wrong_type']],
  ['{"grounded_fraction":null}', 'needs_human_review', ['mode_grounded_fraction_wrong_type']],
  ['{"grounded_fraction":true}', 'needs_human_review', ['mode_grounded_fraction_wrong_type']],
  ['{"grounded_fraction":[0.9]}', 'needs_human_review', ['mode_grounded_fraction_wrong_type']],
];

/** Verdict and telemetry stems with their class and signals that one sub-scorer accepts. */
const SCORED_STEMS: [stem: string, sourceClass: SourceClass, rows: Row[]][] = [
  ['scrum_reviews', 'verdict', SCRUM],
  ['observer_reviews', 'verdict', OBSERVER],
  ['audits', 'verdict', AUDITS],
  ['auto_apply', 'verdict', AUTO_APPLY],
  ['contract_analyses', 'verdict', CONTRACT],
  ['outcomes', 'telemetry', OUTCOMES],
  ['mode_experiments', 'telemetry', MODE],
];

for (const [stem, sourceClass, rows] of SCORED_STEMS) truthTable(stem, sourceClass, rows);

describe('no signals object → needs_human_review [signals_missing], class kept', () => {
  const notObjects = [undefined, 'null', '[]', '[{"verdict":"accept"}]', '"accept"', '1', 'true'];
  for (const [stem, sourceClass] of SCORED_STEMS) {
    test(stem, () => {
      for (const signals of notObjects) {
        assert.deepEqual(score(stem, signals), { category: 'needs_human_review', reasons: ['signals_missing'], source_class: sourceClass }, String(signals));
      }
    });
  }
});

describe('extraction class: any other stem → needs_human_review [extraction_class_no_verdict], signals or not', () => {
  const files = [
    'data/_kb/web_extractions.jsonl',
    'data/_kb/hand_written_rows.jsonl',
    'data/_kb/audit_baselines.jsonl',
    'data/_kb/Scrum_Reviews.jsonl', // stems are case-sensitive
    'data/_kb/sub/scrum_reviews.jsonl', // stem keeps the sub-folder
    'data/_kb/scrum_reviews.jsonl.gz',
    'data/_kb/scrum_reviews.json',
    'data/_kb/__proto__.jsonl',
    'data/_kb/toString.jsonl',
    'data/_kb/.jsonl',
    '-',
    '',
  ];
  for (const file of files) {
    test(JSON.stringify(file), () => {
      for (const signals of [undefined, 'null', '{}', '{"verdict":"accept","accepted_on_attempt":1}']) {
        assert.deepEqual(scoreEvidence(scorable(file, signals)), { category: 'needs_human_review', reasons: ['extraction_class_no_verdict'], source_class: 'extraction' });
      }
    });
  }
});

test('the stem picks the rule with or without the data/_kb/ prefix and .jsonl suffix', () => {
  for (const file of ['data/_kb/observer_reviews.jsonl', 'observer_reviews.jsonl', 'observer_reviews', 'data/_kb/observer_reviews']) {
    assert.deepEqual(scoreEvidence(scorable(file, '{"verdict":"cycle"}')), { category: 'partially_accepted', reasons: ['observer_verdict=cycle'], source_class: 'verdict' }, file);
  }
});

test('inherited signals are absent: only own properties count', () => {
  const inherited = (stem: string, proto: Record<string, unknown>): Score =>
    scoreEvidence({ provenance: provenance(`data/_kb/${stem}.jsonl`), signals: Object.create(proto) as Record<string, unknown> });
  assert.deepEqual(inherited('observer_reviews', { verdict: 'accept' }).reasons, ['observer_verdict_missing']);
  assert.deepEqual(inherited('scrum_reviews', { accepted_on_attempt: 1 }).reasons, ['scrum_accepted_on_attempt_missing']);
  assert.deepEqual(inherited('audits', { max_severity: 'none', passed: true }).reasons, ['audit_max_severity_missing', 'audit_passed_missing']);
  assert.deepEqual(inherited('contract_analyses', { recommendation: 'approve' }).reasons, ['contract_recommendation_missing']);
  assert.deepEqual(inherited('outcomes', { outcome: 'failure' }).reasons, ['outcome_outcome_missing']);
  assert.deepEqual(inherited('mode_experiments', { grounded_fraction: 1 }).reasons, ['mode_grounded_fraction_missing']);
  const applied = scoreEvidence({ provenance: provenance('data/_kb/auto_apply.jsonl'), signals: Object.assign(Object.create({ tests_passed: true }) as Record<string, unknown>, { apply_status: 'applied' }) });
  assert.deepEqual(applied, { category: 'partially_accepted', reasons: ['auto_apply_apply_status=applied', 'auto_apply_tests_passed_missing'], source_class: 'verdict' });
  const scrumNull = scoreEvidence({ provenance: provenance('data/_kb/scrum_reviews.jsonl'), signals: Object.assign(Object.create({ attempts: 3, max_attempts: 3 }) as Record<string, unknown>, { accepted_on_attempt: null }) });
  assert.deepEqual(scrumNull.reasons, ['scrum_accepted_on_attempt=null', 'scrum_attempts_missing']);
});

/** Recursive Object.freeze: any write by the scorer would throw in strict-mode modules. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const allRows = (): { stem: string; signals: string | undefined }[] =>
  SCORED_STEMS.flatMap(([stem, , rows]) => rows.filter(([signals]) => signals === undefined || signals.length < 1000).map(([signals]) => ({ stem, signals })));

test('purity: every table row scores a deep-frozen input without throwing and leaves it deep-equal', () => {
  const rows = allRows();
  assert.ok(rows.length > 100);
  for (const { stem, signals } of rows) {
    const input = deepFreeze(scorable(`data/_kb/${stem}.jsonl`, signals));
    const before = structuredClone(input);
    const result = scoreEvidence(input);
    assert.deepEqual(input, before, `${stem} ${signals}`);
    assert.ok(result.reasons.length > 0);
  }
});

test('determinism: scoring the same input twice gives deep-equal results with fresh reasons arrays', () => {
  for (const { stem, signals } of allRows()) {
    const input = scorable(`data/_kb/${stem}.jsonl`, signals);
    const first = scoreEvidence(input);
    const second = scoreEvidence(input);
    assert.deepEqual(second, first);
    assert.notEqual(second.reasons, first.reasons);
  }
});

test('reasons handed out are not shared: changing one result leaves later results intact', () => {
  const extraction = scoreEvidence(scorable('data/_kb/web_extractions.jsonl', undefined));
  extraction.reasons.push('tampered');
  const missing = score('outcomes', undefined);
  missing.reasons[0] = 'tampered';
  assert.deepEqual(scoreEvidence(scorable('data/_kb/web_extractions.jsonl', undefined)).reasons, ['extraction_class_no_verdict']);
  assert.deepEqual(score('outcomes', undefined).reasons, ['signals_missing']);
});

const EVIDENCE: EvidenceRecord = {
  schema_version: 1,
  run_id: 'scrum-002',
  task_id: 'repo:src/app.ts',
  model_role: 'executor',
  text: 'Patch accepted on the second attempt.',
  signals: { accepted_on_attempt: 2, max_attempts: 3 },
  created_at: '2026-05-01T10:00:00Z',
  provenance: {
    source_file: 'data/_kb/scrum_reviews.jsonl',
    line_offset: 7,
    sig_hash: 'ab'.repeat(32),
    recorded_at: '2026-05-01T00:00:00Z',
  },
};
const RECORDED_AT = '2026-05-03T12:34:56.789Z';

test('SCORER_VERSION is v1.0.0', () => {
  assert.equal(SCORER_VERSION, 'v1.0.0');
});

test('toScoredRun: field order, exact JSON bytes, sig_hash of the canonical four-field object', () => {
  const run = toScoredRun(EVIDENCE, RECORDED_AT);
  assert.deepEqual(Object.keys(run), ['schema_version', 'evidence_run_id', 'task_id', 'category', 'reasons', 'scorer_version', 'source_class', 'provenance']);
  assert.deepEqual(Object.keys(run.provenance), ['source_file', 'line_offset', 'sig_hash', 'recorded_at']);
  // The canonical text written by hand (keys sorted, no whitespace) and hashed independently.
  const canonicalText = `{"category":"partially_accepted","evidence_sig_hash":"${'ab'.repeat(32)}","reasons":["scrum_accepted_on_attempt=2","scrum_max_attempts=3"],"scorer_version":"v1.0.0"}`;
  const sigHash = createHash('sha256').update(canonicalText, 'utf8').digest('hex');
  assert.match(sigHash, /^[0-9a-f]{64}$/);
  assert.equal(
    JSON.stringify(run),
    '{"schema_version":1,"evidence_run_id":"scrum-002","task_id":"repo:src/app.ts","category":"partially_accepted",' +
      '"reasons":["scrum_accepted_on_attempt=2","scrum_max_attempts=3"],"scorer_version":"v1.0.0","source_class":"verdict",' +
      `"provenance":{"source_file":"data/_kb/scrum_reviews.jsonl","line_offset":7,"sig_hash":"${sigHash}","recorded_at":"${RECORDED_AT}"}}`,
  );
  assert.equal(
    run.provenance.sig_hash,
    canonicalHash({ category: run.category, evidence_sig_hash: EVIDENCE.provenance.sig_hash, reasons: run.reasons, scorer_version: run.scorer_version }),
  );
});

test('toScoredRun: the sig_hash follows the evidence sig_hash, the category and the reasons', () => {
  const base = toScoredRun(EVIDENCE, RECORDED_AT).provenance.sig_hash;
  const otherEvidence = toScoredRun({ ...EVIDENCE, provenance: { ...EVIDENCE.provenance, sig_hash: 'cd'.repeat(32) } }, RECORDED_AT);
  const otherReasons = toScoredRun({ ...EVIDENCE, signals: { accepted_on_attempt: 3, max_attempts: 3 } }, RECORDED_AT);
  const otherTime = toScoredRun(EVIDENCE, '2027-01-01T00:00:00Z');
  assert.notEqual(otherEvidence.provenance.sig_hash, base);
  assert.notEqual(otherReasons.provenance.sig_hash, base);
  assert.equal(otherTime.provenance.sig_hash, base, 'recorded_at is not part of sig_hash');
  assert.equal(otherTime.provenance.recorded_at, '2027-01-01T00:00:00Z');
});

test('toScoredRun: extraction and no-signals rows, and a deep-frozen input', () => {
  const { signals: _dropped, ...withoutSignals } = EVIDENCE;
  const frozen = deepFreeze({ ...withoutSignals, run_id: 'web-001', task_id: 'web:1', provenance: { ...EVIDENCE.provenance, source_file: 'data/_kb/web_extractions.jsonl', line_offset: 0 } });
  const before = structuredClone(frozen);
  const extraction = toScoredRun(frozen, RECORDED_AT);
  assert.deepEqual(frozen, before);
  assert.equal(extraction.evidence_run_id, 'web-001');
  assert.equal(extraction.task_id, 'web:1');
  assert.equal(extraction.category, 'needs_human_review');
  assert.deepEqual(extraction.reasons, ['extraction_class_no_verdict']);
  assert.equal(extraction.source_class, 'extraction');
  assert.deepEqual(extraction.provenance, {
    source_file: 'data/_kb/web_extractions.jsonl',
    line_offset: 0,
    sig_hash: canonicalHash({ category: 'needs_human_review', evidence_sig_hash: 'ab'.repeat(32), reasons: ['extraction_class_no_verdict'], scorer_version: 'v1.0.0' }),
    recorded_at: RECORDED_AT,
  });
  const missing = toScoredRun(withoutSignals, RECORDED_AT);
  assert.deepEqual([missing.category, missing.reasons, missing.source_class], ['needs_human_review', ['signals_missing'], 'verdict']);
});

test('toScoredRun is deterministic: same input, same bytes', () => {
  assert.equal(JSON.stringify(toScoredRun(EVIDENCE, RECORDED_AT)), JSON.stringify(toScoredRun(EVIDENCE, RECORDED_AT)));
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalHash } from '../src/core/canonical.js';
import { rulesDocumentProblems, type ConditionSpec, type RuleSpec, type RulesDocument } from '../src/core/rules-document.js';
import { explainRow, explainScore } from '../src/core/explain.js';
import { builtinRuleset, compileRuleset, scoreWith, SCORER_VERSION, type Ruleset, type Score } from '../src/core/ruleset.js';
import { instructionFor } from '../src/core/synthesis.js';
import { DistillError } from '../src/errors.js';
import { builtinRulesetText } from '../src/rules/builtin.js';
import { validators } from '../src/schemas/validators.js';
import { evidence } from './helpers.js';

const document = (rules: RuleSpec[], name = 'test-rules', version = '1.0.0'): RulesDocument => ({ name, version, rules });

/** A one-rule ruleset for source `s` whose single `when` condition accepts, else rejects. */
const withCondition = (condition: ConditionSpec): Ruleset =>
  compileRuleset(
    document([
      {
        sources: ['s'],
        source_class: 'verdict',
        decide: [
          { when: [condition], category: 'accepted', reasons: ['yes'] },
          { category: 'rejected', reasons: ['no'] },
        ],
      },
    ]),
  );

/** Signals as the pipeline sees them: parsed from JSON text (1.0 is 1, "__proto__" an own key). */
const row = (source: string, signalsJson: string | undefined): { provenance: { source_file: string }; signals?: unknown } =>
  signalsJson === undefined ? { provenance: { source_file: `data/_kb/${source}.jsonl` } } : { provenance: { source_file: `data/_kb/${source}.jsonl` }, signals: JSON.parse(signalsJson) };

const holds = (ruleset: Ruleset, signalsJson: string): boolean => scoreWith(ruleset.scorer, row('s', signalsJson)).category === 'accepted';

describe('conditions', () => {
  test('equals: strict, so 1.0 equals 1 but true and "1" do not; equals null is an explicit null, never absence', () => {
    const one = withCondition({ signal: 'a', equals: 1 });
    assert.deepEqual(['{"a":1}', '{"a":1.0}', '{"a":true}', '{"a":"1"}', '{"a":[1]}', '{}'].map((s) => holds(one, s)), [true, true, false, false, false, false]);
    const nil = withCondition({ signal: 'a', equals: null });
    assert.deepEqual(['{"a":null}', '{}', '{"a":0}', '{"a":""}', '{"__proto__":{"a":null}}'].map((s) => holds(nil, s)), [true, false, false, false, false]);
    const text = withCondition({ signal: 'a', equals: 'ok' });
    assert.deepEqual(['{"a":"ok"}', '{"a":"OK"}', '{"a":"ok "}'].map((s) => holds(text, s)), [true, false, false]);
  });

  test('one_of: strict membership, with no prototype lookups', () => {
    const of = withCondition({ signal: 'a', one_of: ['x', 2, false, null] });
    assert.deepEqual(['{"a":"x"}', '{"a":2.0}', '{"a":false}', '{"a":null}', '{}', '{"a":"toString"}', '{"a":"2"}', '{"a":0}'].map((s) => holds(of, s)), [true, true, true, true, false, false, false, false]);
  });

  test('int_range: integers only (1.0 yes; 1.5, true, "1", Infinity no), bounds inclusive, a bound may name another integer signal', () => {
    const range = withCondition({ signal: 'a', int_range: { min: 2, max: { signal: 'm' } } });
    const cases: [string, boolean][] = [
      ['{"a":2,"m":3}', true],
      ['{"a":3.0,"m":3}', true],
      ['{"a":1,"m":3}', false],
      ['{"a":4,"m":3}', false],
      ['{"a":2.5,"m":3}', false],
      ['{"a":true,"m":3}', false],
      ['{"a":"2","m":3}', false],
      ['{"a":2}', false],
      ['{"a":2,"m":"3"}', false],
      ['{"a":2,"m":3.5}', false],
      ['{"a":2,"m":null}', false],
      ['{"a":1e400,"m":1e400}', false],
    ];
    for (const [signals, expected] of cases) assert.equal(holds(range, signals), expected, signals);
    const open = withCondition({ signal: 'a', int_range: { min: 0 } });
    assert.deepEqual(['{"a":0}', '{"a":-0.0}', '{"a":-1}', '{"a":1e300}'].map((s) => holds(open, s)), [true, true, false, true]);
  });

  test('number_range: any number (Infinity from 1e400 included), bounds inclusive', () => {
    const range = withCondition({ signal: 'a', number_range: { min: 0.6, max: 1 } });
    assert.deepEqual(['{"a":0.6}', '{"a":6e-1}', '{"a":1.0}', '{"a":0.5999999}', '{"a":1.0000001}', '{"a":"0.7"}', '{"a":true}', '{}'].map((s) => holds(range, s)), [true, true, true, false, false, false, false, false]);
    assert.equal(holds(withCondition({ signal: 'a', number_range: { min: 0.9 } }), '{"a":1e400}'), true);
    assert.equal(holds(withCondition({ signal: 'a', number_range: { max: { signal: 'b' } } }), '{"a":0.5,"b":0.75}'), true);
    assert.equal(holds(withCondition({ signal: 'a', number_range: { max: { signal: 'b' } } }), '{"a":0.5,"b":"1"}'), false);
  });

  test('count: the length of an array; anything else never counts', () => {
    const some = withCondition({ signal: 'a', count: { min: 1, max: 2 } });
    assert.deepEqual(['{"a":[1]}', '{"a":[null,{}]}', '{"a":[]}', '{"a":[1,2,3]}', '{"a":"ab"}', '{"a":{"length":1}}', '{}'].map((s) => holds(some, s)), [true, true, false, false, false, false, false]);
  });

  test('type: one name or a list; integer is a whole number, number any number, object never null or an array', () => {
    const expectations: Record<string, [string, boolean][]> = {
      integer: [['1', true], ['1.0', true], ['1.5', false], ['true', false], ['"1"', false]],
      number: [['1.5', true], ['1e400', true], ['"1"', false]],
      string: [['""', true], ['1', false]],
      boolean: [['false', true], ['0', false]],
      array: [['[]', true], ['{}', false]],
      object: [['{}', true], ['[]', false], ['null', false]],
      null: [['null', true], ['0', false]],
    };
    for (const [type, cases] of Object.entries(expectations)) {
      const ruleset = withCondition({ signal: 'a', type: type as 'string' });
      for (const [value, expected] of cases) assert.equal(holds(ruleset, `{"a":${value}}`), expected, `${type} ${value}`);
      assert.equal(holds(ruleset, '{}'), false, `${type} absent`);
    }
    const either = withCondition({ signal: 'a', type: ['integer', 'null'] });
    assert.deepEqual(['{"a":null}', '{"a":3}', '{"a":"3"}', '{}'].map((s) => holds(either, s)), [true, true, false, false]);
    assert.equal(Object.keys(expectations).length, 7);
  });

  test('present and absent: own properties only; an explicit null is present', () => {
    const present = withCondition({ signal: 'a', present: true });
    const absent = withCondition({ signal: 'a', absent: true });
    for (const [signals, isPresent] of [['{"a":null}', true], ['{"a":0}', true], ['{}', false], ['{"__proto__":{"a":1}}', false]] as const) {
      assert.equal(holds(present, signals), isPresent, signals);
      assert.equal(holds(absent, signals), !isPresent, signals);
    }
    const inherited = { provenance: { source_file: 's' }, signals: Object.create({ a: 1 }) as unknown };
    assert.equal(scoreWith(present.scorer, inherited).category, 'rejected');
  });

  test('"__proto__" and "toString" are signal names like any other', () => {
    const proto = withCondition({ signal: '__proto__', equals: 1 });
    assert.equal(holds(proto, '{"__proto__":1}'), true);
    assert.equal(holds(proto, '{}'), false);
    assert.equal(holds(withCondition({ signal: 'toString', present: true }), '{}'), false);
  });
});

describe('steps and reasons', () => {
  const ruleset = compileRuleset(
    document([
      {
        sources: ['s'],
        source_class: 'telemetry',
        prefix: 'p',
        decide: [
          { require: { signal: 'status', type: 'string' } },
          { when: [{ signal: 'status', equals: 'done' }], require: { signal: 'n', int_range: { min: 0 } }, reasons: ['p_status=done'] },
          { when: [{ signal: 'status', equals: 'done' }], category: 'accepted', reasons: ['p_status={status}', 'p_n={n}', 'p_items={#items}', 'p_tag={tag#v:}', 'p_{{literal}}'] },
          { category: 'rejected', reasons: ['p_status={status}', 'p_absent=[{nothing}]'] },
        ],
      },
    ]),
  );
  const score = (signals: string | undefined): Score => scoreWith(ruleset.scorer, row('s', signals));

  test('a require step: absent → <prefix>_<signal>_missing, present but failing → _wrong_type, after its reasons', () => {
    assert.deepEqual(score('{}'), { category: 'needs_human_review', reasons: ['p_status_missing'], source_class: 'telemetry' });
    assert.deepEqual(score('{"status":null}').reasons, ['p_status_wrong_type']);
    assert.deepEqual(score('{"status":"done"}').reasons, ['p_status=done', 'p_n_missing']);
    assert.deepEqual(score('{"status":"done","n":-1}').reasons, ['p_status=done', 'p_n_wrong_type']);
    assert.deepEqual(score('{"status":"done","n":1.5}').reasons, ['p_status=done', 'p_n_wrong_type']);
  });

  test('reason slots: String() of the value, {#name} an array length (else 0), {name#prefix} strips once, {{ }} braces, absent is empty', () => {
    assert.deepEqual(score('{"status":"done","n":2.0,"items":[1,[2,3]],"tag":"v:v:1"}'), {
      category: 'accepted',
      reasons: ['p_status=done', 'p_n=2', 'p_items=2', 'p_tag=v:1', 'p_{literal}'],
      source_class: 'telemetry',
    });
    assert.deepEqual(score('{"status":"done","n":0,"items":"abc","tag":[1,{"toString":1}]}').reasons, ['p_status=done', 'p_n=0', 'p_items=0', 'p_tag=1,[object Object]', 'p_{literal}']);
    assert.deepEqual(score('{"status":"other"}').reasons, ['p_status=other', 'p_absent=[]']);
  });

  test('no signals object → the rule class with [signals_missing] unless the rule says otherwise', () => {
    for (const signals of [undefined, 'null', '[]', '"x"', '1']) assert.deepEqual(score(signals), { category: 'needs_human_review', reasons: ['signals_missing'], source_class: 'telemetry' });
    const own = compileRuleset(document([{ sources: ['s'], source_class: 'extraction', no_signals: { category: 'rejected', reasons: ['none_here'] }, decide: [{ category: 'accepted', reasons: ['x'] }] }]));
    assert.deepEqual(scoreWith(own.scorer, row('s', undefined)), { category: 'rejected', reasons: ['none_here'], source_class: 'extraction' });
  });

  test('every score has fresh reasons arrays, and the input is not touched', () => {
    const signals = Object.freeze({ status: 'done', n: 1, items: Object.freeze([1]) });
    const first = scoreWith(ruleset.scorer, { provenance: { source_file: 's' }, signals });
    const second = scoreWith(ruleset.scorer, { provenance: { source_file: 's' }, signals });
    assert.notEqual(first.reasons, second.reasons);
    first.reasons.push('tampered');
    assert.deepEqual(scoreWith(ruleset.scorer, { provenance: { source_file: 's' }, signals }).reasons, second.reasons);
    const missing = scoreWith(ruleset.scorer, { provenance: { source_file: 's' } });
    missing.reasons[0] = 'tampered';
    assert.deepEqual(scoreWith(ruleset.scorer, { provenance: { source_file: 's' } }).reasons, ['signals_missing']);
  });
});

describe('sources', () => {
  const decide = (reason: string): RuleSpec['decide'] => [{ category: 'accepted', reasons: [reason] }];
  const ruleset = compileRuleset(
    document([
      { sources: ['exact_one', 'team_?'], source_class: 'verdict', decide: decide('first') },
      { sources: ['team_*', 'a*b'], source_class: 'telemetry', decide: decide('second') },
      { sources: ['*/nested'], source_class: 'verdict', decide: decide('third') },
    ]),
  );
  const decidedBy = (sourceFile: string): string => scoreWith(ruleset.scorer, { provenance: { source_file: sourceFile }, signals: {} }).reasons[0]!;

  test('exact names and globs (* any run, / and nothing included; ? one character), case-sensitive; the first matching rule wins', () => {
    const cases: [string, string][] = [
      ['data/_kb/exact_one.jsonl', 'first'],
      ['exact_one', 'first'],
      ['data/_kb/team_a.jsonl', 'first'],
      ['data/_kb/team_😀.jsonl', 'first'],
      ['data/_kb/team_ab.jsonl', 'second'],
      ['data/_kb/team_.jsonl', 'second'],
      ['data/_kb/ab.jsonl', 'second'],
      ['data/_kb/a/x/b.jsonl', 'second'],
      ['data/_kb/deep/er/nested.jsonl', 'third'],
      ['data/_kb/Exact_one.jsonl', 'extraction_class_no_verdict'],
      ['data/_kb/exact_one.jsonl.gz', 'extraction_class_no_verdict'],
      ['data/_kb/a.b.jsonl', 'second'],
      ['data/_kb/ba.jsonl', 'extraction_class_no_verdict'],
    ];
    for (const [file, expected] of cases) assert.equal(decidedBy(file), expected, file);
  });

  test('a source no rule matches is decided by the built-in default rule, instruction included', () => {
    assert.deepEqual(scoreWith(ruleset.scorer, { provenance: { source_file: 'data/_kb/web.jsonl' } }), { category: 'needs_human_review', reasons: ['extraction_class_no_verdict'], source_class: 'extraction' });
    assert.equal(instructionFor(evidence({ source_file: 'data/_kb/web.jsonl' }), ruleset), "Source 'web' run; produce the appropriate output for this task type.");
    assert.equal(explainScore(ruleset.scorer, { provenance: { source_file: 'data/_kb/web.jsonl' }, signals: {} }).rule.index, null);
  });

  test('glob metacharacters of regular expressions stand for themselves', () => {
    const literal = compileRuleset(document([{ sources: ['a.b+(c)*'], source_class: 'verdict', decide: decide('hit') }]));
    const by = (stem: string): string => scoreWith(literal.scorer, { provenance: { source_file: stem }, signals: {} }).reasons[0]!;
    assert.equal(by('a.b+(c)'), 'hit');
    assert.equal(by('a.b+(c)xyz'), 'hit');
    assert.equal(by('axb+(c)'), 'extraction_class_no_verdict');
    assert.equal(by('a.bb(c)'), 'extraction_class_no_verdict');
  });
});

describe('scorer_version', () => {
  const mine = document([{ sources: ['s'], source_class: 'verdict', decide: [{ category: 'accepted', reasons: ['ok'] }] }], 'mine', '2.1.0-rc.1');

  test('the built-in ruleset is v1.0.0, and so is any document equal to it', () => {
    assert.equal(SCORER_VERSION, 'v1.0.0');
    assert.equal(builtinRuleset().scorerVersion, 'v1.0.0');
    assert.equal(builtinRuleset().scorer.scorerVersion, 'v1.0.0');
    assert.equal(compileRuleset(JSON.parse(builtinRulesetText())).scorerVersion, 'v1.0.0');
    const copy = JSON.parse(builtinRulesetText()) as RulesDocument;
    copy.version = '1.0.1';
    assert.match(compileRuleset(copy).scorerVersion, /^builtin@1\.0\.1\+[0-9a-f]{12}$/);
  });

  test('any other document: <name>@<version>+<first 12 hex of its canonical hash>, whatever its key order or spacing', () => {
    const ruleset = compileRuleset(mine);
    assert.equal(ruleset.scorerVersion, `mine@2.1.0-rc.1+${canonicalHash(mine).slice(0, 12)}`);
    const reordered = JSON.parse(`{"rules":${JSON.stringify(mine.rules, null, 3)},"version":"2.1.0-rc.1","name":"mine"}`) as unknown;
    assert.equal(compileRuleset(reordered).scorerVersion, ruleset.scorerVersion);
    const changed = structuredClone(mine);
    changed.rules[0]!.decide[0] = { category: 'accepted', reasons: ['ok2'] };
    assert.notEqual(compileRuleset(changed).scorerVersion, ruleset.scorerVersion);
  });

  test('a custom scorer_version passes the ScoredRun schema; other strings do not', () => {
    const { scoredRun } = validators();
    const base = { schema_version: 1, evidence_run_id: 'r', task_id: 't', category: 'accepted', reasons: ['x'], source_class: 'verdict', provenance: { source_file: 'f', line_offset: 0, sig_hash: 'a'.repeat(64), recorded_at: '2026-05-01T00:00:00Z' } };
    for (const version of ['v1.0.0', compileRuleset(mine).scorerVersion, 'my_rules.v2@1.0+0123456789ab']) assert.equal(scoredRun({ ...base, scorer_version: version }), true, version);
    for (const version of ['v1.0.1', 'v1.0.0 ', 'mine@1.0.0', 'mine@1.0.0+0123456789AB', 'mine@1.0.0+0123456789abc', '@1+0123456789ab', 'a b@1+0123456789ab']) assert.equal(scoredRun({ ...base, scorer_version: version }), false, version);
  });
});

describe('instructions', () => {
  const ruleset = compileRuleset(
    document([
      {
        sources: ['my_agent'],
        source_class: 'verdict',
        decide: [{ category: 'accepted', reasons: ['x'] }],
        instruction: [
          { if_set: ['contractor', 'file'], text: "For {contractor}: fix '{file}' ({task_id#ticket:}, {model_role}/{model_name}, {stem}) {{}}" },
          { text: 'Fix {task_id}.' },
        ],
      },
      { sources: ['plain'], source_class: 'verdict', decide: [{ category: 'accepted', reasons: ['x'] }] },
    ]),
  );

  test('slots, prefix stripping, literal braces and the first variant whose if_set slots are all non-empty', () => {
    const full = evidence({ source_file: 'data/_kb/my_agent.jsonl', task_id: 'ticket:ticket:9', contractor: 'Acme', source_files: ['a.ts'], model_role: 'executor', model_name: 'm' });
    assert.equal(instructionFor(full, ruleset), "For Acme: fix 'a.ts' (ticket:9, executor/m, my_agent) {}");
    assert.equal(instructionFor({ ...full, contractor: '' }, ruleset), 'Fix ticket:ticket:9.');
    assert.equal(instructionFor({ ...full, source_files: [] }, ruleset), 'Fix ticket:ticket:9.');
    assert.equal(ruleset.instruction(full), instructionFor(full, ruleset));
  });

  test("a rule without an instruction takes the ruleset's catch-all one, else the built-in default", () => {
    assert.equal(instructionFor(evidence({ source_file: 'data/_kb/plain.jsonl' }), ruleset), "Source 'plain' run; produce the appropriate output for this task type.");
    const withDefault = compileRuleset(
      document([
        { sources: ['plain'], source_class: 'verdict', decide: [{ category: 'accepted', reasons: ['x'] }] },
        { sources: ['*'], source_class: 'extraction', decide: [{ category: 'needs_human_review', reasons: ['y'] }], instruction: 'Handle {stem}.' },
      ]),
    );
    assert.equal(instructionFor(evidence({ source_file: 'data/_kb/plain.jsonl' }), withDefault), 'Handle plain.');
    assert.equal(instructionFor(evidence({ source_file: 'data/_kb/other.jsonl' }), withDefault), 'Handle other.');
  });

  test('values go in verbatim: slot syntax and replacement patterns inside values are text', () => {
    const odd = evidence({ source_file: 'data/_kb/my_agent.jsonl', task_id: '$&{task_id}', contractor: '{file}', source_files: ['$1'], model_role: '', model_name: '' });
    assert.equal(instructionFor(odd, ruleset), "For {file}: fix '$1' ($&{task_id}, /, my_agent) {}");
  });
});

describe('compile problems are DS_USAGE errors naming the field', () => {
  const usage = (value: unknown): string => {
    try {
      compileRuleset(value);
    } catch (error) {
      assert.ok(error instanceof DistillError);
      assert.equal(error.code, 'DS_USAGE');
      return error.message;
    }
    assert.fail('compiled');
  };
  const rule = (overrides: Partial<RuleSpec>): RulesDocument => document([{ sources: ['s'], source_class: 'verdict', decide: [{ category: 'accepted', reasons: ['x'] }], ...overrides }]);

  test('shape problems (the schema)', () => {
    assert.match(usage(null), /must be an object/);
    assert.match(usage({ name: 'x', version: '1', rules: [] }), /rules: must not be empty/);
    assert.match(usage(rule({ source_class: 'other' as 'verdict' })), /rules\[0\]\.source_class: must be one of "verdict", "telemetry", "extraction"/);
    assert.match(usage(rule({ decide: [{ when: [{ signal: 'a', equals: 1, one_of: [1] } as ConditionSpec], category: 'accepted', reasons: ['x'] }, { category: 'accepted', reasons: ['y'] }] })), /rules\[0\]\.decide\[0\]\.when\[0\]: a condition is a signal and exactly one test/);
    assert.match(usage(rule({ decide: [{ category: 'accepted', reasons: ['x'], require: { signal: 'a', present: true } } as never] })), /decide\[0\]\.category: "category" cannot go with "require"/);
  });

  test('meaning problems (the checks)', () => {
    assert.match(usage(rule({ decide: [{ require: { signal: 'a', present: true } }, { category: 'accepted', reasons: ['x'] }] })), /rules\[0\]: needs "prefix"/);
    assert.match(usage(rule({ decide: [{ category: 'accepted', reasons: ['x'] }, { category: 'rejected', reasons: ['y'] }] })), /rules\[0\]\.decide\[1\]: never reached/);
    assert.match(usage(rule({ decide: [{ when: [{ signal: 'a', present: true }], category: 'accepted', reasons: ['x'] }] })), /decide\[0\]: the last step must decide with no "when"/);
    assert.match(usage(rule({ decide: [{ category: 'accepted', reasons: ['x={a'] }] })), /reasons\[0\]: the slot opened at character 3 is not closed/);
    assert.match(usage(rule({ instruction: 'Do {task}' })), /instruction: slot '\{task\}' is not an instruction slot/);
    assert.match(usage(rule({ no_signals: { category: 'rejected', reasons: ['x={a}'] } })), /no_signals\.reasons\[0\]: a row without a signals object has no signal to show/);
  });

  test('a compiled ruleset keeps its own copy: changing the document afterwards changes nothing', () => {
    const value = rule({});
    const ruleset = compileRuleset(value);
    value.rules[0]!.sources[0] = 'other';
    (value.rules[0]!.decide[0] as { reasons: string[] }).reasons[0] = 'changed';
    assert.deepEqual(ruleset.document.rules[0]!.sources, ['s']);
    assert.deepEqual(scoreWith(ruleset.scorer, row('s', '{}')).reasons, ['x']);
  });

  test('the built-in file has no problems, and every rule of it has an instruction', () => {
    const builtin = JSON.parse(builtinRulesetText()) as RulesDocument;
    assert.deepEqual(rulesDocumentProblems(builtin), []);
    assert.ok(builtin.rules.every((r) => r.instruction !== undefined));
    assert.deepEqual(builtin.rules.at(-1)!.sources, ['*']);
  });
});

describe('explain', () => {
  const builtin = builtinRuleset();

  test('the rule, each step tried with the signal it read, and the decider', () => {
    const explanation = explainRow(builtin, { provenance: { source_file: 'data/_kb/auto_apply.jsonl' }, signals: { apply_status: 'applied', tests_passed: 1e400 } });
    assert.deepEqual(explanation.rule, { index: 3, sources: ['auto_apply'], source_class: 'verdict' });
    assert.deepEqual(explanation.decided_by, { kind: 'decision', step: 4 });
    assert.deepEqual(explanation.steps.map((s) => [s.step, s.fired, s.when.map((c) => [c.held, c.value])]), [
      [0, false, []],
      [1, false, [[false, '"applied"']]],
      [2, false, [[true, '"applied"'], [false, 'Infinity']]],
      [3, false, [[true, '"applied"'], [false, 'Infinity']]],
      [4, true, [[true, '"applied"']]],
    ]);
    assert.deepEqual(explanation.steps[0]!.require, { condition: { signal: 'apply_status', type: 'string' }, held: true, value: '"applied"' });
    assert.deepEqual(explanation.score, { category: 'partially_accepted', reasons: ['auto_apply_apply_status=applied', 'auto_apply_tests_passed=Infinity'], source_class: 'verdict' });
  });

  test('a require step that fired names its signal and whether it was missing or of the wrong type', () => {
    const missing = explainRow(builtin, { provenance: { source_file: 'data/_kb/outcomes.jsonl' }, signals: { outcome: 'success' } });
    assert.deepEqual(missing.decided_by, { kind: 'require', step: 3, signal: 'citations', failure: 'missing' });
    const wrong = explainRow(builtin, { provenance: { source_file: 'data/_kb/outcomes.jsonl' }, signals: { outcome: 7 } });
    assert.deepEqual(wrong.decided_by, { kind: 'require', step: 0, signal: 'outcome', failure: 'wrong_type' });
    assert.deepEqual(wrong.score.reasons, ['outcome_outcome_wrong_type']);
  });

  test('a raw _kb row names its source; long values are cut; rows that are not objects are usage errors', () => {
    const raw = { run_id: 'x', signals: { verdict: 'x'.repeat(500) } };
    const explanation = explainRow(builtin, raw, { sourceFile: 'data/_kb/observer_reviews.jsonl' });
    assert.equal(explanation.stem, 'observer_reviews');
    assert.equal(explanation.steps[0]!.require!.value.length, 121);
    assert.throws(() => explainRow(builtin, raw), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && /provenance\.source_file/.test(error.message));
    assert.throws(() => explainRow(builtin, [1]), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE');
    assert.deepEqual(explainRow(builtin, { provenance: { source_file: 'data/_kb/audits.jsonl' } }).decided_by, { kind: 'no_signals' });
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { explainScore } from '../src/core/explain.js';
import { builtinRuleset } from '../src/core/ruleset.js';
import { scoreEvidence } from '../src/core/scorer.js';
import { instructionFor } from '../src/core/synthesis.js';
import type { EvidenceRecord } from '../src/records.js';
import { handWrittenInstruction, handWrittenScore } from './hand-written-oracle.js';
import { evidence } from './helpers.js';

/**
 * The built-in ruleset against frozen copies of the hand-written scorer and instruction templates
 * it replaced: many thousands of random inputs per source, exact category, reasons and class, and
 * exact instruction text.
 */

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const ROWS_PER_STEM = 6000;

/** Stems with rules, and stems that must fall to the extraction default (case, sub-folders, prototype names). */
const STEMS = [
  'scrum_reviews',
  'observer_reviews',
  'audits',
  'auto_apply',
  'contract_analyses',
  'outcomes',
  'mode_experiments',
  'web_extractions',
  'Scrum_Reviews',
  'sub/scrum_reviews',
  '__proto__',
  'toString',
  '',
];

/** Every signal a built-in rule reads, and names no rule reads. */
const NAMES = [
  'accepted_on_attempt',
  'attempts',
  'max_attempts',
  'verdict',
  'max_severity',
  'passed',
  'apply_status',
  'tests_passed',
  'recommendation',
  'risk_markers',
  'outcome',
  'citations',
  'grounded_fraction',
  '__proto__',
  'toString',
  'constructor',
  'other',
];

/** Values as JSON text, parsed like the pipeline parses them: 1.0 is 1, 1e400 is Infinity. */
const VALUES = [
  'null', 'true', 'false', '0', '1', '1.0', '2', '2.0', '3', '4', '-1', '-2', '-0.0', '1.5', '3.5', '0.6', '6e-1', '0.9', '0.95',
  '0.8999999999999999', '0.5999999', '1e-7', '1e400', '-1e400', '1e300', '9007199254740993',
  '"1"', '"true"', '""', '" "', '"x"', '"accept"', '"cycle"', '"reject"', '"maybe"', '"Accept"', '"none"', '"info"', '"low"',
  '"medium"', '"high"', '"critical"', '"HIGH"', '"applied"', '"Applied"', '"reverted"', '"failed"', '"pending"', '"success"',
  '"Success"', '"partial"', '"failure"', '"approve"', '"deny"', '"toString"', '"__proto__"', '"constructor"',
  '[]', '[1]', '["a"]', '[true,[1,null],[]]', '["a",null,{}]', '[[[[7]]]]', '[1,{"toString":"x"}]',
  '{}', '{"a":1}', '{"toString":1}', '{"accept":true}',
];

/** Values that reach the deep branches (null and small integers in several signals at once) often. */
const LIKELY = ['null', '0', '1', '2', '3', 'true', '"x"'];

/** Random signals as JSON text: mostly objects over the known names (keys may repeat: the last wins), sometimes not an object at all. */
function randomSignals(random: Random, names: readonly string[], likely: readonly string[]): string | undefined {
  const roll = random();
  if (roll < 0.02) return undefined;
  if (roll < 0.04) return pick(random, ['null', '[]', '[{"verdict":"accept"}]', '"accept"', '1', 'true']);
  const members: string[] = [];
  const count = Math.floor(random() * 6);
  for (let n = 0; n < count; n++) {
    const name = random() < 0.85 ? pick(random, names) : pick(random, NAMES);
    const roll = random();
    const value = roll < 0.3 ? pick(random, likely) : roll < 0.45 ? String(Math.floor(random() * 9) - 3) : pick(random, VALUES);
    members.push(`${JSON.stringify(name)}:${value}`);
  }
  return `{${members.join(',')}}`;
}

/** The names a stem's rule reads, so random objects reach its deep branches often. */
const NAMES_OF: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  scrum_reviews: ['accepted_on_attempt', 'accepted_on_attempt', 'attempts', 'max_attempts'],
  observer_reviews: ['verdict'],
  audits: ['max_severity', 'passed'],
  auto_apply: ['apply_status', 'tests_passed'],
  contract_analyses: ['recommendation', 'risk_markers'],
  outcomes: ['outcome', 'citations'],
  mode_experiments: ['grounded_fraction'],
}));

/** Per stem, the values its rule looks for, added to LIKELY. */
const LIKELY_OF: ReadonlyMap<string, readonly string[]> = new Map(Object.entries({
  observer_reviews: ['"accept"', '"cycle"', '"reject"'],
  audits: ['"none"', '"low"', '"high"', 'false'],
  auto_apply: ['"applied"', '"failed"', '"reverted"'],
  contract_analyses: ['"approve"', '""', '[]', '["a"]'],
  outcomes: ['"success"', '"partial"', '"failure"'],
  mode_experiments: ['0.9', '0.6', '0.59'],
}));

function scorable(stem: string, signalsJson: string | undefined): Pick<EvidenceRecord, 'provenance' | 'signals'> {
  const provenance = { source_file: `data/_kb/${stem}.jsonl`, line_offset: 0, sig_hash: '0'.repeat(64), recorded_at: '2026-05-01T00:00:00Z' };
  if (signalsJson === undefined) return { provenance };
  return { provenance, signals: JSON.parse(signalsJson) as EvidenceRecord['signals'] };
}

describe('the built-in ruleset scores exactly as the hand-written scorer did', () => {
  const { scorer } = builtinRuleset();
  for (const [seed, stem] of STEMS.entries()) {
    test(`${ROWS_PER_STEM} random signal objects: ${JSON.stringify(stem)}; explain agrees, and every step of the rule decides some of them`, () => {
      const random = mulberry32(1000 + seed);
      const names = NAMES_OF.get(stem) ?? NAMES;
      const deciders = new Set<string>();
      for (let n = 0; n < ROWS_PER_STEM; n++) {
        const signals = randomSignals(random, names, [...LIKELY, ...(LIKELY_OF.get(stem) ?? [])]);
        const input = scorable(stem, signals);
        const score = scoreEvidence(input);
        assert.deepEqual(score, handWrittenScore(input), `${stem} ${signals ?? '<no signals>'}`);
        const explanation = explainScore(scorer, input);
        assert.deepEqual(explanation.score, score, `explain ${stem} ${signals ?? '<no signals>'}`);
        deciders.add(explanation.decided_by.kind === 'no_signals' ? 'no_signals' : String(explanation.decided_by.step));
      }
      const rule = scorer.ruleFor(`data/_kb/${stem}.jsonl`);
      assert.deepEqual([...deciders].sort(), [...rule.steps.keys()].map(String).concat('no_signals').sort());
    });
  }
});

describe('the built-in instruction templates write exactly what the hand-written ones did', () => {
  const TASK_IDS = ['phase:design', 'phase:phase:x', 'phase:', 'phase', 'Phase:x', 'permit:P-1', 'permit:', 'permit:permit:P-1', 'x:permit:y', '', 'repo:src/app.ts', "it's", '{task_id}', '$&', '$1', 'é😀'];
  const FILES = [[], [''], ['src/app.ts'], ["src/it's.ts", 'other.ts'], ['{file}'], ['$&']];
  const CONTRACTORS = ['', 'Acme', "O'Brien", '{contractor}', '$&', ' '];
  const SOURCES = [...STEMS.map((stem) => `data/_kb/${stem}.jsonl`), 'elsewhere/notes.jsonl', 'data/_kb/data/_kb/x.jsonl.jsonl', 'audits', '-', '{stem}'];
  test('every combination of task id, files, contractor and source', () => {
    let checked = 0;
    for (const source_file of SOURCES) {
      for (const task_id of TASK_IDS) {
        for (const source_files of FILES) {
          for (const contractor of CONTRACTORS) {
            const joined = evidence({ source_file, task_id, source_files, contractor, model_name: 'm', model_role: 'executor' });
            assert.equal(instructionFor(joined), handWrittenInstruction(joined), JSON.stringify({ source_file, task_id, source_files, contractor }));
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 10_000);
  });
});

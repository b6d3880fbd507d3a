import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { checkRulesText, type RuleSpec, type RulesDocument } from '../src/core/rules-document.js';
import { explainRow, formatExplanation } from '../src/core/explain.js';
import { builtinRuleset, compileRuleset, scoreWith } from '../src/core/ruleset.js';
import { builtinRulesetText } from '../src/rules/builtin.js';
import { PACKAGE_ROOT } from './helpers.js';

/** docs/rules.md's samples run as tests: its rules files compile, and its excerpts of the built-in ruleset are the built-in ruleset. */

async function jsonBlocks(): Promise<string[]> {
  const markdown = await readFile(path.join(PACKAGE_ROOT, 'docs', 'rules.md'), 'utf8');
  return [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

test('docs/rules.md: the example rules file has no problems and scores as the text says', async () => {
  const [example] = await jsonBlocks();
  assert.deepEqual(checkRulesText(example!).problems, []);
  const ruleset = compileRuleset(JSON.parse(example!));
  assert.equal(ruleset.scorerVersion, 'my-rules@1.0.0+b15a2bc2bdac');
  const score = (signals?: unknown): [string, string[]] => {
    const { category, reasons } = scoreWith(ruleset.scorer, { provenance: { source_file: 'data/_kb/my_agent.jsonl' }, signals });
    return [category, reasons];
  };
  assert.deepEqual(score({ status: 'ok', tests: 3 }), ['accepted', ['my_agent_status=ok', 'my_agent_tests=3']]);
  assert.deepEqual(score({ status: 'ok' }), ['partially_accepted', ['my_agent_status=ok']]);
  assert.deepEqual(score({ status: 'failed' }), ['rejected', ['my_agent_status=failed']]);
  assert.deepEqual(score({}), ['needs_human_review', ['my_agent_status_missing']]);
  assert.deepEqual(score({ status: 1 }), ['needs_human_review', ['my_agent_status_wrong_type']]);
  assert.deepEqual(score(), ['needs_human_review', ['signals_missing']]);
  assert.deepEqual(scoreWith(ruleset.scorer, { provenance: { source_file: 'data/_kb/other.jsonl' }, signals: {} }).reasons, ['extraction_class_no_verdict']);
});

test('docs/rules.md: every excerpt of the built-in ruleset is in it, word for word', async () => {
  const builtin = JSON.parse(builtinRulesetText()) as RulesDocument;
  const bySources = new Map(builtin.rules.map((rule) => [JSON.stringify(rule.sources), rule]));
  const excerpts = (await jsonBlocks()).slice(1).map((block) => JSON.parse(block) as Partial<RuleSpec>);
  let rules = 0;
  for (const excerpt of excerpts) {
    if (excerpt.sources === undefined) {
      assert.deepEqual(excerpt.instruction, bySources.get('["contract_analyses"]')!.instruction);
      continue;
    }
    assert.deepEqual(excerpt, bySources.get(JSON.stringify(excerpt.sources)));
    rules++;
  }
  assert.equal(rules, 3);
});

test('docs/rules.md: the explain output shown is what formatExplanation prints', async () => {
  const markdown = await readFile(path.join(PACKAGE_ROOT, 'docs', 'rules.md'), 'utf8');
  const shown = /`rules explain` prints[^\n]*\n\n```\n([\s\S]*?)```/.exec(markdown)![1];
  const row = { provenance: { source_file: 'data/_kb/audits.jsonl' }, signals: { passed: 'x' } };
  assert.equal(formatExplanation(explainRow(builtinRuleset(), row)), shown);
});

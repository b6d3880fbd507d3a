import { DistillError } from '../errors.js';
import type { SourceClass } from '../records.js';
import { jsonText } from './canonical.js';
import { testOf, type ConditionSpec } from './rules-document.js';
import { isSignalsObject, own, type CompiledCondition, type Signals, type Values } from './conditions.js';
import type { Ruleset, Scorable, Score, Scorer } from './ruleset.js';
import { stemOf } from './stem.js';
import { cutCodePoints } from './text.js';

/** One condition as it was tried: what it says, whether it held, and the signal it read. */
export interface ConditionTrace {
  condition: ConditionSpec;
  held: boolean;
  /** The signal's value as JSON (numbers as String() writes them, so 1e400 reads Infinity), cut to 120 characters; "absent" when it is not there. */
  value: string;
}

/** One step as it was tried, in order; conditions after the first that failed were not tried. */
export interface StepTrace {
  step: number;
  when: ConditionTrace[];
  require?: ConditionTrace;
  fired: boolean;
}

export type Decider =
  | { kind: 'decision'; step: number }
  | { kind: 'require'; step: number; signal: string; failure: 'missing' | 'wrong_type' }
  | { kind: 'no_signals' };

/** Which rule and step decided a row, and why, as data. */
export interface Explanation {
  source_file: string;
  stem: string;
  /** index null: no rule of the ruleset matched, and the built-in default rule decided. */
  rule: { index: number | null; sources: string[]; source_class: SourceClass };
  decided_by: Decider;
  steps: StepTrace[];
  score: Score;
}


const SHOWN_VALUE_CHARS = 120;

function traceValue(signals: Signals, name: string): string {
  if (!Object.hasOwn(signals, name)) return 'absent';
  const value = signals[name];
  const text = typeof value === 'number' ? String(value) : jsonText(value);
  const cut = cutCodePoints(text, SHOWN_VALUE_CHARS);
  return cut.length < text.length ? `${cut}…` : text;
}

const traceOf = (condition: CompiledCondition, signals: Signals, values: Values): ConditionTrace => ({
  condition: condition.spec,
  held: condition.test(values),
  value: traceValue(signals, condition.spec.signal),
});

/** How a scorer decides a row: the same compiled rule and conditions as scoreWith, tried one at a time. */
export function explainScore(scorer: Scorer, row: Scorable): Explanation {
  const sourceFile = row.provenance.source_file;
  const rule = scorer.ruleFor(sourceFile);
  const head = { source_file: sourceFile, stem: stemOf(sourceFile), rule: { index: rule.index, sources: rule.spec.sources, source_class: rule.spec.source_class } };
  const signals = row.signals;
  if (!isSignalsObject(signals)) return { ...head, decided_by: { kind: 'no_signals' }, steps: [], score: rule.score(signals) };
  const values = rule.read(signals);
  const steps: StepTrace[] = [];
  const last = rule.steps.length - 1;
  for (let n = 0; n < last; n++) {
    const step = rule.steps[n]!;
    const when: ConditionTrace[] = [];
    for (const condition of step.when) {
      const trace = traceOf(condition, signals, values);
      when.push(trace);
      if (!trace.held) break;
    }
    const whenHeld = when.every((trace) => trace.held);
    const require = whenHeld && step.require !== undefined ? traceOf(step.require, signals, values) : undefined;
    const fired = whenHeld && (require === undefined ? step.require === undefined : !require.held);
    steps.push(require === undefined ? { step: n, when, fired } : { step: n, when, require, fired });
    if (!fired) continue;
    if (require === undefined) return { ...head, decided_by: { kind: 'decision', step: n }, steps, score: step.emit(values) };
    const signal = require.condition.signal;
    const failure = Object.hasOwn(signals, signal) ? 'wrong_type' : 'missing';
    return { ...head, decided_by: { kind: 'require', step: n, signal, failure }, steps, score: step.emit(values) };
  }
  // The last step decides with no conditions (the document checks say so).
  steps.push({ step: last, when: [], fired: true });
  return { ...head, decided_by: { kind: 'decision', step: last }, steps, score: rule.steps[last]!.emit(values) };
}

/**
 * explainScore for a row as a user hands it in (`rules explain`): an evidence row names its source in
 * provenance.source_file; a raw `_kb` row does not, and needs `sourceFile`.
 */
export function explainRow(ruleset: Ruleset, row: unknown, options: { sourceFile?: string } = {}): Explanation {
  if (!isSignalsObject(row)) throw new DistillError('DS_USAGE', 'the row is not a JSON object');
  const provenance = own(row, 'provenance');
  const recorded = isSignalsObject(provenance) ? own(provenance, 'source_file') : undefined;
  const sourceFile = options.sourceFile ?? (typeof recorded === 'string' ? recorded : undefined);
  if (sourceFile === undefined) throw new DistillError('DS_USAGE', 'the row has no provenance.source_file (evidence rows have one): name its source');
  return explainScore(ruleset.scorer, { provenance: { source_file: sourceFile }, signals: own(row, 'signals') });
}

const conditionText = (condition: ConditionSpec): string => {
  const test = testOf(condition);
  return `${condition.signal} ${test} ${JSON.stringify((condition as unknown as Record<string, unknown>)[test])}`;
};

const traceText = (trace: ConditionTrace): string => `${conditionText(trace.condition)}: ${trace.held ? 'holds' : 'fails'} (${trace.value})`;

/** An explanation as lines a person reads (`rules explain`): the rule, each step tried, the result. */
export function formatExplanation(explanation: Explanation): string {
  const { rule, decided_by: decider, score } = explanation;
  const named = rule.index === null ? 'the built-in default rule (no rule matched)' : `rules[${rule.index}] [${rule.sources.join(', ')}]`;
  const lines = [`source ${JSON.stringify(explanation.stem)} (${explanation.source_file}) → ${named}, source_class ${rule.source_class}`];
  if (decider.kind === 'no_signals') lines.push('  no signals object: no_signals decides');
  for (const step of explanation.steps) {
    const parts = step.when.map((trace) => `when ${traceText(trace)}`);
    if (step.require !== undefined) parts.push(`require ${traceText(step.require)}`);
    lines.push(`  decide[${step.step}] ${parts.length === 0 ? 'unconditional' : parts.join('; ')} → ${step.fired ? 'decides' : 'next'}`);
  }
  if (decider.kind === 'require') lines.push(`  ${decider.signal} is ${decider.failure === 'missing' ? 'absent' : 'of the wrong type'}`);
  lines.push(`${score.category} [${score.reasons.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

import type { ErrorObject } from 'ajv';
import type { Category, SourceClass } from '../records.js';
import { rulesValidator } from '../schemas/validators.js';
import { pointerToken, scanJson, type TextPosition } from './json-positions.js';
import { parseTemplate, type TemplatePart } from './templates.js';

/** The shape of a rules file (src/schemas/rules.schema.json, docs/rules.md). */
export interface RulesDocument {
  $schema?: string;
  name: string;
  version: string;
  description?: string;
  rules: RuleSpec[];
}

export interface RuleSpec {
  sources: string[];
  source_class: SourceClass;
  prefix?: string;
  description?: string;
  no_signals?: DecisionSpec;
  decide: StepSpec[];
  instruction?: string | InstructionVariant[];
}

export interface DecisionSpec {
  category: Category;
  reasons: string[];
}

export interface DecideStep extends DecisionSpec {
  when?: ConditionSpec[];
  description?: string;
}

export interface RequireStep {
  when?: ConditionSpec[];
  require: ConditionSpec;
  reasons?: string[];
  description?: string;
}

export type StepSpec = DecideStep | RequireStep;

export type Scalar = string | number | boolean | null;
export type SignalType = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object' | 'null';
/** A literal bound or the value of another signal. */
export type Bound = number | { signal: string };
export interface RangeSpec {
  min?: Bound;
  max?: Bound;
}

export type ConditionSpec = { signal: string } & (
  | { equals: Scalar }
  | { one_of: Scalar[] }
  | { int_range: RangeSpec }
  | { number_range: RangeSpec }
  | { count: RangeSpec }
  | { type: SignalType | SignalType[] }
  | { present: true }
  | { absent: true }
);

export const INSTRUCTION_SLOTS = ['task_id', 'file', 'contractor', 'stem', 'model_name', 'model_role'] as const;
export type InstructionSlot = (typeof INSTRUCTION_SLOTS)[number];

export interface InstructionVariant {
  if_set?: InstructionSlot[];
  text: string;
}

export const isRequireStep = (step: StepSpec): step is RequireStep => 'require' in step;

/** The name of a condition's test (its one key besides `signal`). */
export const testOf = (condition: ConditionSpec): string => Object.keys(condition).find((key) => key !== 'signal')!;

/** A problem of a rules document, located by JSON pointer. */
export interface RulesProblem {
  pointer: string;
  /** Point at the member's key (an unknown or repeated field) rather than its value. */
  at: 'value' | 'key';
  message: string;
}

/**
 * A problem located in the file: line and column, the rule (its index and its sources, null outside
 * any rule or when the sources are themselves broken) and the field's path.
 */
export interface RulesFileProblem {
  line: number;
  column: number;
  rule: number | null;
  rule_sources: string[] | null;
  field: string;
  message: string;
}

/** Problems of a parsed rules document: its schema first, then what a schema cannot say. Empty when it compiles. */
export function rulesDocumentProblems(value: unknown): RulesProblem[] {
  const validate = rulesValidator();
  if (!validate(value)) return schemaProblems(validate.errors ?? []);
  return meaningProblems(value as RulesDocument);
}

/**
 * A rules file's text checked whole: JSON syntax (with a duplicate key counted as a problem: JSON.parse
 * would silently keep the last), then the document. Each problem names its line, column, rule and field.
 */
export function checkRulesText(text: string): { value: unknown; problems: RulesFileProblem[] } {
  const scan = scanJson(text);
  if (!scan.ok) return { value: undefined, problems: [{ ...scan.position, rule: null, rule_sources: null, field: '', message: `not JSON: ${scan.message}` }] };
  const value: unknown = JSON.parse(text);
  const locate = (problem: RulesProblem): RulesFileProblem => {
    const position = (problem.at === 'key' ? scan.keys.get(problem.pointer) : undefined) ?? nearestValue(scan.values, problem.pointer);
    const rule = ruleIndexOf(problem.pointer);
    return { ...position, rule, rule_sources: rule === null ? null : sourcesOf(value, rule), field: fieldOf(value, problem.pointer), message: problem.message };
  };
  const duplicates: RulesProblem[] = scan.duplicates.map(({ pointer }) => ({
    pointer,
    at: 'key',
    message: `"${lastToken(pointer)}" is written twice in one object; JSON keeps only the last`,
  }));
  const problems = [...duplicates, ...rulesDocumentProblems(value)].map(locate);
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { value, problems };
}

function nearestValue(values: ReadonlyMap<string, TextPosition>, pointer: string): TextPosition {
  for (let at = pointer; ; at = at.slice(0, at.lastIndexOf('/'))) {
    const found = values.get(at);
    if (found !== undefined || at === '') return found ?? { line: 1, column: 1 };
  }
}

const tokensOf = (pointer: string): string[] => (pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')));
const lastToken = (pointer: string): string => tokensOf(pointer).at(-1) ?? '';

/** A rule's sources when they are a list of strings: how a message names the rule. */
function sourcesOf(document: unknown, index: number): string[] | null {
  const rules = typeof document === 'object' && document !== null && Object.hasOwn(document, 'rules') ? (document as { rules: unknown }).rules : undefined;
  const rule: unknown = Array.isArray(rules) ? rules[index] : undefined;
  const sources = typeof rule === 'object' && rule !== null && Object.hasOwn(rule, 'sources') ? (rule as { sources: unknown }).sources : undefined;
  return Array.isArray(sources) && sources.length > 0 && sources.every((source) => typeof source === 'string') ? sources : null;
}

function ruleIndexOf(pointer: string): number | null {
  const [top, index] = tokensOf(pointer);
  return top === 'rules' && index !== undefined && /^(0|[1-9][0-9]*)$/.test(index) ? Number(index) : null;
}

/** A pointer as a reader writes the path: `rules[2].decide[0].when[1].int_range.min`. */
export function fieldOf(root: unknown, pointer: string): string {
  let field = '';
  let node = root;
  for (const token of tokensOf(pointer)) {
    if (Array.isArray(node)) {
      field += `[${token}]`;
      node = node[Number(token)];
    } else {
      field += field === '' ? token : `.${token}`;
      node = typeof node === 'object' && node !== null && Object.hasOwn(node, token) ? (node as Record<string, unknown>)[token] : undefined;
    }
  }
  return field;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

const CONDITION_SHAPE = 'a condition is a signal and exactly one test: equals, one_of, int_range, number_range, count, type, present or absent';

/** ajv's errors as messages a person can act on; summaries of other errors ("if") are dropped. */
function schemaProblems(errors: readonly ErrorObject[]): RulesProblem[] {
  const required = new Set(errors.filter((e) => e.keyword === 'required').map((e) => e.instancePath));
  const problems: RulesProblem[] = [];
  for (const error of errors) {
    const pointer = error.instancePath;
    const params = error.params as Record<string, unknown>;
    const inBound = /\/definitions\/(int|number)_bound\//.test(error.schemaPath);
    const field = lastToken(pointer);
    switch (error.keyword) {
      case 'if':
        break;
      case 'required':
        problems.push({
          pointer,
          at: 'value',
          message: error.schemaPath.endsWith('/else/required')
            ? `needs "${String(params['missingProperty'])}": a step decides ("category" and "reasons") or requires ("require")`
            : `needs "${String(params['missingProperty'])}"`,
        });
        break;
      case 'additionalProperties': {
        const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        const member = `${pointer}/${pointerToken(String(params['additionalProperty']))}`;
        problems.push({ pointer: member, at: 'key', message: `unknown field "${String(params['additionalProperty'])}"${known.length > 0 ? ` (known here: ${known.join(', ')})` : ''}` });
        break;
      }
      case 'type': {
        const types = ([] as string[]).concat(params['type'] as string | string[]);
        const words = inBound ? [types.includes('integer') ? 'an integer' : 'a number', '{"signal": NAME}'] : types.map((t) => TYPE_WORDS[t] ?? t);
        problems.push({ pointer, at: 'value', message: `must be ${words.join(' or ')}` });
        break;
      }
      case 'enum':
        problems.push({ pointer, at: 'value', message: `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` });
        break;
      case 'const':
        problems.push({ pointer, at: 'value', message: `must be ${JSON.stringify(params['allowedValue'])}` });
        break;
      case 'pattern':
        problems.push({ pointer, at: 'value', message: patternMessage(field) });
        break;
      case 'minItems':
      case 'minLength':
        problems.push({ pointer, at: 'value', message: 'must not be empty' });
        break;
      case 'uniqueItems': {
        const list = error.data as unknown[];
        problems.push({ pointer, at: 'value', message: `lists ${JSON.stringify(list[Number(params['j'])])} twice` });
        break;
      }
      case 'minProperties':
      case 'maxProperties':
        if (/\/definitions\/(int|number)_range\//.test(error.schemaPath)) problems.push({ pointer, at: 'value', message: 'needs "min", "max" or both' });
        else if (!required.has(pointer)) problems.push({ pointer, at: 'value', message: CONDITION_SHAPE });
        break;
      case 'false schema':
        problems.push({ pointer, at: 'key', message: `"${field}" cannot go with "require": a require step decides needs_human_review itself when its condition fails` });
        break;
      default:
        problems.push({ pointer, at: 'value', message: error.message ?? 'does not match the rules schema' });
    }
  }
  return problems;
}

function patternMessage(field: string): string {
  if (field === 'name') return "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";
  if (field === 'version') return "must be 1 to 64 letters, digits, '.' or '-', starting with a letter or digit";
  return 'must be a type: string, integer, number, boolean, array, object or null';
}

/** A source pattern that matches every stem: only `*`s. */
export const matchesEverything = (pattern: string): boolean => /^\*+$/.test(pattern);
export const isGlob = (pattern: string): boolean => pattern.includes('*') || pattern.includes('?');

/**
 * The glob of a source pattern as an anchored RegExp: `*` any run of characters (none, and `/`,
 * included), `?` exactly one character (a code point); everything else stands for itself.
 */
export function globRegExp(pattern: string): RegExp {
  let source = '';
  for (const char of pattern) source += char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  return new RegExp(`^${source}$`, 'su');
}

/** What the schema cannot say: reachability, prefixes, template slots, empty ranges, shadowed sources. */
function meaningProblems(document: RulesDocument): RulesProblem[] {
  const problems: RulesProblem[] = [];
  const problem = (pointer: string, message: string, at: 'value' | 'key' = 'value'): void => void problems.push({ pointer, at, message });
  const earlier: { index: number; sources: string[] }[] = [];
  document.rules.forEach((rule, index) => {
    const base = `/rules/${index}`;
    sourceProblems(rule, index, earlier, base, problem);
    earlier.push({ index, sources: rule.sources });
    const last = rule.decide.length - 1;
    rule.decide.forEach((step, n) => {
      const at = `${base}/decide/${n}`;
      if (isRequireStep(step)) {
        if (rule.prefix === undefined) problem(base, `needs "prefix": decide[${n}] requires "${step.require.signal}", and writes <prefix>_${step.require.signal}_missing or _wrong_type when it fails`);
        conditionProblems(step.require, `${at}/require`, problem);
      } else if (step.when === undefined && n < last) {
        problem(`${base}/decide/${n + 1}`, `never reached: decide[${n}] has no "when", so it decides every row that gets to it`);
      }
      step.when?.forEach((condition, c) => conditionProblems(condition, `${at}/when/${c}`, problem));
      (step.reasons ?? []).forEach((reason, r) => templateProblems(reason, `${at}/reasons/${r}`, 'reason', problem));
    });
    const final = rule.decide[last]!;
    if (isRequireStep(final) || final.when !== undefined) problem(`${base}/decide/${last}`, 'the last step must decide with no "when": it is what the rule decides when no earlier step fired');
    rule.no_signals?.reasons.forEach((reason, r) => {
      const pointer = `${base}/no_signals/reasons/${r}`;
      const parts = templateProblems(reason, pointer, 'reason', problem);
      if (parts.some((part) => part.kind !== 'text')) problem(pointer, 'a row without a signals object has no signal to show: no_signals reasons are plain text');
    });
    instructionProblems(rule.instruction, `${base}/instruction`, problem);
  });
  return problems;
}

function sourceProblems(rule: RuleSpec, index: number, earlier: readonly { index: number; sources: string[] }[], base: string, problem: (pointer: string, message: string) => void): void {
  const catchAll = earlier.find((e) => e.sources.some(matchesEverything));
  if (catchAll !== undefined) {
    problem(`${base}/sources`, `rule ${index} is never used: rules[${catchAll.index}] matches every source`);
    return;
  }
  rule.sources.forEach((source, s) => {
    const shadow = earlier.find((e) => e.sources.some((pattern) => pattern === source || (isGlob(pattern) && !isGlob(source) && globRegExp(pattern).test(source))));
    if (shadow !== undefined) problem(`${base}/sources/${s}`, `"${source}" is already matched by rules[${shadow.index}], which comes first`);
  });
}

function conditionProblems(condition: ConditionSpec, pointer: string, problem: (pointer: string, message: string) => void): void {
  const range = 'int_range' in condition ? condition.int_range : 'number_range' in condition ? condition.number_range : 'count' in condition ? condition.count : undefined;
  if (range === undefined) return;
  if (typeof range.min === 'number' && typeof range.max === 'number' && range.min > range.max) {
    problem(`${pointer}/${testOf(condition)}`, `never holds: min ${range.min} is above max ${range.max}`);
  }
}

function templateProblems(template: string, pointer: string, kind: 'reason' | 'instruction', problem: (pointer: string, message: string) => void): TemplatePart[] {
  const parsed = parseTemplate(template);
  if (!parsed.ok) {
    problem(pointer, parsed.message);
    return [];
  }
  if (kind === 'instruction') {
    for (const part of parsed.parts) {
      if (part.kind === 'count') problem(pointer, `slot '{#${part.name}}': instructions show values, they count nothing`);
      else if (part.kind === 'value' && !(INSTRUCTION_SLOTS as readonly string[]).includes(part.name)) {
        problem(pointer, `slot '{${part.name}}' is not an instruction slot (${INSTRUCTION_SLOTS.map((s) => `{${s}}`).join(', ')})`);
      }
    }
  }
  return parsed.parts;
}

function instructionProblems(instruction: RuleSpec['instruction'], pointer: string, problem: (pointer: string, message: string) => void): void {
  if (instruction === undefined) return;
  if (typeof instruction === 'string') {
    templateProblems(instruction, pointer, 'instruction', problem);
    return;
  }
  const last = instruction.length - 1;
  instruction.forEach((variant, n) => {
    templateProblems(variant.text, `${pointer}/${n}/text`, 'instruction', problem);
    if (variant.if_set === undefined && n < last) problem(`${pointer}/${n + 1}`, `never used: variant ${n} has no "if_set", so it is used whenever it is reached`);
  });
  if (instruction[last]!.if_set !== undefined) problem(`${pointer}/${last}`, 'the last variant must have no "if_set": it is the instruction when no earlier variant applies');
}


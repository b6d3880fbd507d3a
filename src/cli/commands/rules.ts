import path from 'node:path';
import { builtinRuleset } from '../../core/ruleset.js';
import { explainRow, formatExplanation } from '../../core/explain.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { DEFAULT_MAX_LINE_BYTES } from '../../io/line-splitter.js';
import { checkRulesFile, formatRulesProblem, loadRuleset, readRowFile } from '../../io/rules-file.js';
import { flag, option } from '../../options.js';
import { builtinRulesetText } from '../../rules/builtin.js';
import { HELP } from '../common-options.js';
import type { Command } from '../command.js';

const BUILTIN = { builtin: flag('the built-in ruleset') };

const checkCommand: Command = {
  name: 'rules check',
  group: 'Rules',
  summary: 'lint a rules file: every problem with its line, column, rule and field',
  operands: 'FILE',
  description: ['Exits 0 when the file is a valid ruleset, 1 when it has problems (each printed on stdout), 3 when it cannot be read.'],
  options: { json: flag('print the problems as a JSON array'), ...HELP },
  examples: ['distill-stream rules check my-rules.json'],
  takesOperands: true,
  run: async ({ args, cwd, stdout }) => {
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) throw usageError('rules check takes one rules file');
    const result = await checkRulesFile(path.resolve(cwd, file));
    if (args.values['json'] === true) stdout.write(`${JSON.stringify(result.problems)}\n`);
    else for (const problem of result.problems) stdout.write(`${formatRulesProblem(file, problem)}\n`);
    return result.ok ? 0 : EXIT_CODE.DS_VALIDATION;
  },
};

const explainCommand: Command = {
  name: 'rules explain',
  group: 'Rules',
  summary: 'which rule and condition decided an evidence row, and why',
  operands: '(FILE | --builtin) ROW.json',
  description: ['ROW.json holds one evidence row (its provenance.source_file picks the rule); --source names the _kb file for a raw row.'],
  options: {
    ...BUILTIN,
    source: option('string', 'NAME', 'the source of a row without provenance (a raw data/_kb/NAME.jsonl row)'),
    json: flag('print the explanation as JSON'),
    'max-line-bytes': option('size', 'SIZE', 'the largest row file read (default: 64MiB)'),
    ...HELP,
  },
  examples: ['distill-stream rules explain --builtin row.json', 'distill-stream rules explain my-rules.json row.json'],
  takesOperands: true,
  run: async ({ args, cwd, stdout }) => {
    const builtin = args.values['builtin'] === true;
    const expected = builtin ? 1 : 2;
    if (args.positionals.length !== expected) throw usageError(builtin ? 'rules explain --builtin takes one row file' : 'rules explain takes a rules file and a row file (or --builtin and a row file)');
    const rowFile = args.positionals[expected - 1]!;
    const ruleset = builtin ? builtinRuleset() : await loadRuleset(path.resolve(cwd, args.positionals[0]!), { display: args.positionals[0]! });
    const row = await readRowFile(path.resolve(cwd, rowFile), rowFile, (args.values['maxLineBytes'] as number | undefined) ?? DEFAULT_MAX_LINE_BYTES);
    const source = args.values['source'] as string | undefined;
    const explanation = explainRow(ruleset, row, source === undefined ? {} : { sourceFile: `data/_kb/${source}.jsonl` });
    stdout.write(args.values['json'] === true ? `${JSON.stringify(explanation)}\n` : formatExplanation(explanation));
    return 0;
  },
};

const showCommand: Command = {
  name: 'rules show',
  group: 'Rules',
  summary: 'print the built-in ruleset in the rules-file format',
  operands: '',
  description: ['Start a rules file of your own from it: distill-stream rules show --builtin > my-rules.json'],
  options: { ...BUILTIN, ...HELP },
  examples: ['distill-stream rules show --builtin > my-rules.json'],
  takesOperands: false,
  run: async ({ args, stdout }) => {
    if (args.values['builtin'] !== true) throw usageError('rules show needs --builtin (the only ruleset it can show)');
    stdout.write(builtinRulesetText());
    return 0;
  },
};

export const RULES_COMMANDS: readonly Command[] = [checkCommand, explainCommand, showCommand];

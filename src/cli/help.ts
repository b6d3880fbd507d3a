import type { OptionSpec } from '../options.js';
import type { Command } from './command.js';

const GROUPS: ReadonlyArray<Command['group']> = ['Datasets', 'Pipeline', 'Runs', 'Scale', 'Vectors', 'Rules', 'Tools'];

export const EXIT_CODES_LINE = 'Exit codes: 0 done (quarantined rows are not failures), 1 validation failed, 2 usage error, 3 input/output error, 70 internal error.';

/** The top-level help: every command of the table by group, generated from their declarations. */
export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length)) + 2;
  const lines = ['Usage: distill-stream <command> [options] [inputs…]', ''];
  for (const group of GROUPS) {
    const members = commands.filter((command) => command.group === group);
    if (members.length === 0) continue;
    lines.push(`${group}:`, ...members.map((command) => `  ${command.name.padEnd(width)}${command.summary}`), '');
  }
  lines.push(
    'Options:',
    '  -h, --help     this text',
    '  -v, --version  the version',
    '',
    "Run 'distill-stream help <command>' or 'distill-stream <command> --help' for its options and examples.",
    EXIT_CODES_LINE,
  );
  return `${lines.join('\n')}\n`;
}

const flagText = (name: string, spec: OptionSpec): string =>
  `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.kind === 'boolean' ? '' : ` ${spec.placeholder ?? 'VALUE'}`}`;

/** One command's help: usage line, what it does, its options, and real examples. */
export function commandHelp(command: Command): string {
  const options = Object.entries(command.options);
  const width = Math.max(...options.map(([name, spec]) => flagText(name, spec).length)) + 2;
  const lines = [
    `Usage: distill-stream ${command.name} [options]${command.operands === '' ? '' : ` ${command.operands}`}`,
    '',
    `${command.summary}.`,
    ...(command.description.length > 0 ? ['', ...command.description] : []),
    '',
    'Options:',
    ...options.map(([name, spec]) => `  ${flagText(name, spec).padEnd(width)}${spec.help}`),
  ];
  if (command.examples.length > 0) lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`));
  return `${lines.join('\n')}\n`;
}

import type { OptionTable } from '../options.js';
import type { ParsedArgs } from './parse.js';
import type { Terminal } from './terminal.js';

/** What a command runs with: its parsed arguments and the process around it. */
export interface Session {
  args: ParsedArgs;
  /** The working folder relative paths resolve against. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  /** stderr, through which the progress line and every message go. */
  terminal: Terminal;
  stdinIsTerminal: boolean;
  toolVersion: string;
  /** The command table, for a command that runs another (`plan -- CMD …`). */
  commandNamed: (name: string) => Command | undefined;
}

/**
 * One command of the command table: it declares its options, its positional arguments and real
 * examples next to its `run`; usage and help are generated from these declarations, and a flag it
 * does not declare is a usage error.
 */
export interface Command {
  /** One word, or two for a command of a family (`vectors add`). */
  name: string;
  /** Where help lists it. */
  group: 'Datasets' | 'Pipeline' | 'Runs' | 'Scale' | 'Vectors' | 'Rules' | 'Tools';
  summary: string;
  /** The arguments after the options in the usage line, e.g. `[inputs…]`. */
  operands: string;
  /** Longer help text under the usage line (what it reads and writes, defaults). */
  description: readonly string[];
  options: OptionTable;
  /** Two or three real invocations. */
  examples: readonly string[];
  /** Whether positional arguments are accepted (inputs); otherwise any is a usage error. */
  takesOperands: boolean;
  /** Whether arguments after `--` are taken (the plan command's inner command). */
  takesRest?: boolean;
  run(session: Session): Promise<number>;
}

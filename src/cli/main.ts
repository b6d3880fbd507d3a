import { createRequire } from 'node:module';
import { DistillError, EXIT_CODE, usageError } from '../errors.js';
import type { Command } from './command.js';
import { commandHelp, mainHelp } from './help.js';
import { didYouMean, parseArgs } from './parse.js';
import { COMMANDS, commandNamed } from './table.js';
import { Terminal } from './terminal.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

const isBrokenPipe = (error: unknown): boolean => typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'EPIPE';

/** The command a line names — one word, or a family's two (`vectors add`) — and the arguments after it. */
function commandOf(words: readonly string[]): { command: Command; rest: readonly string[] } {
  const [first = '', second] = words;
  const pair = second === undefined ? undefined : commandNamed(`${first} ${second}`);
  if (pair !== undefined) return { command: pair, rest: words.slice(2) };
  const single = commandNamed(first);
  if (single !== undefined) return { command: single, rest: words.slice(1) };
  const family = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name.slice(first.length + 1));
  if (family.length > 0) {
    throw usageError(second === undefined ? `${first} needs one of: ${family.join(', ')}` : `unknown command '${first} ${second}'${didYouMean(second, family, `${first} `)}`);
  }
  throw usageError(`unknown command '${first}'${didYouMean(first, [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))])}`);
}

/**
 * Runs one command line and returns the exit code: 0 done, 1 validation failed, 2 usage error
 * (one line and where to get help), 3 I/O error (naming the path and the option), 70 a bug (with
 * its stack). `help CMD`, `CMD --help`, `--help` and `--version` print to stdout.
 */
export async function main(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; cwd: string; env: NodeJS.ProcessEnv; stdinIsTerminal: boolean }): Promise<number> {
  const terminal = new Terminal(io.stderr);
  let command: Command | undefined;
  try {
    const [first, ...rest] = argv;
    if (first === undefined) throw usageError('missing command');
    if (first === '--help' || first === '-h') {
      io.stdout.write(mainHelp(COMMANDS));
      return 0;
    }
    if (first === '--version' || first === '-v') {
      io.stdout.write(`${version}\n`);
      return 0;
    }
    if (first === 'help') {
      io.stdout.write(rest.length === 0 ? mainHelp(COMMANDS) : commandHelp(commandOf(rest).command));
      return 0;
    }
    if (first.startsWith('-')) throw usageError(`a command comes first, then its options (got '${first}')`);
    const named = commandOf(argv);
    command = named.command;
    const args = parseArgs(command.name, command.options, named.rest);
    if (args.values['help'] === true) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    if (!command.takesOperands && args.positionals.length > 0) throw usageError(`${command.name} takes no arguments (got '${args.positionals[0]}')`);
    if (!command.takesRest && args.rest !== undefined) throw usageError(`${command.name} takes nothing after --`);
    return await command.run({ args, cwd: io.cwd, env: io.env, stdout: io.stdout, terminal, stdinIsTerminal: io.stdinIsTerminal, toolVersion: version, commandNamed });
  } catch (error) {
    if (isBrokenPipe(error)) return 0;
    if (error instanceof DistillError && error.code !== 'DS_INTERNAL') {
      terminal.line(`distill-stream: ${error.message}`);
      if (error.code === 'DS_USAGE') terminal.line(`Run 'distill-stream ${command === undefined ? '--help' : `${command.name} --help`}' for usage.`);
      return EXIT_CODE[error.code];
    }
    terminal.line(`distill-stream: internal error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return EXIT_CODE.DS_INTERNAL;
  } finally {
    terminal.clear();
  }
}

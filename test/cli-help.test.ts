/**
 * The command line as a user reads it: every command's help against its committed text (so a
 * changed flag or wording shows in review; `npm run fixtures` rewrites them), and every example the
 * help prints parsed by the command table, so no example names a flag that does not exist.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { GOLDEN_HELP, helpGoldenName } from '../data-fixtures/build-fixture.js';
import { commandHelp, mainHelp } from '../src/cli/help.js';
import { parseArgs } from '../src/cli/parse.js';
import { COMMANDS, commandNamed } from '../src/cli/table.js';

const golden = (name: string): Promise<string> => readFile(path.join(GOLDEN_HELP, helpGoldenName(name)), 'utf8');

/** Shell words of one command of an example: quotes removed, redirections and their targets dropped. */
function words(segment: string): string[] {
  const out: string[] = [];
  for (const match of segment.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3]!);
  const kept: string[] = [];
  for (let i = 0; i < out.length; i++) {
    if (out[i] === '>' || out[i] === '<') i++;
    else kept.push(out[i]!);
  }
  return kept;
}

/** Parses `argv` (after `distill-stream`) as the CLI would pick the command: two words for a family. */
function parseInvocation(argv: readonly string[]): void {
  const two = commandNamed(`${argv[0]} ${argv[1]}`);
  const command = two ?? commandNamed(argv[0]!);
  assert.ok(command, `no command ${argv.slice(0, 2).join(' ')}`);
  const parsed = parseArgs(command.name, command.options, argv.slice(two === undefined ? 1 : 2));
  if (!command.takesOperands) assert.deepEqual(parsed.positionals, [], `${command.name} takes no operands`);
  if (parsed.rest !== undefined) parseInvocation(parsed.rest);
}

describe('help', () => {
  test('the top-level help is the committed text', async () => {
    assert.equal(mainHelp(COMMANDS), await golden('distill-stream'));
  });

  for (const command of COMMANDS) {
    test(`${command.name} --help is the committed text, with its examples`, async () => {
      const help = commandHelp(command);
      assert.equal(help, await golden(command.name));
      assert.ok(command.examples.length > 0, `${command.name} shows no example`);
      for (const example of command.examples) assert.ok(help.includes(example));
    });
  }

  test('every example parses with the command table', () => {
    for (const command of COMMANDS) {
      for (const example of command.examples) {
        for (const segment of example.split('|')) {
          const argv = words(segment).filter((word) => !/^[A-Z_]+=/.test(word));
          if (argv[0] !== 'distill-stream') continue;
          assert.doesNotThrow(() => parseInvocation(argv.slice(1)), `${command.name}: ${example}`);
        }
      }
    }
  });
});

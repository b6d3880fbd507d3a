import { open } from 'node:fs/promises';
import { sha256Hex } from '../core/canonical.js';
import { checkRulesText, type RulesFileProblem } from '../core/rules-document.js';
import { compileRuleset, type Ruleset } from '../core/ruleset.js';
import { DistillError, ioError } from '../errors.js';
import { readAtMost } from './small-file.js';

/** A rules file is configuration, read whole; anything larger is some other file named by mistake. */
export const MAX_RULES_FILE_BYTES = 1 << 20;

export interface RulesCheck {
  ok: boolean;
  problems: RulesFileProblem[];
}

type Read = { bytes: Buffer; text: string } | { bytes: Buffer | undefined; problem: RulesFileProblem };

const fileProblem = (message: string, line = 1, column = 1): RulesFileProblem => ({ line, column, rule: null, rule_sources: null, field: '', message });

/** The file's bytes and text; I/O failures are DS_IO errors, a file too large or not UTF-8 is a problem of the file. */
async function readRulesFile(file: string, label = file): Promise<Read> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const read = size > MAX_RULES_FILE_BYTES ? { bytes: Buffer.alloc(0), more: true } : await readAtMost(handle, MAX_RULES_FILE_BYTES);
      if (read.more) {
        const what = size > MAX_RULES_FILE_BYTES ? String(size) : `more than ${MAX_RULES_FILE_BYTES}`; // a pipe's stat says 0
        return { bytes: undefined, problem: fileProblem(`the file is ${what} bytes; a rules file is at most ${MAX_RULES_FILE_BYTES}`) };
      }
      bytes = read.bytes;
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw ioError(label, error);
  }
  try {
    // ignoreBOM keeps a byte-order mark in the text, where the JSON check names it.
    return { bytes, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    const lenient = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    const at = lenient.indexOf('\ufffd');
    const before = lenient.slice(0, at);
    const line = before.split('\n').length;
    return { bytes, problem: fileProblem('not UTF-8: save the file as UTF-8', line, at - before.lastIndexOf('\n')) };
  }
}

/** `rules check FILE`: every problem of a rules file with its line, column, rule and field. I/O errors throw DS_IO. */
export async function checkRulesFile(file: string): Promise<RulesCheck> {
  const read = await readRulesFile(file);
  const problems = 'problem' in read ? [read.problem] : checkRulesText(read.text).problems;
  return { ok: problems.length === 0, problems };
}

/** One problem as a line a person reads: `FILE:LINE:COLUMN: FIELD [sources]: message`. */
export function formatRulesProblem(display: string, problem: RulesFileProblem): string {
  const rule = problem.rule_sources === null ? '' : ` [${problem.rule_sources.join(', ')}]`;
  const field = problem.field === '' ? '' : ` ${problem.field}${rule}:`;
  return `${display}:${problem.line}:${problem.column}:${field} ${problem.message}`;
}

/**
 * A rules file read, checked and compiled once, with the digest of the bytes it was compiled from
 * (path, bytes, sha256: an input of the score stage's receipt). `display` is the path the receipt and
 * messages show (relative to the root); the file's own path by default. A file with problems is a
 * DS_USAGE error listing each with its line and column; an unreadable one is DS_IO, named by `label`
 * (the path as typed and its option, `--rules nope.json`), else by `display`.
 */
export async function loadRuleset(file: string, options: { display?: string; label?: string } = {}): Promise<Ruleset> {
  const display = options.display ?? file;
  const read = await readRulesFile(file, options.label ?? display);
  const checked = 'problem' in read ? { value: undefined, problems: [read.problem] } : checkRulesText(read.text);
  if (checked.problems.length > 0) {
    const count = checked.problems.length;
    const lines = checked.problems.map((problem) => `  ${formatRulesProblem(display, problem)}`);
    throw new DistillError('DS_USAGE', `${display}: ${count} ${count === 1 ? 'problem' : 'problems'} in the rules file:\n${lines.join('\n')}`, {
      path: display,
      line: checked.problems[0]!.line,
    });
  }
  const bytes = read.bytes!;
  return compileRuleset(checked.value, { path: display, bytes: bytes.length, sha256: sha256Hex(bytes) });
}

/**
 * The one row `rules explain` explains: a JSON document (one line or pretty-printed), read whole
 * up to the longest line any command accepts.
 */
export async function readRowFile(file: string, display: string, maxBytes: number): Promise<unknown> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const tooLong = (what: string): DistillError => new DistillError('DS_USAGE', `${display} is ${what} bytes; one row is at most ${maxBytes} (--max-line-bytes)`, { path: display });
      if (size > maxBytes) throw tooLong(String(size));
      const read = await readAtMost(handle, maxBytes);
      if (read.more) throw tooLong(`more than ${maxBytes}`);
      text = read.bytes.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw error instanceof DistillError ? error : ioError(display, error);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DistillError('DS_USAGE', `${display} is not one JSON row: ${(error as Error).message}`, { path: display });
  }
}

import { usageError } from '../errors.js';
import { camelCase, type OptionSpec, type OptionTable } from '../options.js';
import { isIsoTimestamp } from '../timestamp.js';

/** A command line parsed against one command's option table. */
export interface ParsedArgs {
  /** Values by camelCased flag name; booleans default to false, others to undefined. */
  values: Record<string, unknown>;
  positionals: string[];
  /** Arguments after a bare `--`, kept verbatim (`plan … -- CMD [options…]`). */
  rest: string[] | undefined;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?$/i;
const SIZE_FACTOR: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** `65536`, `64KiB`, `64MiB`, `1MB` (decimal units are powers of 1000, binary ones of 1024) → bytes. */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (match === null) return undefined;
  const bytes = Number(match[1]) * SIZE_FACTOR[(match[2] ?? 'b').toLowerCase()]!;
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

/** The value of one option, checked against its kind; throws a usage error naming the flag. */
function parseValue(name: string, spec: OptionSpec, text: string): unknown {
  const bad = (expected: string): never => {
    throw usageError(`--${name} '${text}' is not ${expected}`);
  };
  switch (spec.kind) {
    case 'size':
      return parseSize(text) ?? bad('a size (e.g. 65536, 64KiB, 64MiB, 1MB)');
    case 'count':
    case 'index': {
      const n = Number(text);
      const least = spec.kind === 'count' ? 1 : 0;
      return /^\d+$/.test(text) && Number.isSafeInteger(n) && n >= least ? n : bad(least === 1 ? 'a positive integer' : 'a non-negative integer');
    }
    case 'number': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) && n >= 0 ? n : bad('a non-negative number');
    }
    case 'timestamp':
      return isIsoTimestamp(text) ? text : bad('an ISO-8601 timestamp (e.g. 2026-05-01T00:00:00Z)');
    case 'choice':
      return spec.choices!.includes(text) ? text : bad(`one of ${spec.choices!.join(', ')}`);
    case 'string':
    case 'path':
      return text === '' ? bad('a non-empty value') : text;
    case 'boolean':
      return true;
  }
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = candidate.startsWith(word) && word.length >= 3 ? 0.5 : distance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

const didYouMean = (word: string, candidates: readonly string[], prefix = ''): string => {
  const guess = nearest(word, candidates);
  return guess === undefined ? '' : ` (did you mean ${prefix}${guess}?)`;
};

/**
 * Parses `argv` against a command's options: `--name value`, `--name=value`, `-k value`, booleans
 * as bare flags, `--` ending the options. A flag the command does not take is a usage error naming
 * the command, with a "did you mean" for a near miss. A string option takes the next argument as
 * its value even when it starts with `-` (so `--out -` means stdout).
 */
export function parseArgs(command: string, table: OptionTable, argv: readonly string[]): ParsedArgs {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) values[camelCase(name)] = spec.kind === 'boolean' ? false : undefined;
  const shorts = new Map(Object.entries(table).flatMap(([name, spec]) => (spec.short === undefined ? [] : [[spec.short, name] as const])));
  const seen = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { values, positionals, rest: argv.slice(i + 1) };
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const eq = arg.indexOf('=');
    const key = long ? arg.slice(2, eq === -1 ? undefined : eq) : arg.slice(1, 2);
    const name = long ? key : shorts.get(key);
    const spec = name === undefined ? undefined : table[name];
    if (name === undefined || spec === undefined) {
      throw usageError(`${command} does not take ${arg.slice(0, long && eq !== -1 ? eq : undefined)}${long ? didYouMean(key, Object.keys(table), '--') : ''}`);
    }
    if (seen.has(name)) throw usageError(`--${name} is given twice`);
    seen.add(name);
    let text: string | undefined = long ? (eq === -1 ? undefined : arg.slice(eq + 1)) : arg.length > 2 ? arg.slice(2) : undefined;
    if (spec.kind === 'boolean') {
      if (text !== undefined) throw usageError(`--${name} takes no value`);
      values[camelCase(name)] = true;
      continue;
    }
    if (text === undefined) {
      if (i + 1 >= argv.length) throw usageError(`--${name} needs a value${spec.placeholder ? ` (${spec.placeholder})` : ''}`);
      text = argv[++i]!;
    }
    values[camelCase(name)] = parseValue(name, spec, text);
  }
  return { values, positionals, rest: undefined };
}

export { didYouMean };

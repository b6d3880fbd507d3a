import type { EvidenceRecord, JoinedEvidence } from '../records.js';
import { validators } from '../schemas/validators.js';
import { BACKSLASH, QUOTE, textFacts, type TextFacts } from './evidence-text.js';
import { isJsonObject } from './gates.js';
import { literalFacts } from './text-literal.js';

/** What the join keeps of one joinable evidence row, besides where its line is. */
export type EvidenceProjection = Omit<JoinedEvidence, 'text'> & { run_id: string };

/**
 * One evidence line understood: its projection and text facts, and where its text's JSON lies in
 * the line when those bytes are already what JSON.stringify writes (`textStart`/`textEnd`, the
 * quotes included); `undefined` when the text must be re-serialised from the line at join time.
 */
export interface AnalysedLine {
  projection: EvidenceProjection;
  facts: TextFacts;
  literal: { start: number; end: number } | undefined;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const TEXT_KEY = Buffer.from('"text"');

const isSpace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

function skipSpace(line: Uint8Array, at: number): number {
  while (isSpace(line[at])) at++;
  return at;
}

/** The index just past the closing quote of the string starting at `at`, or -1 when it never closes. */
function stringEnd(line: Buffer, at: number): number {
  for (let from = at + 1; ; ) {
    const quote = line.indexOf(QUOTE, from);
    if (quote === -1) return -1;
    let backslashes = 0;
    while (line[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index just past the JSON value starting at `at` (strings skipped by quote search, containers by depth), or -1. */
function valueEnd(line: Buffer, at: number): number {
  const first = line[at];
  if (first === QUOTE) return stringEnd(line, at);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let end = at;
    while (end < line.length && line[end] !== COMMA && line[end] !== CLOSE_BRACE && line[end] !== CLOSE_BRACKET && !isSpace(line[end])) end++;
    return end === at ? -1 : end;
  }
  let depth = 0;
  for (let i = at; i < line.length; i++) {
    const byte = line[i];
    if (byte === QUOTE) {
      const end = stringEnd(line, i);
      if (end === -1) return -1;
      i = end - 1;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Where the top-level `"text"` string value of a one-object line lies, found without parsing the
 * text: keys are read one by one, values skipped. Undefined whenever the shape is not the plain
 * one (not an object, a key with an escape that might spell "text", "text" twice or not a string,
 * anything malformed): the caller then parses the whole line, which decides exactly.
 */
export function topLevelText(line: Buffer): { start: number; end: number } | undefined {
  let at = skipSpace(line, 0);
  if (line[at] !== OPEN_BRACE) return undefined;
  at = skipSpace(line, at + 1);
  let text: { start: number; end: number } | undefined;
  if (line[at] === CLOSE_BRACE) return undefined;
  for (;;) {
    if (line[at] !== QUOTE) return undefined;
    const keyEnd = stringEnd(line, at);
    if (keyEnd === -1) return undefined;
    const key = line.subarray(at, keyEnd);
    if (key.includes(BACKSLASH)) return undefined;
    const isText = key.equals(TEXT_KEY);
    at = skipSpace(line, keyEnd);
    if (line[at] !== COLON) return undefined;
    at = skipSpace(line, at + 1);
    const end = valueEnd(line, at);
    if (end === -1) return undefined;
    if (isText) {
      if (text !== undefined || line[at] !== QUOTE) return undefined;
      text = { start: at, end };
    }
    at = skipSpace(line, end);
    if (line[at] === COMMA) {
      at = skipSpace(line, at + 1);
      continue;
    }
    if (line[at] !== CLOSE_BRACE) return undefined;
    return skipSpace(line, at + 1) === line.length ? text : undefined;
  }
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // not JSON: not joinable, counted by the caller
  }
}

function projectionOf(record: EvidenceRecord): EvidenceProjection {
  const contractor = record.metadata !== undefined && Object.hasOwn(record.metadata, 'contractor') ? record.metadata['contractor'] : undefined;
  return {
    run_id: record.run_id,
    task_id: record.task_id,
    model_role: record.model_role,
    model_name: record.model_name ?? '',
    source_files: record.source_files ?? [],
    matrix_corpora: record.retrieved_context?.matrix_corpora ?? [],
    pathway_fingerprints_seen: record.retrieved_context?.pathway_fingerprints_seen ?? 0,
    contractor: typeof contractor === 'string' ? contractor : '',
    source_file: record.provenance.source_file,
  };
}

/**
 * Decides whether an evidence line (its bytes, terminator excluded) is joinable — it parses and
 * passes the EvidenceRecord schema, exactly as a whole-line JSON.parse and the compiled validator
 * decide — and what the join needs of it. The text is the bulk of the bytes: it is parsed on its
 * own (its JSON is a string literal) while the rest of the row is parsed with `""` in its place,
 * which the schema judges the same (it asks only that text be a string); the literal's facts are
 * read from its bytes when they are JSON.stringify's own, so the text is not even decoded.
 */
export function analyseEvidenceLine(line: Buffer): AnalysedLine | undefined {
  const { evidenceRecord } = validators();
  const range = topLevelText(line);
  if (range === undefined) {
    const record = parseOrUndefined(line.toString('utf8'));
    if (!isJsonObject(record) || !evidenceRecord(record)) return undefined;
    return { projection: projectionOf(record), facts: textFacts(record.text), literal: undefined };
  }
  const rest = parseOrUndefined(`${line.toString('utf8', 0, range.start)}""${line.toString('utf8', range.end)}`);
  if (!isJsonObject(rest) || !evidenceRecord(rest)) return undefined;
  // Bytes exactly as JSON.stringify writes them (most are) give their facts without being decoded.
  const facts = literalFacts(line, range.start, range.end);
  if (facts !== undefined) return { projection: projectionOf(rest), facts, literal: range };
  const text = parseOrUndefined(line.toString('utf8', range.start, range.end));
  if (typeof text !== 'string') return undefined;
  return { projection: projectionOf(rest), facts: textFacts(text), literal: undefined };
}

/** The text of a joinable line whose text bytes are not written as they are: the whole line parsed again. */
export function textOfLine(line: Buffer): string {
  return (JSON.parse(line.toString('utf8')) as EvidenceRecord).text;
}

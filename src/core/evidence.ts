import type { EvidenceRecord, RetrievedContext, SourceLocation } from '../records.js';
import { describeErrors, validators } from '../schemas/validators.js';
import { canonicalHash, canonicalJsonAround, sha256Hex } from './canonical.js';
import type { JsonObject } from './gates.js';
import { isJsonObject } from './gates.js';
import { topLevelText } from './evidence-line.js';
import { isStringifiedLiteral } from './text-literal.js';
import { reject, Rejection } from './rejection.js';

/**
 * The EvidenceRecord of one raw `_kb` row (docs/records.md, docs/raw-logs.md), fields in the documented order. Unknown fields are
 * dropped but still part of sig_hash (the canonical hash of the whole raw row). Pure: the raw row
 * is not mutated and shares no mutable state with the result beyond metadata/signals values.
 */
export function toEvidenceRecord(raw: unknown, location: SourceLocation, recordedAt: string): EvidenceRecord | Rejection {
  const fields = recordFields(raw);
  if (fields instanceof Rejection) return fields;
  const { row, record } = fields;
  record.text = has(row, 'text') ? (row['text'] as string) : '';
  record.provenance = provenanceOf(location, canonicalHash(raw), recordedAt);
  return record;
}

/** An EvidenceRecord and its JSONL line (UTF-8, newline-terminated): the bytes collect writes. */
export interface EvidenceLine {
  record: EvidenceRecord;
  line: Buffer;
}

const TEXT_MEMBER = ',"text":';
const EMPTY_TEXT_MEMBER = `${TEXT_MEMBER}""`;
const NEWLINE = Buffer.from('\n');

/**
 * toEvidenceRecord's record with its line, `${JSON.stringify(record)}\n`, written with the text's
 * JSON made once — taken from the raw `line` it was parsed from when its bytes there are
 * JSON.stringify's own — and spliced into both the line and the canonical JSON that sig_hash
 * hashes. The text is most of a row's bytes: stringifying and encoding it twice (once for the
 * hash, once for the line) was a third of collect's time at 1 GB.
 */
export function toEvidenceLine(raw: unknown, location: SourceLocation, recordedAt: string, line?: Buffer): EvidenceLine | Rejection {
  const fields = recordFields(raw);
  if (fields instanceof Rejection) return fields;
  const { row, record } = fields;
  const text = has(row, 'text') ? (row['text'] as string) : undefined;
  const textJson = (text !== undefined && line !== undefined ? stringifiedText(line) : undefined) ?? Buffer.from(JSON.stringify(text ?? ''));
  let sigHash: string;
  if (text === undefined) sigHash = canonicalHash(raw);
  else {
    const [head, tail] = canonicalJsonAround(row, 'text');
    sigHash = sha256Hex(Buffer.concat([Buffer.from(head), textJson, Buffer.from(tail)]));
  }
  record.text = '';
  record.provenance = provenanceOf(location, sigHash, recordedAt);
  // The members before text are a number and strings, whose JSON never holds an unescaped quote: the first `,"text":""` is text's own.
  const json = JSON.stringify(record);
  const at = json.indexOf(EMPTY_TEXT_MEMBER) + TEXT_MEMBER.length;
  record.text = text ?? '';
  return { record, line: Buffer.concat([Buffer.from(json.slice(0, at)), textJson, Buffer.from(json.slice(at + 2)), NEWLINE]) };
}

/**
 * The bytes of a raw line's text literal when they are already what JSON.stringify writes (most
 * are): then the text is neither serialised nor encoded at all.
 */
function stringifiedText(line: Buffer): Buffer | undefined {
  const literal = topLevelText(line);
  return literal !== undefined && isStringifiedLiteral(line, literal.start, literal.end) ? line.subarray(literal.start, literal.end) : undefined;
}

const provenanceOf = (location: SourceLocation, sigHash: string, recordedAt: string): EvidenceRecord['provenance'] => ({
  source_file: location.source_file,
  line_offset: location.line_offset,
  sig_hash: sigHash,
  recorded_at: recordedAt,
});

/** A raw row checked, and its record's fields in the documented order: text holds its place (''), provenance is for the caller to add. */
function recordFields(raw: unknown): { row: JsonObject; record: EvidenceRecord } | Rejection {
  if (!isJsonObject(raw)) return reject('schema_violation', 'row is not a JSON object');
  const { evidenceRaw } = validators();
  if (!evidenceRaw(raw)) return reject('schema_violation', ...describeErrors(evidenceRaw.errors));
  const row = raw as JsonObject;
  for (const key of NESTED_FIELDS) {
    if (has(row, key) && nestingDepth(row[key], MAX_NESTING) > MAX_NESTING) {
      return reject('schema_violation', `/${key} is nested deeper than ${MAX_NESTING} levels`);
    }
  }
  const record: EvidenceRecord = {
    schema_version: 1,
    run_id: row['run_id'] as string,
    task_id: row['task_id'] as string,
    model_role: has(row, 'model_role') ? (row['model_role'] as string) : '',
  } as EvidenceRecord;
  if (has(row, 'model_name')) record.model_name = row['model_name'] as string;
  record.text = '';
  if (has(row, 'source_files')) record.source_files = row['source_files'] as string[];
  if (has(row, 'retrieved_context')) record.retrieved_context = retrievedContext(row['retrieved_context'] as JsonObject);
  if (has(row, 'metadata')) record.metadata = row['metadata'] as Record<string, unknown>;
  if (has(row, 'signals')) record.signals = row['signals'] as Record<string, unknown>;
  record.created_at = row['created_at'] as string;
  return { row, record };
}

const has = (row: JsonObject, key: string): boolean => Object.hasOwn(row, key);

/** The kept fields that may hold any JSON value (the others are schema-checked to be flat). */
const NESTED_FIELDS = ['metadata', 'signals'] as const;

/**
 * Levels of arrays/objects a kept field may nest. JSON.parse takes any depth, but JSON.stringify
 * recurses and threw RangeError from ~4,170 levels on Node 20's default stack, which would end the
 * run; a fixed limit well below that quarantines the row the same way on every machine.
 */
export const MAX_NESTING = 1000;

/** Nesting depth of a parsed JSON value (a scalar is 0), counted iteratively and only up to `limit + 1`. */
export function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 1]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > limit) return depth;
    deepest = Math.max(deepest, depth);
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return deepest;
}

/** Only the two listed fields: output records carry exactly the fields docs/records.md lists. */
function retrievedContext(raw: JsonObject): RetrievedContext {
  const context: RetrievedContext = {};
  if (has(raw, 'matrix_corpora')) context.matrix_corpora = raw['matrix_corpora'] as string[];
  if (has(raw, 'pathway_fingerprints_seen')) context.pathway_fingerprints_seen = raw['pathway_fingerprints_seen'] as number;
  return context;
}

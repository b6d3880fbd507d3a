import { describeErrors, validators } from '../schemas/validators.js';
import type { Category, ScoredRun } from '../records.js';
import { reject, Rejection } from './rejection.js';

export type JsonObject = Record<string, unknown>;

export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parse gate: not JSON → undefined (the caller quarantines with the raw text). */
export function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/**
 * Parse-to-schema gates of every export (docs/quarantine.md): object, provenance, evidence_run_id,
 * then the compiled ScoredRun schema.
 */
export function admitScoredRun(value: unknown): ScoredRun | Rejection {
  if (!isJsonObject(value)) return reject('schema_violation', 'row is not a JSON object');
  const provenance = value['provenance'];
  if (!isJsonObject(provenance)) return reject('missing_provenance', 'provenance is missing or not an object');
  if (typeof provenance['sig_hash'] !== 'string') return reject('missing_provenance', 'provenance.sig_hash is missing or not a string');
  if (typeof provenance['source_file'] !== 'string') return reject('missing_provenance', 'provenance.source_file is missing or not a string');
  const runId = value['evidence_run_id'];
  if (runId === undefined || runId === null || runId === '') return reject('missing_source_run_id', 'evidence_run_id is absent, null or empty');
  const { scoredRun } = validators();
  if (!scoredRun(value)) return reject('schema_violation', ...describeErrors(scoredRun.errors));
  return value;
}

/** Categories that never reach SFT, whatever the options (docs/quarantine.md). Pinned by a test. */
export const SFT_FORBIDDEN_CATEGORIES: ReadonlySet<Category> = new Set<Category>(['rejected', 'needs_human_review']);

export type Firewall = (category: Category) => Rejection | undefined;

/** The SFT firewall, specialised once for the run's options. */
export function sftFirewall(options: { includePartial: boolean }): Firewall {
  return (category) => {
    if (SFT_FORBIDDEN_CATEGORIES.has(category)) return reject('unsafe_sft_category', `category ${category} never enters SFT`);
    if (category === 'partially_accepted' && !options.includePartial) {
      return reject('category_disallowed', 'partially_accepted needs --include-partial');
    }
    return undefined;
  };
}

/** The RAG firewall: rejected never, needs_human_review only with --include-review. */
export function ragFirewall(options: { includeReview: boolean }): Firewall {
  return (category) => {
    if (category === 'rejected') return reject('unsafe_rag_category', 'category rejected never enters RAG');
    if (category === 'needs_human_review' && !options.includeReview) {
      return reject('category_disallowed', 'needs_human_review needs --include-review');
    }
    return undefined;
  };
}

import type { ValidateFunction } from 'ajv';
import type { IdSet } from '../core/id-set.js';
import { shortId } from '../core/ids.js';
import { reject, type Rejection } from '../core/rejection.js';
import { instructionFor } from '../core/synthesis.js';
import type { JoinedEvidence } from '../io/evidence-index.js';
import type { Category, PreferenceSample, RecordProvenance, ScoredRun, SourceLocation } from '../records.js';
import { describeErrors } from '../schemas/validators.js';
import { evidenceNotFound, type EvidenceLookup } from './export-row.js';
import { idDigits, serializeTail } from './sample-parts.js';

/** Pairs written per task at most (SPEC §5). */
export const MAX_PAIRS_PER_TASK = 5;

/** A valid scored row as pairing needs it: ids, category and where it came from. Never its text. */
export interface PreferenceRow {
  task_id: string;
  /** 0 accepted, 1 rejected, 2 partially_accepted: the sort key that puts each list together. */
  rank: number;
  evidence_run_id: string;
  /** Input order, which breaks ties: "sorted by evidence_run_id (stable)". */
  seq: number;
  category: Category;
  location: SourceLocation;
  provenance: Pick<RecordProvenance, 'source_file' | 'line_offset' | 'sig_hash'>;
}

const RANK: Partial<Record<Category, number>> = { accepted: 0, rejected: 1, partially_accepted: 2 };

/** The pairing entry of a valid row, or undefined for needs_human_review (never paired). */
export function preferenceRow(run: ScoredRun, location: SourceLocation, seq: number): PreferenceRow | undefined {
  const rank = RANK[run.category];
  if (rank === undefined) return undefined;
  const { source_file, line_offset, sig_hash } = run.provenance;
  return { task_id: run.task_id, rank, evidence_run_id: run.evidence_run_id, seq, category: run.category, location, provenance: { source_file, line_offset, sig_hash } };
}

const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** task_id, then accepted / rejected / partial, then evidence_run_id, then input order (JS string order). */
export const comparePreferenceRows = (a: PreferenceRow, b: PreferenceRow): number =>
  order(a.task_id, b.task_id) || a.rank - b.rank || order(a.evidence_run_id, b.evidence_run_id) || a.seq - b.seq;

export const PREFERENCE_FORMATS = ['spec', 'dpo', 'openai-dpo'] as const;
export type PreferenceFormat = (typeof PREFERENCE_FORMATS)[number];

/** Views of a validated pair; chosen and rejected are the texts serialised at index time. */
const PREFERENCE_VIEWS: Readonly<Record<PreferenceFormat, (sample: PreferenceSample, chosenJson: string, rejectedJson: string) => string>> = {
  spec: (s, chosenJson, rejectedJson) =>
    `{"schema_version":1,"id":"${s.id}","task_id":${JSON.stringify(s.task_id)},"prompt":${JSON.stringify(s.prompt)},` +
    `"chosen":${chosenJson},"rejected":${rejectedJson},"chosen_run_id":${JSON.stringify(s.chosen_run_id)},` +
    `"rejected_run_id":${JSON.stringify(s.rejected_run_id)},"chosen_category":"${s.chosen_category}",` +
    `"rejected_category":"${s.rejected_category}",` +
    serializeTail(s.created_at, s.provenance),
  dpo: (s, chosenJson, rejectedJson) => `{"prompt":${JSON.stringify(s.prompt)},"chosen":${chosenJson},"rejected":${rejectedJson}}\n`,
  'openai-dpo': (s, chosenJson, rejectedJson) =>
    `{"input":{"messages":[{"role":"user","content":${JSON.stringify(s.prompt)}}]},` +
    `"preferred_output":[{"role":"assistant","content":${chosenJson}}],` +
    `"non_preferred_output":[{"role":"assistant","content":${rejectedJson}}]}\n`,
};

export function buildPreferenceSample(chosen: PreferenceRow, rejected: PreferenceRow, chosenEvidence: JoinedEvidence, rejectedEvidence: JoinedEvidence, recordedAt: string): PreferenceSample {
  return {
    schema_version: 1,
    id: shortId('pref-', chosen.evidence_run_id, rejected.evidence_run_id),
    task_id: chosen.task_id,
    prompt: instructionFor(chosenEvidence),
    chosen: chosenEvidence.text,
    rejected: rejectedEvidence.text,
    chosen_run_id: chosen.evidence_run_id,
    rejected_run_id: rejected.evidence_run_id,
    chosen_category: chosen.category,
    rejected_category: rejected.category,
    created_at: recordedAt,
    provenance: { ...chosen.provenance, recorded_at: recordedAt },
  };
}

export interface PairingContext {
  lookup: EvidenceLookup;
  validate: ValidateFunction<PreferenceSample>;
  /** Pair ids written so far in this run. */
  written: IdSet;
  recordedAt: string;
  format: PreferenceFormat;
}

/** What happened to candidate pair k of a task. */
export type PairOutcome =
  | { kind: 'written'; line: string; chosen: PreferenceRow; rejected: PreferenceRow }
  | { kind: 'quarantined'; rejection: Rejection; chosen: PreferenceRow; record: { task_id: string; k: number; chosen_run_id: string; rejected_run_id: string } };

/**
 * The candidate pairs of one task in order (SPEC §5): pair k is (A[k mod |A|], rejection[k]) over
 * the rejection list R then P; checks in order self-pairing, evidence, equal texts, schema,
 * duplicate id. Quarantined pairs do not count; the task stops after MAX_PAIRS_PER_TASK written.
 */
export function* pairTask(accepted: PreferenceRow[], rejections: PreferenceRow[], context: PairingContext): Generator<PairOutcome> {
  if (accepted.length === 0) return;
  const view = PREFERENCE_VIEWS[context.format];
  let writtenPairs = 0;
  for (let k = 0; k < rejections.length && writtenPairs < MAX_PAIRS_PER_TASK; k++) {
    const chosen = accepted[k % accepted.length]!;
    const rejected = rejections[k]!;
    const quarantined = (rejection: Rejection): PairOutcome => ({
      kind: 'quarantined',
      rejection,
      chosen,
      record: { task_id: chosen.task_id, k, chosen_run_id: chosen.evidence_run_id, rejected_run_id: rejected.evidence_run_id },
    });
    if (chosen.evidence_run_id === rejected.evidence_run_id) {
      yield quarantined(reject('self_pairing', `run ${JSON.stringify(chosen.evidence_run_id)} cannot be preferred over itself`));
      continue;
    }
    const chosenEvidence = context.lookup(chosen.evidence_run_id);
    if (chosenEvidence === undefined) {
      yield quarantined(evidenceNotFound(chosen.evidence_run_id));
      continue;
    }
    const rejectedEvidence = context.lookup(rejected.evidence_run_id);
    if (rejectedEvidence === undefined) {
      yield quarantined(evidenceNotFound(rejected.evidence_run_id));
      continue;
    }
    if (chosenEvidence.textJson === rejectedEvidence.textJson) {
      yield quarantined(reject('invalid_preference_pairing', 'chosen and rejected texts are equal'));
      continue;
    }
    const sample = buildPreferenceSample(chosen, rejected, chosenEvidence, rejectedEvidence, context.recordedAt);
    if (!context.validate(sample)) {
      yield quarantined(reject('schema_violation', ...describeErrors(context.validate.errors)));
      continue;
    }
    if (!context.written.add(idDigits(sample.id))) {
      yield quarantined(reject('duplicate_id', `id ${sample.id} was already written in this run`));
      continue;
    }
    writtenPairs++;
    yield { kind: 'written', line: view(sample, chosenEvidence.textJson, rejectedEvidence.textJson), chosen, rejected };
  }
}

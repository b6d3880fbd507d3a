import type { ValidateFunction } from 'ajv';
import { admitScoredRun, type Firewall } from '../core/gates.js';
import { IdSet } from '../core/id-set.js';
import { reject, Rejection } from '../core/rejection.js';
import { keep, type RowFunction } from '../engine/row.js';
import type { EvidenceLookup, EvidenceText, JoinedEvidence, ScoredRun } from '../records.js';
import { describeErrors } from '../schemas/validators.js';
import { idDigits } from './sample-parts.js';

/** What makes one export (SFT, RAG) differ from another; everything else is the shared gate chain. */
export interface ExportDefinition<S extends { id: string }> {
  firewall: Firewall;
  synthesisCheck: (evidence: JoinedEvidence) => Rejection | undefined;
  build: (run: ScoredRun, evidence: JoinedEvidence) => S;
  validate: ValidateFunction<S>;
  /** The sample as its view writes it, plus "\\n", with the evidence text's JSON bytes in place of its text fields. */
  serialize: (sample: S, text: EvidenceText) => Uint8Array;
}

/** A sample id written twice. */
export const duplicateIdError = (id: string): string => `id ${id} was already written in this run`;

export const evidenceNotFound = (runId: string): Rejection => reject('evidence_not_found', `no evidence with run_id ${JSON.stringify(runId)}`);

/**
 * Steps 2–8 of the export gate chain for one parsed row: provenance and schema gates, firewall,
 * evidence join, synthesis checks, output validation, duplicate ids (only rows that passed every
 * earlier gate take an id), serialisation. A kept row carries its category and, for the receipt's
 * sample, the written text's length keyed by the sample id.
 */
export function exportRow<S extends { id: string }>(definition: ExportDefinition<S>, lookup: EvidenceLookup): RowFunction<Uint8Array> {
  const { firewall, synthesisCheck, build, validate, serialize } = definition;
  const written = new IdSet();
  return (value) => {
    const run = admitScoredRun(value);
    if (run instanceof Rejection) return run;
    const blocked = firewall(run.category);
    if (blocked) return blocked;
    const evidence = lookup(run.evidence_run_id);
    if (evidence === undefined) return evidenceNotFound(run.evidence_run_id);
    const unfit = synthesisCheck(evidence);
    if (unfit) return unfit;
    const sample = build(run, evidence);
    if (!validate(sample)) return reject('schema_violation', ...describeErrors(validate.errors));
    if (!written.add(idDigits(sample.id))) return reject('duplicate_id', duplicateIdError(sample.id));
    return keep(serialize(sample, evidence.text), run.category, { key: sample.id, value: evidence.text.units });
  };
}

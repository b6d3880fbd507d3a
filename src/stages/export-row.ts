import type { ValidateFunction } from 'ajv';
import { admitScoredRun, type Firewall } from '../core/gates.js';
import { IdSet } from '../core/id-set.js';
import { reject, Rejection } from '../core/rejection.js';
import type { JoinedEvidence } from '../io/evidence-index.js';
import type { ScoredRun } from '../records.js';
import { describeErrors } from '../schemas/validators.js';
import type { RowFunction } from './row-stage.js';
import { idDigits } from './sample-parts.js';
import type { StageStats } from './stats.js';

/** Looks evidence up by run_id; the LMDB index in production, a Map in unit tests. */
export type EvidenceLookup = (runId: string) => JoinedEvidence | undefined;

/** What makes one export (SFT, RAG) differ from another; everything else is the shared gate chain. */
export interface ExportDefinition<S extends { id: string }> {
  firewall: Firewall;
  synthesisCheck: (evidence: JoinedEvidence) => Rejection | undefined;
  build: (run: ScoredRun, evidence: JoinedEvidence) => S;
  validate: ValidateFunction<S>;
  /** The sample as JSON.stringify writes it, plus "\n"; `textJson` is the evidence text already serialised. */
  serialize: (sample: S, textJson: string) => string;
  /** The receipt sample of written text lengths (UTF-16 code units), keyed by sample id. */
  lengthMetric: string;
}

export const evidenceNotFound = (runId: string): Rejection => reject('evidence_not_found', `no evidence with run_id ${JSON.stringify(runId)}`);

/**
 * SPEC §2 steps 2–8 for one parsed row: provenance and schema gates, firewall, evidence join,
 * synthesis checks, output validation, duplicate ids (only rows that passed every earlier gate take
 * an id), serialisation. `stats` receives the category of every row written.
 */
export function exportRow<S extends { id: string }>(definition: ExportDefinition<S>, lookup: EvidenceLookup, stats: StageStats): RowFunction {
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
    if (!written.add(idDigits(sample.id))) return reject('duplicate_id', `id ${sample.id} was already written in this run`);
    stats.countCategory(run.category);
    stats.sample(definition.lengthMetric, sample.id, evidence.text.length);
    return serialize(sample, evidence.textJson);
  };
}

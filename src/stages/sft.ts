import { admitScoredRun, sftFirewall } from '../core/gates.js';
import { IdSet } from '../core/id-set.js';
import { shortId } from '../core/ids.js';
import { reject, Rejection } from '../core/rejection.js';
import { contextFor, instructionFor, sftSynthesisCheck, sourceFileCheck } from '../core/synthesis.js';
import type { JoinedEvidence } from '../io/evidence-index.js';
import type { ScoredRun, SftSample } from '../records.js';
import { describeErrors, validators } from '../schemas/validators.js';
import type { RowFunction } from './row-stage.js';
import type { StageStats } from './stats.js';

/** Looks evidence up by run_id; the LMDB index in production, a Map in unit tests. */
export type EvidenceLookup = (runId: string) => JoinedEvidence | undefined;

export interface SftOptions {
  recordedAt: string;
  includePartial: boolean;
  repoRoot: string | undefined;
}

const SHORT_ID_PREFIX_LENGTH = 'sft-'.length;

/** The SftSample of a scored row that passed every gate up to synthesis (SPEC §1 field order). */
export function buildSftSample(run: ScoredRun, evidence: JoinedEvidence, recordedAt: string): SftSample {
  return {
    schema_version: 1,
    id: shortId('sft-', run.evidence_run_id, run.provenance.sig_hash),
    instruction: instructionFor(evidence),
    context: contextFor(evidence),
    response: evidence.text,
    source_run_id: run.evidence_run_id,
    quality_score: run.category as SftSample['quality_score'],
    created_at: recordedAt,
    provenance: {
      source_file: run.provenance.source_file,
      line_offset: run.provenance.line_offset,
      sig_hash: run.provenance.sig_hash,
      recorded_at: recordedAt,
    },
  };
}

/**
 * JSON.stringify(sample) + "\n", written by template: the response is the evidence text already
 * serialised at index time, so the long string is never re-escaped. Fields that the schema pins
 * (id, enums, sig_hash, integers) need no escaping. A test holds it equal to JSON.stringify.
 */
export function serializeSftSample(sample: SftSample, responseJson: string): string {
  const p = sample.provenance;
  const recordedAtJson = JSON.stringify(p.recorded_at);
  return (
    `{"schema_version":1,"id":"${sample.id}","instruction":${JSON.stringify(sample.instruction)},` +
    `"context":${JSON.stringify(sample.context)},"response":${responseJson},` +
    `"source_run_id":${JSON.stringify(sample.source_run_id)},"quality_score":"${sample.quality_score}",` +
    `"created_at":${JSON.stringify(sample.created_at)},"provenance":{"source_file":${JSON.stringify(p.source_file)},` +
    `"line_offset":${p.line_offset},"sig_hash":"${p.sig_hash}","recorded_at":${recordedAtJson}}}\n`
  );
}

/**
 * The SFT gate chain after parsing (SPEC §2 steps 2–8), specialised once for the run's options.
 * `stats` receives the category of every row written.
 */
export function sftRow(options: SftOptions, lookup: EvidenceLookup, stats: StageStats): RowFunction {
  const firewall = sftFirewall(options);
  const synthesisCheck = sftSynthesisCheck(sourceFileCheck(options));
  const { sftSample } = validators();
  const written = new IdSet();
  return (value) => {
    const run = admitScoredRun(value);
    if (run instanceof Rejection) return run;
    const blocked = firewall(run.category);
    if (blocked) return blocked;
    const evidence = lookup(run.evidence_run_id);
    if (evidence === undefined) return reject('evidence_not_found', `no evidence with run_id ${JSON.stringify(run.evidence_run_id)}`);
    const unfit = synthesisCheck(evidence);
    if (unfit) return unfit;
    const sample = buildSftSample(run, evidence, options.recordedAt);
    if (!sftSample(sample)) return reject('schema_violation', ...describeErrors(sftSample.errors));
    if (!written.add(sample.id.slice(SHORT_ID_PREFIX_LENGTH))) return reject('duplicate_id', `id ${sample.id} was already written in this run`);
    stats.countCategory(run.category);
    return serializeSftSample(sample, evidence.textJson);
  };
}

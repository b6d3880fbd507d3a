import { sftFirewall } from '../core/gates.js';
import { shortId } from '../core/ids.js';
import { contextFor, instructionFor, sftSynthesisCheck, sourceFileCheck } from '../core/synthesis.js';
import type { JoinedEvidence } from '../io/evidence-index.js';
import type { ScoredRun, SftSample } from '../records.js';
import { validators } from '../schemas/validators.js';
import { exportRow, type EvidenceLookup, type ExportDefinition } from './export-row.js';
import type { RowFunction } from './row-stage.js';
import { exportProvenance, serializeTail } from './sample-parts.js';
import type { StageStats } from './stats.js';

export interface SftOptions {
  recordedAt: string;
  includePartial: boolean;
  repoRoot: string | undefined;
  /** The view written per sample; gates, validation and ids are the same whatever the view. */
  format?: SftFormat;
}

export const SFT_FORMATS = ['spec', 'messages', 'prompt-completion', 'alpaca'] as const;
export type SftFormat = (typeof SFT_FORMATS)[number];

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
    provenance: exportProvenance(run, recordedAt),
  };
}

/**
 * JSON.stringify(sample) + "\n", written by template: the response is the evidence text already
 * serialised at index time, so the long string is never re-escaped. Fields that the schema pins
 * (id, enums, sig_hash, integers) need no escaping. A test holds it equal to JSON.stringify.
 */
export function serializeSftSample(sample: SftSample, responseJson: string): string {
  return (
    `{"schema_version":1,"id":"${sample.id}","instruction":${JSON.stringify(sample.instruction)},` +
    `"context":${JSON.stringify(sample.context)},"response":${responseJson},` +
    `"source_run_id":${JSON.stringify(sample.source_run_id)},"quality_score":"${sample.quality_score}",` +
    serializeTail(sample.created_at, sample.provenance)
  );
}

/**
 * Trainer-ready views of a validated sample. `messages` puts the context in a system turn when it is
 * non-empty; `prompt-completion` appends it to the instruction after a blank line; `alpaca` keeps it
 * as `input`. The response is the text serialised at index time in every view.
 */
const SFT_VIEWS: Readonly<Record<SftFormat, (sample: SftSample, responseJson: string) => string>> = {
  spec: serializeSftSample,
  messages: (sample, responseJson) => {
    const system = sample.context === '' ? '' : `{"role":"system","content":${JSON.stringify(sample.context)}},`;
    return `{"messages":[${system}{"role":"user","content":${JSON.stringify(sample.instruction)}},{"role":"assistant","content":${responseJson}}]}\n`;
  },
  'prompt-completion': (sample, responseJson) => {
    const prompt = sample.context === '' ? sample.instruction : `${sample.instruction}\n\n${sample.context}`;
    return `{"prompt":${JSON.stringify(prompt)},"completion":${responseJson}}\n`;
  },
  alpaca: (sample, responseJson) =>
    `{"instruction":${JSON.stringify(sample.instruction)},"input":${JSON.stringify(sample.context)},"output":${responseJson}}\n`,
};

/** The SFT export's gate chain after parsing (SPEC §2), specialised once for the run's options. */
export function sftRow(options: SftOptions, lookup: EvidenceLookup, stats: StageStats): RowFunction {
  const definition: ExportDefinition<SftSample> = {
    firewall: sftFirewall(options),
    synthesisCheck: sftSynthesisCheck(sourceFileCheck(options)),
    build: (run, evidence) => buildSftSample(run, evidence, options.recordedAt),
    validate: validators().sftSample,
    serialize: SFT_VIEWS[options.format ?? 'spec'],
    lengthMetric: 'sft_response_length',
  };
  return exportRow(definition, lookup, stats);
}

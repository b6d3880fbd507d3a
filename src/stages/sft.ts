import { SFT_FORBIDDEN_CATEGORIES, sftFirewall } from '../core/gates.js';
import { builtinRuleset, type Ruleset } from '../core/ruleset.js';
import { shortId } from '../core/ids.js';
import { contextFor, instructionFor, sftSynthesisCheck, sourceFileCheck, type RepoFileCheck } from '../core/synthesis.js';
import type { RowFunction } from '../engine/row.js';
import { rowsAddUp, type DatasetStage } from '../engine/stage.js';
import { writtenRows } from '../engine/written.js';
import { repoFileCheck } from '../io/repo-files.js';
import { LAYOUT } from '../layout.js';
import { flag, option } from '../options.js';
import type { EvidenceLookup, JoinedEvidence, ScoredRun, SftSample } from '../records.js';
import { validators } from '../schemas/validators.js';
import { duplicateIdError, exportRow, type ExportDefinition } from './export-row.js';
import { assemble, exportProvenance, serializeTail } from './sample-parts.js';

export interface SftOptions {
  recordedAt: string;
  /** Whose instruction templates write the instruction; the built-in ones by default. */
  ruleset?: Ruleset;
  includePartial: boolean;
  /** With --repo-root: whether a source file exists in the repository. */
  inRepo: RepoFileCheck | undefined;
  /** The view written per sample; gates, validation and ids are the same whatever the view. */
  format?: SftFormat;
}

export const SFT_FORMATS = ['spec', 'messages', 'prompt-completion', 'alpaca'] as const;
export type SftFormat = (typeof SFT_FORMATS)[number];

/**
 * The SftSample of a scored row that passed every gate up to synthesis, fields in written order.
 * `response` is left "": the serializer writes the evidence text's JSON bytes in its place (the
 * schema asks only that it be a string, which a text always is).
 */
export function buildSftSample(run: ScoredRun, evidence: JoinedEvidence, recordedAt: string, ruleset: Ruleset = builtinRuleset()): SftSample {
  return {
    schema_version: 1,
    id: shortId('sft-', run.evidence_run_id, run.provenance.sig_hash),
    instruction: instructionFor(evidence, ruleset),
    context: contextFor(evidence),
    response: '',
    source_run_id: run.evidence_run_id,
    quality_score: run.category as SftSample['quality_score'],
    created_at: recordedAt,
    provenance: exportProvenance(run, recordedAt),
  };
}

/**
 * JSON.stringify(sample with its response) + "\n", written by template around the response's JSON
 * bytes as the evidence holds them, so the long text is never decoded or re-escaped. Fields that
 * the schema pins (id, enums, sig_hash, integers) need no escaping. A test holds it equal to
 * JSON.stringify.
 */
export function serializeSftSample(sample: SftSample, responseJson: Uint8Array): Buffer {
  return assemble([
    `{"schema_version":1,"id":"${sample.id}","instruction":${JSON.stringify(sample.instruction)},"context":${JSON.stringify(sample.context)},"response":`,
    responseJson,
    `,"source_run_id":${JSON.stringify(sample.source_run_id)},"quality_score":"${sample.quality_score}",${serializeTail(sample.created_at, sample.provenance)}`,
  ]);
}

/**
 * Trainer-ready views of a validated sample. `messages` puts the context in a system turn when it is
 * non-empty; `prompt-completion` appends it to the instruction after a blank line; `alpaca` keeps it
 * as `input`. The response is the text serialised at index time in every view.
 */
const SFT_VIEWS: Readonly<Record<SftFormat, (sample: SftSample, responseJson: Uint8Array) => Buffer>> = {
  spec: serializeSftSample,
  messages: (sample, responseJson) => {
    const system = sample.context === '' ? '' : `{"role":"system","content":${JSON.stringify(sample.context)}},`;
    return assemble([`{"messages":[${system}{"role":"user","content":${JSON.stringify(sample.instruction)}},{"role":"assistant","content":`, responseJson, '}]}\n']);
  },
  'prompt-completion': (sample, responseJson) => {
    const prompt = sample.context === '' ? sample.instruction : `${sample.instruction}\n\n${sample.context}`;
    return assemble([`{"prompt":${JSON.stringify(prompt)},"completion":`, responseJson, '}\n']);
  },
  alpaca: (sample, responseJson) => assemble([`{"instruction":${JSON.stringify(sample.instruction)},"input":${JSON.stringify(sample.context)},"output":`, responseJson, '}\n']),
};

/** The SFT export's gate chain after parsing, specialised once for the run's options. */
export function sftRow(options: SftOptions, lookup: EvidenceLookup): RowFunction<Uint8Array> {
  const view = SFT_VIEWS[options.format ?? 'spec'];
  const definition: ExportDefinition<SftSample> = {
    firewall: sftFirewall(options),
    synthesisCheck: sftSynthesisCheck(sourceFileCheck(options)),
    build: (run, evidence) => buildSftSample(run, evidence, options.recordedAt, options.ruleset),
    validate: validators().sftSample,
    serialize: (sample, text) => view(sample, text.json),
  };
  return exportRow(definition, lookup);
}

/** `--repo-root`, shared by the exports whose synthesis checks source files. */
export const REPO_ROOT_FLAG = option('path', 'DIR', 'reject source_files that are missing under DIR or resolve outside it');

const SFT_FLAGS = {
  'include-partial': flag('admit partially_accepted runs'),
  'repo-root': REPO_ROOT_FLAG,
};

/** The firewall re-checked on what was written: no forbidden category ever reaches SFT. */
const noForbiddenCategory = (counts: { byCategory: ReadonlyMap<string, number> }): string[] =>
  [...counts.byCategory.keys()].filter((category) => SFT_FORBIDDEN_CATEGORIES.has(category as SftSample['quality_score'])).map((category) => `SFT output holds quality_score ${category}`);

/** The SFT export: instruction / context / response samples of accepted (and with a flag, partial) runs. */
export const sftStage: DatasetStage<typeof SFT_FLAGS> = {
  kind: 'dataset',
  name: 'sft',
  receipt: 'export-sft',
  summary: 'scored runs → SFT samples (instruction, context, response)',
  reads: 'scored-runs',
  writes: LAYOUT.sft,
  flags: SFT_FLAGS,
  views: SFT_FORMATS,
  sampleMetric: 'sft_response_length',
  usesRules: true,
  split: { by: 'rows', duplicatesBy: 'written-id', duplicateError: (key) => duplicateIdError(`sft-${key}`) },
  invariants: [rowsAddUp, noForbiddenCategory],
  written: writtenRows('sftSample', {
    countedAs: (row) => row.quality_score,
    promises: (row) =>
      SFT_FORBIDDEN_CATEGORIES.has(row.quality_score as SftSample['quality_score'])
        ? [{ check: 'firewall', expected: 'quality_score accepted or partially_accepted', found: String(row.quality_score) }]
        : [],
  }),
  rows: ({ flags, recordedAt, ruleset, view, lookup }) =>
    sftRow({ recordedAt, ruleset, includePartial: flags.includePartial, inRepo: repoFileCheck(flags.repoRoot), format: view as SftFormat }, lookup),
};

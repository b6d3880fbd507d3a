import { SFT_FORBIDDEN_CATEGORIES, sftFirewall } from '../core/gates.js';
import { builtinRuleset, type Ruleset } from '../core/ruleset.js';
import { shortId } from '../core/ids.js';
import { contextFor, instructionFor, sftSynthesisCheck, sourceFileCheck, type RepoFileCheck } from '../core/synthesis.js';
import type { RowFunction } from '../engine/row.js';
import { rowsAddUp, type DatasetStage } from '../engine/stage.js';
import { writtenRows } from '../engine/written.js';
import { repoFileCheck } from '../io/repo-files.js';
import { LAYOUT } from '../layout.js';
import { choice, flag, option, type OptionValues } from '../options.js';
import { usageError } from '../errors.js';
import type { ColumnShape } from '../io/parquet.js';
import type { EvidenceLookup, JoinedEvidence, ScoredRun, SftSample } from '../records.js';
import { validators } from '../schemas/validators.js';
import { duplicateIdError, exportRow, type ExportDefinition } from './export-row.js';
import { assemble, exportProvenance, PROVENANCE_COLUMNS, serializeTail, TURN_COLUMNS } from './sample-parts.js';

export interface SftOptions {
  recordedAt: string;
  /** Whose instruction templates write the instruction; the built-in ones by default. */
  ruleset?: Ruleset;
  includePartial: boolean;
  /** With --repo-root: whether a source file exists in the repository. */
  inRepo: RepoFileCheck | undefined;
  /** The view written per sample; gates, validation and ids are the same whatever the view. */
  format?: SftFormat;
  /** Chat views: where the context goes and the system turn's own text. */
  chat?: ChatOptions;
}

export const SFT_FORMATS = ['spec', 'messages', 'prompt-completion', 'alpaca', 'sharegpt', 'conversational-prompt-completion'] as const;
export type SftFormat = (typeof SFT_FORMATS)[number];

/** The views that write turns: they take --context and --system-prompt. */
const CHAT_FORMATS: readonly SftFormat[] = ['messages', 'sharegpt', 'conversational-prompt-completion'];

export const CONTEXT_PLACEMENTS = ['system', 'user', 'none'] as const;
export type ContextPlacement = (typeof CONTEXT_PLACEMENTS)[number];

/**
 * Where a chat view puts the sample's context (the run's metadata: `model=…`, `matrix=…`) and what
 * its system turn says. `messages` keeps the context in its system turn by default, as it always
 * wrote; the newer chat views leave it out, since a model trained on it learns its own run metadata.
 */
export interface ChatOptions {
  context: ContextPlacement | undefined;
  systemPrompt: string | undefined;
}

const DEFAULT_CONTEXT: Partial<Record<SftFormat, ContextPlacement>> = { messages: 'system', sharegpt: 'none', 'conversational-prompt-completion': 'none' };

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

/** The turns of a chat view: an optional system turn, the user's, and the response. */
interface Turns {
  /** The system turn's content, or '' for none. */
  system: string;
  user: string;
}

/** How a chat view's turns are made from a sample, decided once for the run's options. */
function turnsOf(format: SftFormat, chat: ChatOptions | undefined): (sample: SftSample) => Turns {
  const placement = chat?.context ?? DEFAULT_CONTEXT[format] ?? 'none';
  const prompt = chat?.systemPrompt ?? '';
  const joined = (first: string, second: string): string => (first === '' ? second : second === '' ? first : `${first}\n\n${second}`);
  if (placement === 'system') return (sample) => ({ system: joined(prompt, sample.context), user: sample.instruction });
  if (placement === 'user') return (sample) => ({ system: prompt, user: joined(sample.instruction, sample.context) });
  return (sample) => ({ system: prompt, user: sample.instruction });
}

type View = (sample: SftSample, responseJson: Uint8Array) => Buffer;

/** `{"role":…,"content":…}` turns as JSON, the system turn only when it has content. */
const roleTurns = (turns: Turns): string =>
  `${turns.system === '' ? '' : `{"role":"system","content":${JSON.stringify(turns.system)}},`}{"role":"user","content":${JSON.stringify(turns.user)}}`;

/**
 * Trainer-ready views of a validated sample, each specialised once. `prompt-completion` appends the
 * context to the instruction after a blank line; `alpaca` keeps it as `input`. The chat views
 * (OpenAI's chat format `messages`, LLaMA-Factory's `sharegpt`, TRL's conversational
 * prompt-completion) place it as ChatOptions say. The response is the text serialised at index time
 * in every view.
 */
function sftView(format: SftFormat, chat: ChatOptions | undefined): View {
  const turns = turnsOf(format, chat);
  switch (format) {
    case 'spec':
      return serializeSftSample;
    case 'messages':
      return (sample, responseJson) => assemble([`{"messages":[${roleTurns(turns(sample))},{"role":"assistant","content":`, responseJson, '}]}\n']);
    case 'conversational-prompt-completion':
      return (sample, responseJson) => assemble([`{"prompt":[${roleTurns(turns(sample))}],"completion":[{"role":"assistant","content":`, responseJson, '}]}\n']);
    case 'sharegpt':
      return (sample, responseJson) => {
        const { system, user } = turns(sample);
        const systemPart = system === '' ? '' : `,"system":${JSON.stringify(system)}`;
        return assemble([`{"conversations":[{"from":"human","value":${JSON.stringify(user)}},{"from":"gpt","value":`, responseJson, `}]${systemPart}}\n`]);
      };
    case 'prompt-completion':
      return (sample, responseJson) => {
        const prompt = sample.context === '' ? sample.instruction : `${sample.instruction}\n\n${sample.context}`;
        return assemble([`{"prompt":${JSON.stringify(prompt)},"completion":`, responseJson, '}\n']);
      };
    case 'alpaca':
      return (sample, responseJson) => assemble([`{"instruction":${JSON.stringify(sample.instruction)},"input":${JSON.stringify(sample.context)},"output":`, responseJson, '}\n']);
  }
}

/** Each view's columns when written as Parquet. */
export const SFT_COLUMNS: Readonly<Record<SftFormat, ColumnShape>> = {
  spec: {
    schema_version: 'int32',
    id: 'string',
    instruction: 'text',
    context: 'text',
    response: 'text',
    source_run_id: 'string',
    quality_score: 'string',
    created_at: 'string',
    provenance: PROVENANCE_COLUMNS,
  },
  messages: { messages: [TURN_COLUMNS] },
  'prompt-completion': { prompt: 'text', completion: 'text' },
  alpaca: { instruction: 'text', input: 'text', output: 'text' },
  sharegpt: { conversations: [{ from: 'string', value: 'text' }], system: 'text?' },
  'conversational-prompt-completion': { prompt: [TURN_COLUMNS], completion: [TURN_COLUMNS] },
};

/**
 * The entry LLaMA-Factory's dataset_info.json needs to read a sharegpt or alpaca file named
 * `fileName`; undefined for the other views. sharegpt maps its `system` column only when rows may
 * have one (`withSystem`): a column named in the entry must exist in the file.
 */
export function llamaFactoryEntry(format: string, fileName: string, withSystem: boolean): Record<string, unknown> | undefined {
  if (format === 'sharegpt') return { file_name: fileName, formatting: 'sharegpt', columns: { messages: 'conversations', ...(withSystem ? { system: 'system' } : {}) } };
  if (format === 'alpaca') return { file_name: fileName, formatting: 'alpaca', columns: { prompt: 'instruction', query: 'input', response: 'output' } };
  return undefined;
}

/** The SFT export's gate chain after parsing, specialised once for the run's options. */
export function sftRow(options: SftOptions, lookup: EvidenceLookup): RowFunction<Uint8Array> {
  const view = sftView(options.format ?? 'spec', options.chat);
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

/** Options of the written view only (sft's own command; export-all writes the record itself). */
const SFT_VIEW_FLAGS = {
  context: choice(CONTEXT_PLACEMENTS, 'WHERE', 'chat views: the context goes into the system turn, after the instruction in the user turn, or nowhere: system, user, none (default: system for messages, none for the others)'),
  'system-prompt': option('string', 'TEXT', 'chat views: the system turn\'s text (the context follows it with --context system)'),
};

/** The chat options of a run, refused for a view that writes no turns. */
function chatOptionsOf(format: SftFormat, flags: OptionValues<typeof SFT_VIEW_FLAGS>): ChatOptions | undefined {
  if (flags.context === undefined && flags.systemPrompt === undefined) return undefined;
  if (!CHAT_FORMATS.includes(format)) throw usageError(`--context and --system-prompt apply to the chat views (${CHAT_FORMATS.join(', ')}), not --format ${format}`);
  return { context: flags.context, systemPrompt: flags.systemPrompt };
}

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
  columns: SFT_COLUMNS,
  viewFlags: SFT_VIEW_FLAGS,
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
  rows: ({ flags, recordedAt, ruleset, view, lookup }) => {
    const format = view as SftFormat;
    const chat = chatOptionsOf(format, flags as unknown as OptionValues<typeof SFT_VIEW_FLAGS>);
    return sftRow({ recordedAt, ruleset, includePartial: flags.includePartial, inRepo: repoFileCheck(flags.repoRoot), format, ...(chat === undefined ? {} : { chat }) }, lookup);
  },
};

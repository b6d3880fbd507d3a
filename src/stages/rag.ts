import { ragFirewall } from '../core/gates.js';
import { shortId } from '../core/ids.js';
import { ragSynthesisCheck, sourceFileCheck, type RepoFileCheck } from '../core/synthesis.js';
import { embeddingJson } from '../core/evidence-text.js';
import type { RowFunction } from '../engine/row.js';
import { rowsAddUp, type DatasetStage } from '../engine/stage.js';
import { writtenRows } from '../engine/written.js';
import { repoFileCheck } from '../io/repo-files.js';
import { LAYOUT } from '../layout.js';
import { flag } from '../options.js';
import type { EvidenceLookup, EvidenceText, JoinedEvidence, RagSample, ScoredRun } from '../records.js';
import { validators } from '../schemas/validators.js';
import { duplicateIdError, exportRow, type ExportDefinition } from './export-row.js';
import { assemble, exportProvenance, PROVENANCE_COLUMNS, serializeTail } from './sample-parts.js';
import { REPO_ROOT_FLAG } from './sft.js';

export interface RagOptions {
  recordedAt: string;
  includeReview: boolean;
  /** With --repo-root: whether a source file exists in the repository. */
  inRepo: RepoFileCheck | undefined;
}


/** `task:<task_id up to its first ':'>`, `category:<c>`, then role, model and first file when non-empty (docs/records.md). */
export function ragTags(evidence: JoinedEvidence, category: string): string[] {
  const colon = evidence.task_id.indexOf(':');
  const tags = [`task:${colon === -1 ? evidence.task_id : evidence.task_id.slice(0, colon)}`, `category:${category}`];
  if (evidence.model_role !== '') tags.push(`role:${evidence.model_role}`);
  if (evidence.model_name !== '') tags.push(`model:${evidence.model_name}`);
  const file = evidence.source_files[0] ?? '';
  if (file !== '') tags.push(`file:${file}`);
  return tags;
}

/**
 * The RagSample of a scored row that passed every gate, fields in written order. `content` and
 * `embedding_text` are left "": the serializer writes the evidence text's JSON bytes (whole, and cut
 * to 2000 code points) in their place; the title was worked out when the evidence was indexed.
 */
export function buildRagSample(run: ScoredRun, evidence: JoinedEvidence, recordedAt: string): RagSample {
  const category = run.category as RagSample['success_score'];
  return {
    schema_version: 1,
    id: shortId('rag-', run.evidence_run_id, run.provenance.sig_hash),
    title: evidence.text.title,
    content: '',
    tags: ragTags(evidence, category),
    source_run_id: run.evidence_run_id,
    success_score: category,
    source_category: category,
    embedding_text: '',
    created_at: recordedAt,
    provenance: exportProvenance(run, recordedAt),
  };
}

/** JSON.stringify(sample with its texts) + "\n": content and embedding_text are the text's JSON bytes, whole and cut. */
export function serializeRagSample(sample: RagSample, text: EvidenceText): Buffer {
  return assemble([
    `{"schema_version":1,"id":"${sample.id}","title":${JSON.stringify(sample.title)},"content":`,
    text.json,
    `,"tags":${JSON.stringify(sample.tags)},"source_run_id":${JSON.stringify(sample.source_run_id)},"success_score":"${sample.success_score}","source_category":"${sample.source_category}","embedding_text":`,
    embeddingJson(text),
    `,${serializeTail(sample.created_at, sample.provenance)}`,
  ]);
}

/** The RAG export's gate chain after parsing (the RAG firewall and synthesis). */
export function ragRow(options: RagOptions, lookup: EvidenceLookup): RowFunction<Uint8Array> {
  const definition: ExportDefinition<RagSample> = {
    firewall: ragFirewall(options),
    synthesisCheck: ragSynthesisCheck(sourceFileCheck(options)),
    build: (run, evidence) => buildRagSample(run, evidence, options.recordedAt),
    validate: validators().ragSample,
    serialize: serializeRagSample,
  };
  return exportRow(definition, lookup);
}

const RAG_FLAGS = {
  'include-review': flag('admit needs_human_review runs (never rejected ones)'),
  'repo-root': REPO_ROOT_FLAG,
};

/** The firewall re-checked on what was written: a rejected run never becomes a playbook. */
const noRejectedPlaybook = (counts: { byCategory: ReadonlyMap<string, number> }): string[] => (counts.byCategory.has('rejected') ? ['RAG output holds a rejected playbook'] : []);

/** The RAG export: playbooks with title, content, tags and embedding text. */
export const ragStage: DatasetStage<typeof RAG_FLAGS> = {
  kind: 'dataset',
  name: 'rag',
  receipt: 'export-rag',
  summary: 'scored runs → RAG playbooks (title, content, tags, embedding_text)',
  reads: 'scored-runs',
  writes: LAYOUT.rag,
  flags: RAG_FLAGS,
  views: ['spec'],
  columns: {
    spec: {
      schema_version: 'int32',
      id: 'string',
      title: 'string',
      content: 'text',
      tags: ['string'],
      source_run_id: 'string',
      success_score: 'string',
      source_category: 'string',
      embedding_text: 'text',
      created_at: 'string',
      provenance: PROVENANCE_COLUMNS,
    },
  },
  sampleMetric: 'rag_content_length',
  usesRules: false,
  split: { by: 'rows', duplicatesBy: 'written-id', duplicateError: (key) => duplicateIdError(`rag-${key}`) },
  invariants: [rowsAddUp, noRejectedPlaybook],
  written: writtenRows('ragSample', {
    countedAs: (row) => row.success_score,
    promises: (row) =>
      row.success_score === 'rejected' || row.source_category === 'rejected'
        ? [{ check: 'firewall', expected: 'a playbook of a run that is not rejected', found: `success_score ${String(row.success_score)}, source_category ${String(row.source_category)}` }]
        : [],
  }),
  rows: ({ flags, recordedAt, lookup }) => ragRow({ recordedAt, includeReview: flags.includeReview, inRepo: repoFileCheck(flags.repoRoot) }, lookup),
};

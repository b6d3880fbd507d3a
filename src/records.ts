/** Record shapes of docs/records.md. Field order in these types is the order written to disk. */

export type Category = 'accepted' | 'partially_accepted' | 'rejected' | 'needs_human_review';
export type SourceClass = 'verdict' | 'telemetry' | 'extraction';
export type StageName = 'collect' | 'score' | 'sft' | 'rag' | 'preference' | 'vectors';

export const QUARANTINE_REASONS = [
  'schema_violation',
  'missing_provenance',
  'missing_source_run_id',
  'evidence_not_found',
  'unsafe_sft_category',
  'unsafe_rag_category',
  'category_disallowed',
  'not_instructable',
  'empty_content',
  'hallucinated_file_path',
  'duplicate_id',
  'self_pairing',
  'invalid_preference_pairing',
  'line_too_long',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

export interface RecordProvenance {
  source_file: string;
  line_offset: number;
  sig_hash: string;
  recorded_at: string;
}

export interface RetrievedContext {
  matrix_corpora?: string[];
  pathway_fingerprints_seen?: number;
}

export interface EvidenceRecord {
  schema_version: 1;
  run_id: string;
  task_id: string;
  model_role: string;
  model_name?: string;
  text: string;
  source_files?: string[];
  retrieved_context?: RetrievedContext;
  metadata?: Record<string, unknown>;
  signals?: Record<string, unknown>;
  created_at: string;
  provenance: RecordProvenance;
}

/** `v1.0.0` for the built-in rules; `<name>@<version>+<12 hex>` for a rules file's own (docs/rules.md). */
export type ScorerVersion = 'v1.0.0' | `${string}@${string}+${string}`;

export interface ScoredRun {
  schema_version: 1;
  evidence_run_id: string;
  task_id: string;
  category: Category;
  reasons: string[];
  scorer_version: ScorerVersion;
  source_class: SourceClass;
  provenance: RecordProvenance;
}

export interface SftSample {
  schema_version: 1;
  id: string;
  instruction: string;
  context: string;
  response: string;
  source_run_id: string;
  quality_score: 'accepted' | 'partially_accepted';
  created_at: string;
  provenance: RecordProvenance;
}

export interface RagSample {
  schema_version: 1;
  id: string;
  title: string;
  content: string;
  tags: string[];
  source_run_id: string;
  success_score: Exclude<Category, 'rejected'>;
  source_category: Exclude<Category, 'rejected'>;
  embedding_text: string;
  created_at: string;
  provenance: RecordProvenance;
}

export interface PreferenceSample {
  schema_version: 1;
  id: string;
  task_id: string;
  prompt: string;
  chosen: string;
  rejected: string;
  chosen_run_id: string;
  rejected_run_id: string;
  chosen_category: Category;
  rejected_category: Category;
  created_at: string;
  provenance: RecordProvenance;
}

/** Where an input row was: path relative to the root (`-` for stdin) and 0-based physical line. */
export interface SourceLocation {
  source_file: string;
  line_offset: number;
}

export interface QuarantineRecord {
  schema_version: 1;
  stage: StageName;
  reason: QuarantineReason;
  errors: string[];
  recorded_at: string;
  source_provenance: SourceLocation;
  source_record: unknown;
}

/**
 * An evidence text as the exports write it: its JSON bytes (read from the evidence file as they
 * stand) and the facts worked out when the evidence was indexed, so a join never decodes it.
 */
export interface EvidenceText {
  /** The text as JSON.stringify writes it, quotes included, in UTF-8. */
  readonly json: Uint8Array;
  /** Its length in UTF-16 units (what JavaScript's `length` counts). */
  readonly units: number;
  /** trim() leaves nothing. */
  readonly blank: boolean;
  /** The RAG title: the first non-blank line, cut to 120 code points. */
  readonly title: string;
  /** Bytes of `json` (opening quote included, closing quote not) that embedding_text keeps; 0 when it keeps the whole text. */
  readonly embeddingPrefix: number;
}

/** What the exports need of one evidence record (the join's projection); absent optional fields read as empty. */
export interface JoinedEvidence {
  task_id: string;
  model_role: string;
  model_name: string;
  source_files: string[];
  matrix_corpora: string[];
  pathway_fingerprints_seen: number;
  /** metadata.contractor when it is an own non-empty string, else "". */
  contractor: string;
  /** The evidence's provenance.source_file (the `_kb` file), which picks the instruction template. */
  source_file: string;
  text: EvidenceText;
}

/** Looks evidence up by run_id: the on-disk index in production, a Map in unit tests. */
export type EvidenceLookup = (runId: string) => JoinedEvidence | undefined;

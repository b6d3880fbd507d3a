import type { JoinedEvidence } from '../records.js';
import { reject, type Rejection } from './rejection.js';
import { stemOf } from './stem.js';
import { isBlank } from './text.js';

/** Roles whose output is a response worth imitating (SPEC §1). */
export const INSTRUCTABLE_ROLES: ReadonlySet<string> = new Set(['executor', 'reviewer', 'applier']);

const CONTEXT_SEPARATOR = ' \u00b7 ';

type Template = (evidence: JoinedEvidence, file: string) => string;

const withoutPrefix = (value: string, prefix: string): string => (value.startsWith(prefix) ? value.slice(prefix.length) : value);

/** The instruction of each source stem (SPEC §2 step 6); values go in verbatim. */
const TEMPLATES: ReadonlyMap<string, Template> = new Map<string, Template>([
  ['scrum_reviews', (_, f) => `Review the file '${f}' against the PRD + change-proposal context. Produce a forensic audit with findings, severity, confidence, patches.`],
  ['mode_experiments', (e, f) => `Run task_class='${e.task_id}' for file '${f}'. Produce the mode-runner's expected output shape.`],
  ['auto_apply', (_, f) => `Auto-apply: emit a 6-line surgical patch for '${f}' based on the latest scrum review findings.`],
  ['audits', (e) => `Audit phase '${withoutPrefix(e.task_id, 'phase:')}' and report findings with severity.`],
  ['observer_reviews', (_, f) => `Observer-review the latest attempt on '${f}'. Verdict: accept | reject | cycle.`],
  ['contract_analyses', (e) => {
    const permit = withoutPrefix(e.task_id, 'permit:');
    return e.contractor !== ''
      ? `Analyze contractor '${e.contractor}' for permit '${permit}'. Recommend with risk markers.`
      : `Analyze permit '${permit}'. Recommend with risk markers.`;
  }],
  ['outcomes', () => 'Run scenario; report per-event outcome with citations.'],
]);

export function instructionFor(evidence: JoinedEvidence): string {
  const stem = stemOf(evidence.source_file);
  const file = evidence.source_files[0] ?? '';
  const template = TEMPLATES.get(stem);
  return template ? template(evidence, file) : `Source '${stem}' run; produce the appropriate output for this task type.`;
}

export function contextFor(evidence: JoinedEvidence): string {
  const parts: string[] = [];
  if (evidence.matrix_corpora.length > 0) parts.push(`matrix=${evidence.matrix_corpora.join(',')}`);
  if (evidence.pathway_fingerprints_seen > 0) parts.push(`pathway_fingerprints=${evidence.pathway_fingerprints_seen}`);
  if (evidence.model_name !== '') parts.push(`model=${evidence.model_name}`);
  return parts.join(CONTEXT_SEPARATOR);
}

export type SourceFileCheck = (evidence: JoinedEvidence) => Rejection | undefined;

/** Whether a source file entry exists in the repository (`--repo-root`); answered by the filesystem layer. */
export type RepoFileCheck = (entry: string) => boolean;

/**
 * Rejects source_files that point outside the repository: absolute paths, `..` segments, and with a
 * repository check, paths that do not exist in it. Existence answers are cached per run.
 */
export function sourceFileCheck(options: { inRepo: RepoFileCheck | undefined }): SourceFileCheck {
  const inRepo = options.inRepo;
  const exists = new Map<string, boolean>();
  const missingUnderRoot = (entry: string): boolean => {
    if (inRepo === undefined) return false;
    let known = exists.get(entry);
    if (known === undefined) {
      known = inRepo(entry);
      exists.set(entry, known);
    }
    return !known;
  };
  return (evidence) => {
    for (const entry of evidence.source_files) {
      if (entry.startsWith('/')) return reject('hallucinated_file_path', `source file '${entry}' is absolute`);
      if (entry.split('/').includes('..')) return reject('hallucinated_file_path', `source file '${entry}' climbs out with '..'`);
      if (missingUnderRoot(entry)) return reject('hallucinated_file_path', `source file '${entry}' does not exist under the repo root`);
    }
    return undefined;
  };
}

/** SFT synthesis checks in SPEC order: instructable role, non-blank text, real source files. */
export function sftSynthesisCheck(checkFiles: SourceFileCheck): (evidence: JoinedEvidence) => Rejection | undefined {
  return (evidence) => {
    if (!INSTRUCTABLE_ROLES.has(evidence.model_role)) return reject('not_instructable', `model_role '${evidence.model_role}' is not instructable`);
    if (isBlank(evidence.text)) return reject('empty_content', 'evidence text is blank');
    return checkFiles(evidence);
  };
}

/** RAG synthesis checks: non-blank text, real source files. */
export function ragSynthesisCheck(checkFiles: SourceFileCheck): (evidence: JoinedEvidence) => Rejection | undefined {
  return (evidence) => {
    if (isBlank(evidence.text)) return reject('empty_content', 'evidence text is blank');
    return checkFiles(evidence);
  };
}

import type { JoinedEvidence } from '../records.js';
import { reject, type Rejection } from './rejection.js';
import { builtinRuleset, type Ruleset } from './ruleset.js';

/** Roles whose output is a response worth imitating (SPEC §1). */
export const INSTRUCTABLE_ROLES: ReadonlySet<string> = new Set(['executor', 'reviewer', 'applier']);

const CONTEXT_SEPARATOR = ' \u00b7 ';

/**
 * The instruction of a row (SPEC §2 step 6): the template of the rule that its source matches, from
 * the built-in ruleset unless another is given; values go in verbatim.
 */
export function instructionFor(evidence: JoinedEvidence, ruleset: Ruleset = builtinRuleset()): string {
  return ruleset.instruction(evidence);
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
    if (evidence.text.blank) return reject('empty_content', 'evidence text is blank');
    return checkFiles(evidence);
  };
}

/** RAG synthesis checks: non-blank text, real source files. */
export function ragSynthesisCheck(checkFiles: SourceFileCheck): (evidence: JoinedEvidence) => Rejection | undefined {
  return (evidence) => {
    if (evidence.text.blank) return reject('empty_content', 'evidence text is blank');
    return checkFiles(evidence);
  };
}

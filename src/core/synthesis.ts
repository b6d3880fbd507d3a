import type { JoinedEvidence } from '../records.js';
import { reject, type Rejection } from './rejection.js';
import { builtinRuleset, type Ruleset } from './ruleset.js';

/** Roles whose output is a response worth imitating (docs/records.md). */
export const INSTRUCTABLE_ROLES: ReadonlySet<string> = new Set(['executor', 'reviewer', 'applier']);

const CONTEXT_SEPARATOR = ' \u00b7 ';

/**
 * The instruction of a row (docs/rules.md): the template of the rule that its source matches, from
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

const SCHEME_OR_DRIVE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const ENCODED_SEPARATOR_OR_DOT = /%(2e|2f|5c)/i;
/** A `..` segment, with segments split on `/` and `\` (a test, not a split: no array per entry). */
const DOT_DOT_SEGMENT = /(?:^|[/\\])\.\.(?:[/\\]|$)/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * Why a source file entry is not a plain relative path, or undefined when it is. `""` names no path
 * and passes. The checks look at the entry as written, so a path that only escapes once decoded or
 * normalised by some later tool is refused too.
 */
export function notPlainPath(entry: string): string | undefined {
  if (entry === '') return undefined;
  const first = entry[0];
  if (first === '/' || first === '\\') return 'is absolute';
  if (first === '~') return "starts with '~'";
  if (SCHEME_OR_DRIVE.test(entry)) return 'starts with a scheme or drive letter';
  if (DOT_DOT_SEGMENT.test(entry)) return "climbs out with '..'";
  if (ENCODED_SEPARATOR_OR_DOT.test(entry)) return 'contains an encoded dot or separator';
  if (CONTROL_CHARACTER.test(entry)) return 'contains a control character';
  if (entry.trim() !== entry) return 'has leading or trailing white space';
  return undefined;
}

/**
 * Rejects source_files that are not plain relative paths and, with a repository check, paths that
 * do not resolve inside it. Repository answers are cached per run.
 */
export function sourceFileCheck(options: { inRepo: RepoFileCheck | undefined }): SourceFileCheck {
  const inRepo = options.inRepo;
  const exists = new Map<string, boolean>();
  const missingUnderRoot = (entry: string): boolean => {
    if (inRepo === undefined || entry === '') return false;
    let known = exists.get(entry);
    if (known === undefined) {
      known = inRepo(entry);
      exists.set(entry, known);
    }
    return !known;
  };
  return (evidence) => {
    for (const entry of evidence.source_files) {
      const why = notPlainPath(entry);
      if (why !== undefined) return reject('hallucinated_file_path', `source file '${entry}' ${why}`);
      if (missingUnderRoot(entry)) return reject('hallucinated_file_path', `source file '${entry}' does not exist under the repo root`);
    }
    return undefined;
  };
}

/** SFT synthesis checks in the documented order: instructable role, non-blank text, real source files. */
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

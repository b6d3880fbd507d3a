import type { ProgressSink } from '../src/progress.js';
import { parseJson } from '../src/core/gates.js';
import { usageError } from '../src/errors.js';
import { EvidenceIndex, type IndexReport } from '../src/io/evidence-index.js';
import { openLines } from '../src/io/line-source.js';
import { displayPath } from '../src/io/paths.js';
import { walkInputFiles } from '../src/io/walk.js';
import { LAYOUT } from '../src/layout.js';
import type { EvidenceLookup, JoinedEvidence } from '../src/records.js';
import { rowKindOf, type RowKind } from './hints.js';

export interface EvidenceOptions {
  /** The evidence file or folder (absolute). */
  evidence: string;
  root: string;
  /** How messages name the evidence (`--evidence PATH` as typed); default its path relative to the root. */
  label?: string | undefined;
  maxLineBytes: number;
  /** Told the index build's report before the work starts (e.g. for the stderr line). */
  onIndexReady?: ((report: IndexReport) => void) | undefined;
  /** Told the bytes an index build reads. */
  progress?: ProgressSink | undefined;
  /** A plan's generation: join exactly it (never build), or refuse. */
  generation?: string | undefined;
}

/** What a first line that is not evidence holds, as the refusal names it. */
const NOT_EVIDENCE: Partial<Record<RowKind | 'array' | 'pretty', string>> = {
  scored: 'scored runs (evidence_run_id, category: what score writes; they are what sft, rag and preference read, not what they join with)',
  raw: 'raw _kb log rows (no provenance: collect turns them into evidence)',
  dataset: 'rows of an exported dataset',
  array: 'a JSON array, not one evidence row per line',
  pretty: 'pretty-printed JSON, not one evidence row per line',
};

/** What the first non-blank line of an evidence file holds when it is plainly not evidence; undefined when it may be. */
function notEvidence(text: string): string | undefined {
  const parsed = parseJson(text);
  if (parsed === undefined) {
    const start = text.trimStart();
    return start.startsWith('[') ? NOT_EVIDENCE.array : start === '{' ? NOT_EVIDENCE.pretty : undefined;
  }
  if (Array.isArray(parsed.value)) return NOT_EVIDENCE.array;
  if (typeof parsed.value !== 'object' || parsed.value === null) return undefined;
  return NOT_EVIDENCE[rowKindOf(Object.keys(parsed.value))];
}

/**
 * Refuses an evidence path that plainly holds something else (scored runs, raw logs, a dataset, a
 * JSON array) before the index is built, which would leave its folder inside that tree: the first
 * non-blank line of the first file it holds decides (a stray bad line deeper in is the index's
 * unjoinable row, not a wrong folder). A path that does not exist is left for the index to name.
 */
export async function refuseNonEvidence(options: Pick<EvidenceOptions, 'evidence' | 'root' | 'maxLineBytes'>): Promise<void> {
  const files = walkInputFiles(options.evidence);
  const first = await files.next().catch(() => undefined);
  await files.return(undefined);
  if (first === undefined || first.done === true) return;
  const display = displayPath(options.root, first.value.absolute);
  for await (const lines of await openLines({ display, absolute: first.value.absolute }, { maxLineBytes: options.maxLineBytes })) {
    const line = lines.find((candidate) => candidate.tooLong || candidate.unreadable !== undefined || candidate.text.trim() !== '');
    if (line === undefined) continue;
    const holds = line.tooLong || line.unreadable !== undefined ? undefined : notEvidence(line.text);
    if (holds !== undefined) {
      throw usageError(`--evidence ${displayPath(options.root, options.evidence)} is not evidence: ${display} line ${line.line + 1} holds ${holds}; give --evidence the folder collect writes (default <root>/${LAYOUT.evidence}), or a file of its rows`);
    }
    return;
  }
}

/**
 * Opens (building or refreshing) the evidence index, runs `work` with its lookup and a check that
 * the evidence did not change while it was read (to call before committing), and always closes it.
 */
export async function withEvidence<R>(options: EvidenceOptions, work: (lookup: EvidenceLookup, index: IndexReport, unchanged: () => void) => Promise<R>): Promise<R> {
  await refuseNonEvidence(options);
  const { index, report } = await EvidenceIndex.open(options.evidence, { root: options.root, label: options.label, maxLineBytes: options.maxLineBytes, progress: options.progress, generation: options.generation });
  try {
    options.onIndexReady?.(report);
    return await work((runId) => index.get(runId), report, () => index.verifyUnchanged());
  } finally {
    await index.close();
  }
}

/** `distill-stream index`: builds or refreshes the evidence index and reports what it read. */
export async function buildIndex(options: EvidenceOptions): Promise<IndexReport> {
  await refuseNonEvidence(options);
  const { index, report } = await EvidenceIndex.open(options.evidence, { root: options.root, label: options.label, maxLineBytes: options.maxLineBytes, progress: options.progress });
  await index.close();
  return report;
}

/**
 * The exports see each row in turn, so they ask for the same run one after the other: remembering
 * the last answer halves the index reads (the evidence is never mutated).
 */
export function lastAnswerCached(lookup: EvidenceLookup): EvidenceLookup {
  let lastRunId: string | undefined;
  let lastEvidence: JoinedEvidence | undefined;
  return (runId) => {
    if (runId !== lastRunId) {
      lastEvidence = lookup(runId);
      lastRunId = runId;
    }
    return lastEvidence;
  };
}

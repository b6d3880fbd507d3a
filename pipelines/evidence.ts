import type { ProgressSink } from '../src/progress.js';
import { EvidenceIndex, type IndexReport } from '../src/io/evidence-index.js';
import type { EvidenceLookup } from '../src/records.js';

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

/**
 * Opens (building or refreshing) the evidence index, runs `work` with its lookup and a check that
 * the evidence did not change while it was read (to call before committing), and always closes it.
 */
export async function withEvidence<R>(options: EvidenceOptions, work: (lookup: EvidenceLookup, index: IndexReport, unchanged: () => void) => Promise<R>): Promise<R> {
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
  const { index, report } = await EvidenceIndex.open(options.evidence, { root: options.root, label: options.label, maxLineBytes: options.maxLineBytes, progress: options.progress });
  await index.close();
  return report;
}

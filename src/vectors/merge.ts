import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { DistillError, ioError, usageError } from '../errors.js';
import { describeEmbedder } from './compat.js';
import { killPoint } from '../io/kill-point.js';
import { locate, type Located } from './locate.js';
import { buildReceipt, indexState, receiptOptions, writeReceipt, type IndexState, type VectorsReceipt, type VectorsRecordCounts } from './receipt.js';
import { readManifest, VectorIndex, type VectorItem } from './store.js';

export interface VectorsMergeOptions {
  /** Paths are resolved against it and shown relative to it; default the current folder. */
  root?: string | undefined;
  /** The source index (e.g. `fresh`). */
  from: string;
  /** The destination index (e.g. `main`); it must exist. */
  into: string;
  /** Empty the source once the destination has committed. */
  clearSource?: boolean | undefined;
  /** Pins recorded_at of the receipt; default the clock at start. */
  recordedAt?: string | undefined;
  /** Names the receipt; default a random UUID. */
  runId?: string | undefined;
  /** Source items per LanceDB commit into the destination; default 1024. */
  batchSize?: number | undefined;
  toolVersion?: string | undefined;
  gitSha?: string | null | undefined;
}

export interface VectorsMergeResult {
  index: IndexState;
  source: IndexState;
  counts: VectorsRecordCounts;
  cleared: boolean;
  receipt: VectorsReceipt;
  receiptPath: string;
}

const DEFAULT_MERGE_BATCH = 1024;

/** The real path of an index folder; a missing one is "not found", naming it as the caller did. */
async function realFolder(target: Located): Promise<string> {
  try {
    return await realpath(target.absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new DistillError('DS_IO', `${target.display}: no vector index here (not found)`, { path: target.display });
    throw ioError(target.display, error);
  }
}

/**
 * `vectors merge`: copies the source's items into the destination, skipping ids the destination
 * already holds (so a rerun inserts nothing), then, with clearSource, empties the source.
 *
 * Refused before anything is written: a destination or source that is missing ("not found",
 * DS_IO), the same folder under two spellings (DS_USAGE), indexes of different dimensions or
 * embedders (DS_VALIDATION). Atomic: the destination's batches become visible only when its
 * manifest is replaced, so a kill at any point leaves it as it was or fully merged; the source is
 * cleared only after that, by a commit of its own, so a kill in between leaves both full and a
 * rerun finishes the job.
 */
export async function vectorsMerge(options: VectorsMergeOptions): Promise<VectorsMergeResult> {
  const started = new Date();
  const startedMs = performance.now();
  const receiptOpts = receiptOptions(options);
  const root = path.resolve(options.root ?? process.cwd());
  const from = locate(root, options.from);
  const into = locate(root, options.into);
  const batchSize = options.batchSize ?? DEFAULT_MERGE_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`--batch-size must be a positive integer, not ${batchSize}`);
  const clearSource = options.clearSource === true;

  const [realInto, realFrom] = [await realFolder(into), await realFolder(from)];
  if (realInto === realFrom) throw usageError(`cannot merge an index into itself (${from.display} and ${into.display} are one folder)`);
  const { manifest: destManifest } = await readManifest(into.absolute, into.display);
  const { manifest: sourceManifest } = await readManifest(from.absolute, from.display);
  if (sourceManifest.dimension !== destManifest.dimension) {
    throw new DistillError(
      'DS_VALIDATION',
      `dimension mismatch: ${from.display} holds ${sourceManifest.dimension}-dimensional vectors, ${into.display} ${destManifest.dimension}-dimensional ones`,
      { path: from.display },
    );
  }
  if (sourceManifest.embedder.kind !== destManifest.embedder.kind || sourceManifest.embedder.model !== destManifest.embedder.model) {
    throw new DistillError(
      'DS_VALIDATION',
      `${from.display} was built by ${describeEmbedder(sourceManifest.embedder)}, ${into.display} by ${describeEmbedder(destManifest.embedder)}: their vectors are not comparable`,
      { path: from.display },
    );
  }

  const dest = await VectorIndex.openWriter(into.absolute, into.display);
  let source: VectorIndex | undefined;
  try {
    source = clearSource ? await VectorIndex.openWriter(from.absolute, from.display) : await VectorIndex.open(from.absolute, from.display);
    // Both indexes as they were committed before this run: an opened index always has its manifest's digest.
    const inputs = [source.digest!, dest.digest!];
    let read = 0;
    let inserted = 0;
    let batches = 0;
    let pending: VectorItem[] = [];
    const write = async (): Promise<void> => {
      const held = await dest.storedTextHashes(pending.map((item) => item.id));
      const missing = pending.filter((item) => !held.has(item.id));
      await dest.insert(missing);
      inserted += missing.length;
      pending = [];
      if (++batches === 1) killPoint('merge-after-first-batch');
    };
    for await (const items of source.items()) {
      for (const item of items) {
        pending.push(item);
        read++;
        if (pending.length >= batchSize) await write();
      }
    }
    if (pending.length > 0) await write();

    killPoint('merge-before-commit');
    const { digest: destDigest } = await dest.commit();
    killPoint('merge-before-clear');
    const outputs = [destDigest];
    if (clearSource) {
      await source.clear();
      killPoint('merge-before-source-commit');
      outputs.push((await source.commit()).digest);
    }

    const counts: VectorsRecordCounts = { in: read, out: inserted, quarantined: 0, skipped: read - inserted, by_reason: {}, by_category: {} };
    const [destState, sourceState] = [await indexState(dest), await indexState(source)];
    const receipt = buildReceipt('vectors-merge', receiptOpts, {
      started,
      startedMs,
      inputs,
      outputs,
      counts,
      samples: {},
      index: destState,
      source: sourceState,
    });
    const receiptPath = await writeReceipt(into.absolute, into.display, receipt);
    return { index: destState, source: sourceState, counts, cleared: clearSource, receipt, receiptPath };
  } finally {
    await source?.close();
    await dest.close();
  }
}

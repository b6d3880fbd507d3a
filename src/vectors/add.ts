import path from 'node:path';
import { sha256Hex } from '../core/canonical.js';
import { reject, type Rejection } from '../core/rejection.js';
import { DistillError, usageError } from '../errors.js';
import { readLineBatches, resolveInputs } from '../io/inputs.js';
import { DEFAULT_MAX_LINE_BYTES } from '../io/line-splitter.js';
import { displayPath, STDIN_PATH } from '../io/paths.js';
import { sortedCounts, StageCounts } from '../engine/counts.js';
import { QuarantineWriter } from '../engine/quarantine.js';
import { keep, type Kept } from '../engine/row.js';
import { routeBatch, type RowBranch } from '../engine/row-stage.js';
import { commitTogether } from '../io/commit.js';
import { openSink } from '../io/sink.js';
import { quarantinePath } from '../layout.js';
import type { RagSample } from '../records.js';
import { describeErrors, validators } from '../schemas/validators.js';
import { requireSameEmbedder } from './compat.js';
import type { Embedder } from './embedders.js';
import { killPoint } from '../io/kill-point.js';
import { locate, type Located } from './locate.js';
import { buildReceipt, indexState, receiptOptions, writeReceipt, type IndexState, type VectorsReceipt, type VectorsRecordCounts } from './receipt.js';
import { hasManifest, storesAs, VectorIndex, type ItemMetadata, type VectorItem } from './store.js';

export interface VectorsAddOptions {
  /** Paths are resolved against it and shown relative to it; default the current folder. */
  root?: string | undefined;
  /** The index folder; created on first use, with the embedder's identity and dimension. */
  index: string;
  /** Files, folders (walked as docs/records.md says) or `-`; none means stdin. */
  inputs: readonly string[];
  embedder: Embedder;
  /** Pins recorded_at of quarantine rows and the receipt; default the clock at start. */
  recordedAt?: string | undefined;
  /** Names the receipt; default a random UUID. */
  runId?: string | undefined;
  /** Where rows that are not RagSamples go; default `<root>/exports/quarantine/vectors.jsonl`. */
  quarantine?: string | undefined;
  /** Samples held, embedded and written together (one LanceDB commit); default 1024. */
  batchSize?: number | undefined;
  maxLineBytes?: number | undefined;
  toolVersion?: string | undefined;
  gitSha?: string | null | undefined;
  onBytes?: ((bytes: number) => void) | undefined;
}

export interface VectorsAddResult {
  index: IndexState;
  counts: VectorsRecordCounts;
  receipt: VectorsReceipt;
  /** As receipts name files: relative to the root. */
  receiptPath: string;
  quarantinePath: string;
}

/**
 * Samples per LanceDB commit. Each commit is a table version with its own fragment, ~15 ms apiece:
 * adding 10,000 512-dimensional items took 2.7 s in 64-row commits and 0.86 s in 1,024-row ones.
 * At 2,000 code points of text and 2 KiB of vector a sample, a batch holds about 10 MiB.
 */
export const DEFAULT_ADD_BATCH = 1024;

/** A valid sample waiting in the batch: what is stored, and the text to embed. */
interface Pending {
  id: string;
  text: string;
  textSha: string;
  metadata: ItemMetadata;
}

/** The receipt sample of embedded text lengths (UTF-16 code units), keyed by sample id. */
const EMBEDDING_TEXT_LENGTH = 'embedding_text_length';

/** The gate of this stage: a row is a RagSample by the compiled schema, or a schema_violation. */
function admitRagSample(value: unknown): Kept<RagSample> | Rejection {
  const validate = validators().ragSample;
  if (!validate(value)) return reject('schema_violation', ...describeErrors(validate.errors));
  return keep(value, value.source_category, { key: value.id, value: value.embedding_text.length });
}

const pendingOf = (sample: RagSample): Pending => ({
  id: sample.id,
  text: sample.embedding_text,
  textSha: sha256Hex(sample.embedding_text),
  metadata: { title: sample.title, tags: sample.tags, source_run_id: sample.source_run_id, provenance: sample.provenance },
});

/** The index to add to: an existing one opened for writing (its embedder checked), else none yet. */
async function openExisting(target: Located, embedder: Embedder): Promise<VectorIndex | undefined> {
  if (!(await hasManifest(target.absolute))) return undefined;
  const index = await VectorIndex.openWriter(target.absolute, target.display);
  try {
    requireSameEmbedder(index.manifest, embedder, target.display);
  } catch (error) {
    await index.close();
    throw error;
  }
  return index;
}

/**
 * `vectors add`: streams RAG samples from the inputs into the index, embedding each batch's new
 * or changed texts, so the stored row of an id is always its latest sample's. A changed text is
 * embedded and replaces the stored row; the same text with another title, tags, source run or
 * provenance is updated (the stored vector kept, as the same text makes the same vector); a sample
 * equal in every stored field is unchanged (nothing written). Rows that are not RagSamples are
 * quarantined. Nothing is visible to readers until the run commits the index's manifest at its
 * end, then the receipt is written into `<index>/receipts/`.
 */
export async function vectorsAdd(options: VectorsAddOptions): Promise<VectorsAddResult> {
  const started = new Date();
  const startedMs = performance.now();
  const receiptOpts = receiptOptions(options);
  const root = path.resolve(options.root ?? process.cwd());
  const target = locate(root, options.index);
  const quarantineFile = options.quarantine === undefined ? quarantinePath(root, 'vectors') : path.resolve(root, options.quarantine);
  const batchSize = options.batchSize ?? DEFAULT_ADD_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`--batch-size must be a positive integer, not ${batchSize}`);
  const inputs = options.inputs.length === 0 ? [STDIN_PATH] : options.inputs.map((input) => (input === STDIN_PATH ? input : path.resolve(root, input)));
  const { embedder } = options;

  let index = await openExisting(target, embedder);
  const stats = new StageCounts();
  const tally = { added: 0, replaced: 0, updated: 0, unchanged: 0 };
  try {
    const quarantineDisplay = displayPath(root, quarantineFile);
    const sink = await openSink({ kind: 'file', path: quarantineFile, display: quarantineDisplay, label: `--quarantine ${quarantineDisplay}` });
    const quarantine = new QuarantineWriter(sink.input, 'vectors', receiptOpts.recordedAt);
    const branch: RowBranch<RagSample> = { row: admitRagSample, quarantine, counts: stats, sampleMetric: EMBEDDING_TEXT_LENGTH };
    let batch: Pending[] = [];
    const batchIds = new Set<string>();

    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const taken = batch;
      batch = [];
      batchIds.clear();
      const stored = index === undefined ? new Map<string, Omit<VectorItem, 'vector'>>() : await index.storedDescriptions(taken.map((p) => p.id));
      const changedText: Pending[] = [];
      const changedMetadata: Pending[] = [];
      for (const pending of taken) {
        const held = stored.get(pending.id);
        if (held === undefined || held.text_sha256 !== pending.textSha) changedText.push(pending);
        else if (!storesAs(held.metadata, pending.metadata)) changedMetadata.push(pending);
        else tally.unchanged++;
      }
      if (changedText.length + changedMetadata.length === 0) return;
      const vectors = changedText.length === 0 ? [] : await embedder.embed(changedText.map((p) => p.text), index?.manifest.dimension);
      index ??= await VectorIndex.create(target.absolute, target.display, { embedder: embedder.identity, dimension: vectors[0]!.length });
      // The same text makes the same vector: the stored one is kept, only the description is rewritten.
      const kept = await index.storedVectors(changedMetadata.map((p) => p.id));
      const itemOf = (p: Pending, vector: Float32Array): VectorItem => ({ id: p.id, vector, text_sha256: p.textSha, metadata: p.metadata });
      const embedded = changedText.map((p, n) => itemOf(p, vectors[n]!));
      const added = embedded.filter((item) => !stored.has(item.id));
      const replaced = embedded.filter((item) => stored.has(item.id));
      const updated = changedMetadata.map((p) => itemOf(p, kept.get(p.id)!));
      await index.insert(added);
      await index.replace([...replaced, ...updated]);
      tally.added += added.length;
      tally.replaced += replaced.length;
      tally.updated += updated.length;
    };

    try {
      for await (const lines of readLineBatches(resolveInputs(inputs, root), { maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, onInput: (digest) => stats.inputs.push(digest), onBytes: options.onBytes })) {
        const [samples] = routeBatch(lines, [branch as RowBranch<unknown>]) as [RagSample[]];
        for (const sample of samples) {
          // A second row of an id already waiting goes in a later batch, so it replaces the first like any change.
          if (batch.length >= batchSize || batchIds.has(sample.id)) await flush();
          batch.push(pendingOf(sample));
          batchIds.add(sample.id);
        }
        await quarantine.flushed();
      }
      await flush();
      if (index === undefined) {
        if (embedder.dimension === undefined) {
          throw new DistillError('DS_USAGE', `${target.display}: nothing was embedded, so the new index's dimension is unknown (give the embedder's dimension)`, { path: target.display });
        }
        index = await VectorIndex.create(target.absolute, target.display, { embedder: embedder.identity, dimension: embedder.dimension });
      }
      const quarantined = await sink.finish();
      if (quarantined.entries.length > 0) await commitTogether(quarantined.entries);
      stats.outputs.push(...quarantined.digests);
    } catch (error) {
      await sink.abort();
      throw error;
    }

    killPoint('add-before-commit');
    const { digest } = await index.commit();
    const counts: VectorsRecordCounts = {
      in: stats.in,
      out: stats.out,
      quarantined: stats.quarantined,
      ...tally,
      by_reason: sortedCounts(stats.byReason),
      by_category: sortedCounts(stats.byCategory),
    };
    const state = await indexState(index);
    const receipt = buildReceipt('vectors-add', receiptOpts, {
      started,
      startedMs,
      inputs: stats.inputs,
      outputs: [...stats.outputs, digest],
      counts,
      samples: stats.sampleValues(),
      index: state,
    });
    const receiptPath = await writeReceipt(target.absolute, target.display, receipt);
    return { index: state, counts, receipt, receiptPath, quarantinePath: quarantineDisplay };
  } finally {
    await index?.close();
  }
}

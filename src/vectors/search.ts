import path from 'node:path';
import { isBlank } from '../core/text.js';
import { usageError } from '../errors.js';
import { describeEmbedder, requireSameEmbedder } from './compat.js';
import { createEmbedder, HASH_MODEL, type Embedder } from './embedders.js';
import { locate } from './locate.js';
import { VectorIndex, type Candidate, type IndexManifest } from './store.js';

export interface VectorsSearchOptions {
  root?: string | undefined;
  index: string;
  query: string;
  /** Hits wanted; default 5. */
  k?: number | undefined;
  /**
   * The embedder for the query. It must be the one that built the index; left out, an index built
   * by the hash embedder gets it at the index's dimension, one built by an endpoint is refused.
   */
  embedder?: Embedder | undefined;
}

/** A hit, best first. Metadata fields are null for an item stored without metadata. */
export interface SearchHit {
  id: string;
  /** Cosine similarity in [-1, 1]: the dot product of the L2-normalised vectors, in float64. */
  score: number;
  title: string | null;
  tags: string[] | null;
  source_run_id: string | null;
}

export const DEFAULT_K = 5;
/** Candidates asked of LanceDB beyond k, so a near-tie at the k-th place rarely needs a second scan. */
const CANDIDATE_SLACK = 16;

/**
 * How far LanceDB's float32 distance may be from the exact one. A dot product of two float32
 * unit vectors of length n summed in float32 is off by at most about n·2⁻²⁴ (the classic γₙ
 * bound); doubling it covers the query's own rounding and the `1 −` of the distance.
 */
export const distanceMargin = (dimension: number): number => (2 * dimension + 2) * 2 ** -24;

/** Exact float64 dot product of two float32 vectors, summed in index order. */
export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Best first: higher score, then smaller id (JavaScript string order), so ties always break the same way. */
export const byScoreThenId = (a: { score: number; id: string }, b: { score: number; id: string }): number =>
  b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Whether a scan of `limit` candidates is known to hold the exact top k: either it returned fewer
 * than asked (it saw every item), or its last candidate is farther than the k-th by more than the
 * float32 margin, so no item left out can outscore the k-th once scored exactly.
 */
export function coversTopK(candidates: readonly Candidate[], limit: number, k: number, margin: number): boolean {
  if (candidates.length < limit) return true;
  const kth = candidates[k - 1]!.distance;
  return candidates[candidates.length - 1]!.distance > kth + margin;
}

/** The candidates rescored exactly in float64 against the query, best first, cut to k. */
export function rankCandidates(candidates: readonly Candidate[], query: Float32Array, k: number): SearchHit[] {
  return candidates
    .map((c) => ({ id: c.id, score: dot(query, c.vector), title: c.title, tags: c.tags, source_run_id: c.source_run_id }))
    .sort(byScoreThenId)
    .slice(0, k);
}

/**
 * The exact k nearest items by cosine similarity: LanceDB's exhaustive scan picks candidates, which
 * are rescored in float64 and ordered by score then id; the scan widens until it provably covers
 * the top k (coversTopK). The result equals a brute-force float64 scan of every item.
 */
export async function exactNearest(index: VectorIndex, query: Float32Array, k: number): Promise<SearchHit[]> {
  const margin = distanceMargin(index.manifest.dimension);
  for (let limit = k + CANDIDATE_SLACK; ; limit *= 4) {
    const candidates = await index.nearest(query, limit);
    if (coversTopK(candidates, limit, k, margin)) return rankCandidates(candidates, query, k);
  }
}

/** The embedder that built the index, as the search must use it. */
function queryEmbedder(manifest: IndexManifest, given: Embedder | undefined, display: string): Embedder {
  if (given !== undefined) {
    requireSameEmbedder(manifest, given, display);
    return given;
  }
  if (manifest.embedder.kind === 'hash' && manifest.embedder.model === HASH_MODEL) return createEmbedder({ kind: 'hash', dimension: manifest.dimension });
  throw usageError(`${display} was built by ${describeEmbedder(manifest.embedder)}: give its endpoint (--embed-url, --embed-model) to search it`);
}

/** `vectors search`: the k items nearest to the query text, best first. */
export async function vectorsSearch(options: VectorsSearchOptions): Promise<SearchHit[]> {
  const k = options.k ?? DEFAULT_K;
  if (!Number.isInteger(k) || k < 1) throw usageError(`-k must be a positive integer, not ${k}`);
  if (isBlank(options.query)) throw usageError('the search query is empty');
  const target = locate(path.resolve(options.root ?? process.cwd()), options.index);
  const index = await VectorIndex.open(target.absolute, target.display);
  try {
    const embedder = queryEmbedder(index.manifest, options.embedder, target.display);
    const [vector] = await embedder.embed([options.query], index.manifest.dimension);
    return await exactNearest(index, vector!, k);
  } finally {
    await index.close();
  }
}

/** The hits as text: one line each, `score  id  title  [tags]`. */
export function formatHits(hits: readonly SearchHit[]): string {
  return hits.map((hit) => `${hit.score.toFixed(4)}  ${hit.id}  ${hit.title ?? '-'}${hit.tags === null || hit.tags.length === 0 ? '' : `  [${hit.tags.join(', ')}]`}\n`).join('');
}

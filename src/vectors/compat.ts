import { DistillError, usageError } from '../errors.js';
import type { Embedder, EmbedderIdentity } from './embedders.js';
import type { IndexManifest } from './store.js';

export const describeEmbedder = (identity: EmbedderIdentity): string => `the ${identity.kind} embedder '${identity.model}'`;

/**
 * Refuses an embedder other than the one that built the index (its vectors would not be
 * comparable: a usage error) or one of another dimension (DS_VALIDATION, as a merge refuses it).
 */
export function requireSameEmbedder(manifest: IndexManifest, embedder: Embedder, display: string): void {
  const built = manifest.embedder;
  if (built.kind !== embedder.identity.kind || built.model !== embedder.identity.model) {
    throw usageError(`${display} was built by ${describeEmbedder(built)}; this run embeds with ${describeEmbedder(embedder.identity)}`);
  }
  if (embedder.dimension !== undefined && embedder.dimension !== manifest.dimension) {
    throw new DistillError('DS_VALIDATION', `dimension mismatch: ${display} holds ${manifest.dimension}-dimensional vectors, the embedder makes ${embedder.dimension}`, { path: display });
  }
}

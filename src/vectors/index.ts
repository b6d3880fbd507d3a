/** The vector index of RAG playbooks: one function per `vectors` subcommand, and the embedders. */
export { vectorsAdd, DEFAULT_ADD_BATCH, type VectorsAddOptions, type VectorsAddResult } from './add.js';
export { vectorsMerge, type VectorsMergeOptions, type VectorsMergeResult } from './merge.js';
export { vectorsSearch, formatHits, DEFAULT_K, type SearchHit, type VectorsSearchOptions } from './search.js';
export { vectorsInfo, formatInfo, type VectorsInfo, type VectorsInfoOptions } from './info.js';
export {
  createEmbedder,
  embeddingsEndpoint,
  hashEmbedding,
  DEFAULT_API_KEY_ENV,
  DEFAULT_EMBED_BATCH,
  DEFAULT_HASH_DIMENSION,
  HASH_MODEL,
  type Embedder,
  type EmbedderIdentity,
  type EmbedderOptions,
} from './embedders.js';
export { FORMAT, FORMAT_VERSION, MANIFEST_FILE, type IndexManifest } from './store.js';
export { RECEIPTS_FOLDER, summaryLine, type IndexState, type VectorsReceipt, type VectorsRecordCounts, type VectorsStage } from './receipt.js';

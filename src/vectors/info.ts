import path from 'node:path';
import type { EmbedderIdentity } from './embedders.js';
import { locate } from './locate.js';
import { FORMAT, VectorIndex } from './store.js';

export interface VectorsInfoOptions {
  root?: string | undefined;
  index: string;
}

/** What `vectors info` prints (`--json`: this object). */
export interface VectorsInfo {
  index: string;
  format: typeof FORMAT;
  format_version: number;
  embedder: EmbedderIdentity;
  dimension: number;
  distance: 'cosine';
  count: number;
  /** sha256 of the ids, each followed by "\n", in JavaScript string order. */
  id_set_sha256: string;
  /** The LanceDB table version the manifest commits. */
  table_version: number;
}

/** `vectors info`: the committed state of an index, read from its manifest (count and id hash recomputed when it lacks them). */
export async function vectorsInfo(options: VectorsInfoOptions): Promise<VectorsInfo> {
  const target = locate(path.resolve(options.root ?? process.cwd()), options.index);
  const index = await VectorIndex.open(target.absolute, target.display);
  try {
    const { manifest } = index;
    const { count, id_set_sha256 } = await index.idSummary();
    return {
      index: target.display,
      format: manifest.format,
      format_version: manifest.format_version,
      embedder: { kind: manifest.embedder.kind, model: manifest.embedder.model },
      dimension: manifest.dimension,
      distance: manifest.distance,
      count,
      id_set_sha256,
      table_version: manifest.table_version,
    };
  } finally {
    await index.close();
  }
}

/** The info as `key: value` lines. */
export function formatInfo(info: VectorsInfo): string {
  return (
    `index: ${info.index}\n` +
    `format: ${info.format} v${info.format_version}\n` +
    `embedder: ${info.embedder.kind} ${info.embedder.model}\n` +
    `dimension: ${info.dimension}\n` +
    `distance: ${info.distance}\n` +
    `count: ${info.count}\n` +
    `id_set_sha256: ${info.id_set_sha256}\n` +
    `table_version: ${info.table_version}\n`
  );
}

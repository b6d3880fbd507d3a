import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { IdSet } from '../src/core/id-set.js';
import { Rejection } from '../src/core/rejection.js';
import { ioError } from '../src/errors.js';
import { AtomicTree } from '../src/io/atomic-tree.js';
import { singleInput } from '../src/io/inputs.js';
import type { InputSource } from '../src/io/line-source.js';
import { PartitionWriter } from '../src/io/partition-writer.js';
import { displayPath } from '../src/io/paths.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT } from '../src/layout.js';
import { collectRow, NOT_A_SOURCE, type PartitionedLine } from '../src/stages/collect.js';
import { RowStage } from '../src/stages/row-stage.js';
import { StageStats } from '../src/stages/stats.js';
import { runRowStage, streamRows, withQuarantine } from './row-export.js';

export interface CollectRun {
  root: string;
  quarantine: OutputTarget;
  recordedAt: string;
  maxLineBytes: number;
  onBytes?: (bytes: number) => void;
}

const JSONL = '.jsonl';
const identity = <T>(items: T[]): T[] => items;

/**
 * The raw source files of `data/_kb`, in name order (SPEC §4): top-level `*.jsonl` files only
 * (symlinks followed, hidden ones taken), so a folder or a dangling link named `x.jsonl` is no source.
 */
export async function kbSourceFiles(root: string): Promise<string[]> {
  const folder = path.join(root, LAYOUT.kb);
  const names = await readdir(folder).catch((cause: unknown) => {
    throw ioError(displayPath(root, folder), cause);
  });
  const candidates = names.filter((name) => name.endsWith(JSONL) && name !== NOT_A_SOURCE).sort().map((name) => path.join(folder, name));
  const isFile = await Promise.all(candidates.map((file) => stat(file).then((info) => info.isFile(), () => false)));
  return candidates.filter((_, n) => isFile[n]);
}

/** collect on the standard layout: `data/_kb/*.jsonl` → the `data/evidence` tree, rebuilt atomically. */
export async function runCollect(run: CollectRun): Promise<StageStats> {
  const stats = new StageStats();
  const evidenceRoot = path.join(run.root, LAYOUT.evidence);
  const tree = await AtomicTree.create(evidenceRoot, LAYOUT.evidence);
  const taken = new IdSet();
  try {
    await withQuarantine(run.quarantine, stats, 'collect', run.recordedAt, async (quarantine) => {
      for (const kbPath of await kbSourceFiles(run.root)) {
        const kbFile = displayPath(run.root, kbPath);
        const source = path.basename(kbPath).slice(0, -JSONL.length); // basename(p, ext) keeps a bare ".jsonl" whole
        const writer = new PartitionWriter(tree.tempPath, (partition) => `${LAYOUT.evidence}/${partition}`);
        const row = collectRow({ source, kbFile, recordedAt: run.recordedAt, taken, stats });
        await streamRows(singleInput({ display: kbFile, absolute: kbPath }), new RowStage(row, quarantine, stats, identity), writer, {
          maxLineBytes: run.maxLineBytes,
          stats,
          onBytes: run.onBytes,
        });
        stats.outputs.push(...writer.digests());
      }
    });
    await tree.commit();
  } catch (error) {
    await tree.abort();
    throw error;
  }
  return stats;
}

/** collect as a filter: raw rows of one source in, evidence lines out (no partitioning). */
export function runCollectFilter(run: CollectRun & { inputs: AsyncIterable<InputSource>; output: OutputTarget; source: string }): Promise<StageStats> {
  const taken = new IdSet();
  const kbFile = `${LAYOUT.kb}/${run.source}${JSONL}`;
  return runRowStage({ ...run, stage: 'collect' }, (stats) => {
    const row = collectRow({ source: run.source, kbFile, recordedAt: run.recordedAt, taken, stats });
    return (value, location) => {
      const result = row(value, location);
      return result instanceof Rejection ? result : (result satisfies PartitionedLine).line;
    };
  });
}

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';
import { LAYOUT } from '../layout.js';
import { displayPath } from './paths.js';

/** The `_kb` file that is not agent runs: run-all's audit baselines. */
export const NOT_A_SOURCE = 'audit_baselines.jsonl';

const JSONL = '.jsonl';

/**
 * The raw source files of `data/_kb`, in name order: top-level `*.jsonl` files only (symlinks
 * followed, hidden ones taken), so a folder or a dangling link named `x.jsonl` is no source.
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

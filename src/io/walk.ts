import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';

/** One input file found by a walk, with what the evidence index needs to notice a change. */
export interface InputFile {
  absolute: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

/** What a folder walk takes: JSONL, plain or compressed. A `.json` array is read when named, never found by a walk: folders hold .json files that are not records (manifests, dataset_info.json). */
const TAKEN_EXTENSIONS = ['.jsonl', '.jsonl.gz', '.jsonl.zst'];

export const isJsonlName = (name: string): boolean => TAKEN_EXTENSIONS.some((ext) => name.endsWith(ext));

/** A file whose name ends in one of these (before a .gz or .zst) holds one JSON array of records. */
const ARRAY_NAME = /\.json(?:\.gz|\.zst)?$/;

/** Whether an input named `name` is read as a JSON array (by its name; stdin never is). */
export const isJsonArrayName = (name: string): boolean => ARRAY_NAME.test(name);

/**
 * Files under `target` in walk order (docs/records.md): depth-first, each folder's entries sorted by name in
 * JavaScript string order, `*.jsonl`, `*.jsonl.gz` and `*.jsonl.zst` only, hidden files included, symlinks followed.
 * A file named directly is taken whatever its name. A symlink cycle is walked once. A relative
 * `target` resolves against `cwd`; a failure to find it names `label` (the path as the user typed it).
 */
export async function* walkInputFiles(target: string, cwd = process.cwd(), label = target): AsyncGenerator<InputFile> {
  const absolute = path.resolve(cwd, target);
  const info = await stat(absolute).catch((cause: unknown) => {
    throw ioError(label, cause);
  });
  if (!info.isDirectory()) {
    yield { absolute, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
    return;
  }
  yield* walkFolder(absolute, new Set());
}

async function* walkFolder(folder: string, ancestors: Set<string>): AsyncGenerator<InputFile> {
  const real = await realpath(folder);
  if (ancestors.has(real)) return;
  ancestors.add(real);
  const names = (await readdir(folder).catch((cause: unknown) => {
    throw ioError(folder, cause);
  })).sort();
  for (const name of names) {
    const child = path.join(folder, name);
    const info = await stat(child).catch(() => undefined); // a dangling symlink is not an input
    if (info === undefined) continue;
    if (info.isDirectory()) yield* walkFolder(child, ancestors);
    else if (info.isFile() && isJsonlName(name)) {
      yield { absolute: child, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
    }
  }
  ancestors.delete(real);
}

import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeCause, ioError } from '../errors.js';

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

/** Told each entry of a folder walked that could hold rows but is not read: its absolute path and why. */
export type OnSkipped = (absolute: string, why: string) => void;

export interface WalkOptions {
  onSkipped?: OnSkipped;
  /** What a relative target resolves against (default: the process's folder). */
  cwd?: string;
}

/** What an entry that is neither a folder nor a regular file is, in words. */
function kindOf(info: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (info.isFIFO()) return 'a FIFO, not a file';
  if (info.isSocket()) return 'a socket, not a file';
  return info.isCharacterDevice() || info.isBlockDevice() ? 'a device, not a file' : 'not a regular file';
}

/**
 * Files under `target` in walk order (docs/records.md): depth-first, each folder's entries sorted by name in
 * JavaScript string order, `*.jsonl`, `*.jsonl.gz` and `*.jsonl.zst` only, hidden files included, symlinks followed.
 * A file named directly is taken whatever its name. A symlink cycle is walked once. What is never
 * read is told to `onSkipped`, never passed over in silence: a dangling or unreadable link, and a
 * FIFO, socket or device with a name a walk takes (reading one could block or never end). A
 * relative `target` resolves against `cwd`; a failure to find it names `target` as given.
 */
export async function* walkInputFiles(target: string, { onSkipped = () => {}, cwd = process.cwd() }: WalkOptions = {}): AsyncGenerator<InputFile> {
  const absolute = path.resolve(cwd, target);
  const info = await stat(absolute).catch((cause: unknown) => {
    throw ioError(target, cause);
  });
  if (!info.isDirectory()) {
    yield { absolute, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
    return;
  }
  yield* walkFolder(absolute, new Set(), onSkipped);
}

async function* walkFolder(folder: string, ancestors: Set<string>, onSkipped: OnSkipped): AsyncGenerator<InputFile> {
  const real = await realpath(folder);
  if (ancestors.has(real)) return;
  ancestors.add(real);
  const names = (await readdir(folder).catch((cause: unknown) => {
    throw ioError(folder, cause);
  })).sort();
  for (const name of names) {
    const child = path.join(folder, name);
    const info = await stat(child).catch((error: NodeJS.ErrnoException) => error);
    if (info instanceof Error) {
      onSkipped(child, info.code === 'ENOENT' ? 'a symbolic link to nothing' : describeCause(info));
      continue;
    }
    if (info.isDirectory()) yield* walkFolder(child, ancestors, onSkipped);
    else if (!isJsonlName(name)) continue;
    else if (info.isFile()) yield { absolute: child, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
    else onSkipped(child, kindOf(info));
  }
  ancestors.delete(real);
}

import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { DistillError, ioError, usageError } from '../errors.js';
import { outputFormatOf } from './output-format.js';
import type { ColumnShape } from './parquet.js';
import { displayPath, STDIN_PATH } from './paths.js';
import type { OutputTarget } from './sink.js';
import { walkInputFiles } from './walk.js';

/** An output as the user named it: the path given and the option it came from. */
export interface OutputSpec {
  given: string;
  option: string;
  /** The Parquet columns of the dataset written there; none where Parquet is refused (a quarantine). */
  columns?: ColumnShape | undefined;
}

const LINK_HOPS = 40;

/**
 * What writing to `spec` means, decided before anything is written: `-` is stdout; a regular file
 * (or nothing yet) is replaced atomically; a device, FIFO or socket is written in place, never
 * replaced; a folder is refused; a symbolic link is refused unless `followSymlinks`, then its
 * target is judged the same way. The name given chooses the format (`.jsonl.gz`, `.jsonl.zst`,
 * `.parquet`, else JSONL). Paths resolve against `cwd`; receipts show them relative to `root`.
 */
export async function resolveOutput(spec: OutputSpec, context: { cwd: string; root: string; followSymlinks: boolean }): Promise<OutputTarget> {
  if (spec.given === STDIN_PATH) return { kind: 'stdout' };
  const label = `${spec.option} ${spec.given}`;
  const given = path.resolve(context.cwd, spec.given);
  const format = outputFormatOf(spec.given, label, spec.columns);
  let current = given;
  for (let hop = 0; hop <= LINK_HOPS; hop++) {
    const info = await lstat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw ioError(label, error);
    });
    const display = displayPath(context.root, given);
    if (info === undefined || info.isFile()) return { kind: 'file', path: current, display, label, format };
    if (info.isDirectory()) throw usageError(`${label} is a folder; name a file to write`);
    if (!info.isSymbolicLink()) return { kind: 'direct', path: current, display, label, format };
    const target = path.resolve(path.dirname(current), await readlink(current));
    if (!context.followSymlinks) throw usageError(`${label} is a symbolic link (to ${target}); pass --follow-symlinks to write to its target`);
    current = target;
  }
  throw ioError(label, Object.assign(new Error('too many levels of symbolic links'), { code: 'ELOOP' }));
}

/** A file's identity (device and inode), or undefined when it does not exist. */
async function identity(file: string): Promise<string | undefined> {
  const info = await stat(file).catch(() => undefined);
  return info === undefined ? undefined : `${info.dev}:${info.ino}`;
}

/**
 * Refuses (usage error) an output that is one of the inputs — a file read, or one inside a folder
 * read — or the same file as another output: writing it would destroy data before or while it is
 * read. Devices such as /dev/null may take several outputs.
 */
export async function refuseCollisions(outputs: ReadonlyArray<{ target: OutputTarget }>, inputs: ReadonlyArray<{ path: string; option: string }>): Promise<void> {
  const files = outputs.flatMap(({ target }) => (target.kind === 'file' || target.kind === 'direct' || target.kind === 'parts' ? [target] : []));
  if (files.length === 0) return;
  const seen = new Map<string, string>();
  for (const target of files) {
    if (target.kind === 'direct' && (await stat(target.path).then((info) => info.isCharacterDevice(), () => false))) continue;
    const key = (await identity(target.path)) ?? path.resolve(target.path);
    const other = seen.get(key);
    if (other !== undefined) throw usageError(`${target.label} is the same file as ${other}; give each output its own file`);
    seen.set(key, target.label);
  }
  for (const input of inputs) {
    if (input.path === STDIN_PATH) continue;
    try {
      for await (const file of walkInputFiles(input.path)) {
        const key = `${file.dev}:${file.ino}`;
        const output = seen.get(key) ?? seen.get(path.resolve(file.absolute));
        if (output !== undefined) throw usageError(`${output} is an input (${input.option === '' ? 'read' : `read through ${input.option}`} as ${file.absolute}); writing it would destroy it`);
      }
    } catch (error) {
      if (error instanceof DistillError && error.code === 'DS_USAGE') throw error;
      // an input that cannot be read is reported by the run itself, with its own message
    }
  }
}

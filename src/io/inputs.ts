import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { DistillError } from '../errors.js';
import { recoverTree } from './commit.js';
import type { RawLine } from './line-splitter.js';
import { openLines, type InputSource } from './line-source.js';
import { displayPath, STDIN_PATH } from './paths.js';
import { walkInputFiles, type OnSkipped } from './walk.js';
import type { FileDigest } from '../receipts.js';

/** Lines of one input, in order, tagged with the input's display path. */
export interface LineBatch {
  source: string;
  lines: RawLine[];
}

/**
 * Expands the command line's inputs (files, folders walked in walk order, `-` for stdin) in order.
 * A relative input resolves against `cwd` (the CLI passes its working folder; default the root),
 * never the process's, and one that is missing is named as given. Records name files relative to
 * `root`. `onSkipped` is told each entry of a folder that is not read, by its display path.
 */
export async function* resolveInputs(inputs: readonly string[], root: string, cwd = root, onSkipped?: OnSkipped): AsyncGenerator<InputSource> {
  for (const input of inputs) {
    if (input === STDIN_PATH) {
      yield { display: STDIN_PATH, absolute: null };
      continue;
    }
    const skipped: OnSkipped | undefined = onSkipped && ((absolute, why) => onSkipped(displayPath(root, absolute), why));
    for await (const file of walkInputFiles(input, { cwd, ...(skipped === undefined ? {} : { onSkipped: skipped }) })) yield { display: displayPath(root, file.absolute), absolute: file.absolute };
  }
}

/** The bytes the inputs hold (files walked, stats only), or undefined when stdin is one of them. */
export async function inputBytes(inputs: readonly string[]): Promise<number | undefined> {
  let total = 0;
  for (const input of inputs) {
    if (input === STDIN_PATH) return undefined;
    for await (const file of walkInputFiles(input)) total += file.size;
  }
  return total;
}

/** One already-resolved input as an input list. */
export async function* singleInput(source: InputSource): AsyncGenerator<InputSource> {
  yield source;
}

export interface LineBatchOptions {
  maxLineBytes: number;
  /** Told each input's digest (its raw bytes counted and hashed as they streamed by) once it is read. */
  onInput: (digest: FileDigest) => void;
  /** Told the raw bytes read as they stream (for a progress line). */
  onBytes?: ((bytes: number) => void) | undefined;
}

/** All lines of all inputs as batches, one input after another, pulled on demand (backpressure). */
export async function* readLineBatches(sources: AsyncIterable<InputSource>, options: LineBatchOptions): AsyncGenerator<LineBatch> {
  for await (const source of sources) {
    const hash = createHash('sha256');
    const digest: FileDigest = { path: source.display, bytes: 0, sha256: '' };
    const onRawChunk = (chunk: Buffer): void => {
      hash.update(chunk);
      digest.bytes += chunk.length;
      options.onBytes?.(chunk.length);
    };
    for await (const lines of await openLines(source, { maxLineBytes: options.maxLineBytes, onRawChunk })) {
      yield { source: source.display, lines };
    }
    digest.sha256 = hash.digest('hex');
    options.onInput(digest);
  }
}

/** A folder's identity: a tree swapped in is another folder (its inode and birth time differ), whatever its name. */
const folderIdentity = (folder: string): Promise<string | undefined> =>
  stat(folder).then(
    (info) => (info.isDirectory() ? `${info.dev}:${info.ino}:${info.birthtimeMs}` : undefined),
    () => undefined,
  );

/**
 * Readers see one version of the folders they read. Before reading, a tree a killed swap left
 * between its renames is put back; the returned check, run before anything is committed, fails
 * (exit 3, no file committed) when a folder read was replaced meanwhile by a command rebuilding it,
 * so rows of two versions are never mixed into one output.
 */
export async function oneVersionOf(folders: readonly string[], root: string): Promise<() => Promise<void>> {
  const watched: Array<{ folder: string; identity: string }> = [];
  for (const folder of folders) {
    if (folder === STDIN_PATH) continue;
    await recoverTree(folder);
    const identity = await folderIdentity(folder);
    if (identity !== undefined) watched.push({ folder, identity });
  }
  return async () => {
    for (const { folder, identity } of watched) {
      if ((await folderIdentity(folder)) === identity) continue;
      const display = displayPath(root, folder);
      throw new DistillError('DS_IO', `${display} was replaced while it was read (another command rebuilt it); no output was committed: run again`, { path: display });
    }
  };
}

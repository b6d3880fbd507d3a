import { constants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { DistillError, ioError } from '../errors.js';
import { killPoint } from './kill-point.js';
import { removeAbandonedTemps, tempPathBeside, trackTemp, untrackTemp } from './temp-path.js';

/**
 * Writes a small file whole: a hidden temp beside it, flushed to disk, renamed over it. A reader, or
 * the next run after a kill or a power cut, sees the old file or the new one, never a short one (the
 * flush: a rename can reach the disk before the bytes it names). A failure (a full disk) names the
 * file as `display` (and the `option` it came from) and leaves no temp; the temps of the same name
 * that killed runs left are removed first.
 */
export async function writeWhole(file: string, text: string, display = file, option?: string): Promise<void> {
  const temp = tempPathBeside(file);
  trackTemp(temp); // a SIGTERM while it is written removes it
  try {
    await removeAbandonedTemps(file);
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    killPoint('small-file-before-rename');
    await rename(temp, file);
  } catch (cause) {
    await rm(temp, { force: true });
    throw ioError(display, cause, option);
  } finally {
    untrackTemp(temp);
  }
}

/**
 * At most `limit` bytes of an open file, and whether it holds more. A FIFO or a device reports size
 * 0, so a stat that refuses a large regular file cannot bound the read: this does, 64 KiB at a time.
 */
export async function readAtMost(handle: FileHandle, limit: number): Promise<{ bytes: Buffer; more: boolean }> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length <= limit) {
    const chunk = Buffer.allocUnsafe(Math.min(64 << 10, limit + 1 - length));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    length += bytesRead;
  }
  return { bytes: Buffer.concat(chunks, length), more: length > limit };
}

/**
 * A small JSON file of ours (a plan, a run's state) at a path the user names, read whole up to
 * `maxBytes` and parsed: unreadable, an I/O error naming it as `display` (the path as typed);
 * larger (a file named by mistake, a device) or not JSON, `refused`'s error, told why.
 */
export async function readJson(file: string, maxBytes: number, refused: (why: string) => DistillError, display = file): Promise<unknown> {
  let read: { bytes: Buffer; more: boolean };
  try {
    const handle = await open(file, 'r');
    try {
      read = (await handle.stat()).size > maxBytes ? { bytes: Buffer.alloc(0), more: true } : await readAtMost(handle, maxBytes);
    } finally {
      await handle.close();
    }
  } catch (cause) {
    throw ioError(display, cause);
  }
  if (read.more) throw refused(`larger than ${maxBytes} bytes`);
  try {
    return JSON.parse(read.bytes.toString('utf8'));
  } catch {
    throw refused('not JSON');
  }
}

/**
 * A small file this tool wrote, read whole where a run finds it (a run's report, a vector index's
 * manifest): undefined when it is not there; a FIFO or device in its place (opened without
 * blocking) or a file over `maxBytes` is `refused`'s error, told why, never waited on or read
 * unbounded; any other failure is an I/O error naming `display`.
 */
export async function readWritten(file: string, maxBytes: number, refused: (why: string) => DistillError, display = file): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw ioError(display, cause);
  }
  let read: { bytes: Buffer; more: boolean };
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refused('not a regular file');
    read = stat.size > maxBytes ? { bytes: Buffer.alloc(0), more: true } : await readAtMost(handle, maxBytes);
  } catch (cause) {
    throw cause instanceof DistillError ? cause : ioError(display, cause);
  } finally {
    await handle.close();
  }
  if (read.more) throw refused(`larger than ${maxBytes} bytes`);
  return read.bytes;
}

/**
 * A small file this tool keeps for itself (an index manifest, a commit journal, a lock, a done
 * marker): {@link readWritten}, with every failure read as undefined — missing, unreadable, not a
 * regular file or too large all mean damaged or foreign, never trusted.
 */
export const readOwnFile = (file: string, maxBytes: number): Promise<Buffer | undefined> =>
  readWritten(file, maxBytes, (why) => new DistillError('DS_IO', `${file}: ${why}`, { path: file })).catch(() => undefined);

/** {@link readOwnFile} parsed as JSON: undefined as well when it is not JSON (cut short by a kill before it was renamed in, or damaged). */
export async function readOwnJson(file: string, maxBytes: number): Promise<unknown> {
  const bytes = await readOwnFile(file, maxBytes);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

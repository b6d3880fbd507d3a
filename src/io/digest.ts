import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ioError } from '../errors.js';

/**
 * A sha256 under way and the bytes it has taken: a file's digest as its writer left it, which an
 * output that starts with that file continues instead of reading the file again.
 */
export interface RunningDigest {
  hash: Hash;
  bytes: number;
}

/** What is at a path a receipt names: a file and its size, nothing, or something that is not a file. */
export type FileState = { kind: 'file'; bytes: number } | { kind: 'missing' } | { kind: 'not-a-file' };

/** Stats `absolute`; a missing file (or a missing folder on its way) is an answer, any other failure an I/O error naming `display`. */
export async function fileState(absolute: string, display: string): Promise<FileState> {
  try {
    const info = await stat(absolute);
    return info.isFile() ? { kind: 'file', bytes: info.size } : { kind: 'not-a-file' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw ioError(display, error);
  }
}

/** sha256 and size of a file's bytes, streamed 1 MiB at a time (for a file whose rows need no look). */
export async function fileDigest(absolute: string, display: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(absolute, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (error) {
    throw ioError(display, error);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** sha256 of a file's bytes (fileDigest without the size). */
export const fileSha256 = async (absolute: string, display: string): Promise<string> => (await fileDigest(absolute, display)).sha256;

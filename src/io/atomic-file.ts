import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { ioError } from '../errors.js';
import { removeAbandonedTemps, tempPathBeside } from './temp-path.js';

/**
 * A file that appears at its path only when complete: bytes go to a hidden temp file beside it,
 * renamed into place by `commit`. A killed run leaves only the hidden temp, never a half file, and
 * the next run writing the same path removes it.
 */
export class AtomicFile {
  readonly stream: WriteStream;
  private readonly tempPath: string;

  private constructor(
    readonly finalPath: string,
    private readonly display: string,
  ) {
    this.tempPath = tempPathBeside(finalPath);
    this.stream = createWriteStream(this.tempPath, { highWaterMark: 1 << 20 });
  }

  static async create(finalPath: string, display: string): Promise<AtomicFile> {
    try {
      await mkdir(path.dirname(finalPath), { recursive: true });
      await removeAbandonedTemps(finalPath);
    } catch (cause) {
      throw ioError(display, cause);
    }
    return new AtomicFile(finalPath, display);
  }

  /** Ends the stream if still open, waits for the bytes to land, then renames into place. */
  async commit(): Promise<void> {
    try {
      if (!this.stream.writableEnded) this.stream.end();
      await finished(this.stream);
      await rename(this.tempPath, this.finalPath);
    } catch (cause) {
      await this.abort();
      throw ioError(this.display, cause);
    }
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tempPath, { force: true });
  }
}

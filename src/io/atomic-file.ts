import { close, createWriteStream, fsync, open, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { finished } from 'node:stream/promises';
import { ioError } from '../errors.js';
import { recoverCommits, trackTemp, untrackTemp, type CommitEntry } from './commit.js';
import { ensureFolder } from './folders.js';
import { removeAbandonedTemps, tempPathBeside } from './temp-path.js';

const openFile = promisify(open);
const syncFile = promisify(fsync);
const closeFile = promisify(close);

/**
 * A file that appears at its path only when complete: bytes go to a hidden temp file beside it
 * (opened exclusively, so open failures surface at once, naming the user's path), made durable and
 * handed to a commit by `finish`. A killed run leaves only the hidden temp, never a half file, and
 * the next run writing the same path removes it (after finishing any commit a journal left).
 */
export class AtomicFile {
  readonly stream: WriteStream;

  private closed = false;

  private constructor(
    readonly finalPath: string,
    private readonly tempPath: string,
    /** A plain descriptor: a stream on a FileHandle keeps the handle from closing (Node 20). */
    private readonly fd: number,
    private readonly label: string,
  ) {
    this.stream = createWriteStream(tempPath, { fd, highWaterMark: 1 << 20, autoClose: false });
  }

  /** `label` is how the user named the file (`--out x.jsonl`), for messages. */
  static async create(finalPath: string, label: string): Promise<AtomicFile> {
    const tempPath = tempPathBeside(finalPath);
    let fd: number;
    try {
      await ensureFolder(path.dirname(finalPath));
      await recoverCommits(path.dirname(finalPath));
      await removeAbandonedTemps(finalPath);
      fd = await openFile(tempPath, 'wx');
    } catch (cause) {
      throw ioError(label, cause);
    }
    trackTemp(tempPath);
    return new AtomicFile(finalPath, tempPath, fd, label);
  }

  /** Ends the stream if still open, waits for the bytes to land on disk; the entry a commit puts in place. */
  async finish(): Promise<CommitEntry> {
    try {
      if (!this.stream.writableEnded) this.stream.end();
      await finished(this.stream);
      await syncFile(this.fd);
      await this.close();
    } catch (cause) {
      await this.abort();
      throw ioError(this.label, cause);
    }
    return { kind: 'file', temp: this.tempPath, final: this.finalPath };
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await this.close().catch(() => undefined); // the error to report is the one that made us abort
    await rm(this.tempPath, { force: true });
    untrackTemp(this.tempPath);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeFile(this.fd);
  }
}

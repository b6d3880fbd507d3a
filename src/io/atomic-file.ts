import { close, createWriteStream, fsync, open, type WriteStream } from 'node:fs';
import { constants, copyFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { finished } from 'node:stream/promises';
import { ioError } from '../errors.js';
import type { RunningDigest } from './digest.js';
import { recoverCommits, type CommitEntry } from './commit.js';
import { trackTemp, untrackTemp } from './temp-path.js';
import { ensureFolder } from './folders.js';
import { removeAbandonedTemps, tempPathBeside } from './temp-path.js';

const openFile = promisify(open);
const syncFile = promisify(fsync);
const closeFile = promisify(close);

/**
 * Bytes a JSONL file output begins with: a file of ours (a shard's part, which the merge would
 * otherwise copy through the process), put in place as the output's temp file — moved when `move`
 * and on the same filesystem, else copied by the kernel — and hashed; rows written follow it.
 */
export interface StartWith {
  file: string;
  move: boolean;
  /**
   * The file's digest as this process wrote it (a shard run here): continued, the file not read
   * again. A 2-shard sft over a 256 MB archive read its 52 MB of first parts again only to hash
   * them (0.05 s of CPU here; 210 MB at 1 GB).
   */
  digest?: RunningDigest | undefined;
}

/** Puts the file an output starts with at its temp path: a rename when allowed and possible (same filesystem), else a kernel copy (a reflink where the filesystem has them). */
async function placeStart(start: StartWith, tempPath: string): Promise<void> {
  if (start.move) {
    try {
      await rename(start.file, tempPath);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    }
  }
  await copyFile(start.file, tempPath, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
}

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
    /** Where the bytes go until the commit: read only by the one who writes them (an output that starts with a file hashes it there). */
    readonly tempPath: string,
    /** A plain descriptor: a stream on a FileHandle keeps the handle from closing (Node 20). */
    private readonly fd: number,
    private readonly label: string,
  ) {
    this.stream = createWriteStream(tempPath, { fd, highWaterMark: 1 << 20, autoClose: false });
  }

  /**
   * `label` is how the user named the file (`--out x.jsonl`), for messages. With `startWith`, the
   * temp file is that file (moved, or copied by the kernel) and what is written is appended to it.
   */
  static async create(finalPath: string, label: string, startWith?: StartWith): Promise<AtomicFile> {
    const tempPath = tempPathBeside(finalPath);
    let fd: number;
    try {
      await ensureFolder(path.dirname(finalPath));
      await recoverCommits(path.dirname(finalPath));
      await removeAbandonedTemps(finalPath);
      trackTemp(tempPath);
      if (startWith !== undefined) await placeStart(startWith, tempPath);
      fd = await openFile(tempPath, startWith === undefined ? 'wx' : 'a');
    } catch (cause) {
      if (startWith !== undefined) await rm(tempPath, { force: true }); // the part put there before the open failed
      untrackTemp(tempPath);
      throw ioError(label, cause);
    }
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

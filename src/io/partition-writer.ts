import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ioError } from '../errors.js';
import type { FileDigest } from '../receipts.js';
import { drained } from './drain.js';
import { ensureFolder } from './folders.js';

/** A line (text, or its UTF-8 bytes) and the file of the tree it belongs in (collect: `YYYY/MM/DD/<source>.jsonl`). */
export interface PartitionedLine {
  partition: string;
  line: string | Uint8Array;
}

interface PartitionState {
  hash: Hash;
  bytes: number;
  /** Settles when the last handle on this file has flushed and closed. */
  closed: Promise<void>;
}

/** Open handles at once: a year of daily partitions for one source fits, and the fd count stays small. */
export const MAX_OPEN_PARTITIONS = 64;

/**
 * Routes batches of lines to many files under `folder`, with a bounded pool of open handles
 * (least recently used closes first; a file reopened later is appended to, after its previous
 * handle has closed, so order holds). Each handle's backpressure holds the batch back. Bytes are
 * hashed per file as written, for receipts.
 */
export class PartitionWriter extends Writable {
  private readonly open = new Map<string, WriteStream>(); // insertion order = least recently used first
  private readonly partitions = new Map<string, PartitionState>();
  /** The first error of any handle: a file stream reports open and write failures as events, which would otherwise go unheard. */
  private failure: Error | undefined;
  /** The batch being written, which destroy waits for. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly folder: string,
    private readonly displayOf: (partition: string) => string,
  ) {
    super({ objectMode: true, highWaterMark: 4 });
  }

  override _write(batch: PartitionedLine[], _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writing = this.writeBatch(batch);
    this.writing.then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const closing = [...this.open.keys()].map((partition) => this.close(partition));
    Promise.all(closing).then(() => callback(this.failure), callback);
  }

  /**
   * Closes every handle, and settles only once the batch being written has stopped: a batch awaiting
   * a folder or a handle would otherwise create files after the caller removed the temp tree.
   */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const stream of this.open.values()) stream.destroy();
    this.open.clear();
    this.writing.then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Digests of every file written, sorted by path. */
  digests(): FileDigest[] {
    return [...this.partitions.entries()]
      .map(([partition, state]) => ({ path: this.displayOf(partition), bytes: state.bytes, sha256: state.hash.copy().digest('hex') }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  private async writeBatch(batch: PartitionedLine[]): Promise<void> {
    const congested = new Set<WriteStream>();
    for (const { partition, line } of batch) {
      const stream = await this.handle(partition);
      if (this.failure !== undefined) throw this.failure;
      const state = this.partitions.get(partition)!;
      const bytes = typeof line === 'string' ? Buffer.from(line) : line;
      state.hash.update(bytes);
      state.bytes += bytes.length;
      if (!stream.write(bytes)) congested.add(stream);
    }
    await Promise.all([...congested].map((stream) => (stream.writableNeedDrain ? drained(stream) : undefined)));
    if (this.failure !== undefined) throw this.failure;
  }

  private async handle(partition: string): Promise<WriteStream> {
    const current = this.open.get(partition);
    if (current !== undefined) {
      this.open.delete(partition); // re-insert: now the most recently used
      this.open.set(partition, current);
      return current;
    }
    if (this.open.size >= MAX_OPEN_PARTITIONS) await this.close(this.open.keys().next().value!);
    let state = this.partitions.get(partition);
    if (state === undefined) {
      state = { hash: createHash('sha256'), bytes: 0, closed: Promise.resolve() };
      this.partitions.set(partition, state);
    }
    await state.closed;
    const file = path.join(this.folder, partition);
    await ensureFolder(path.dirname(file)).catch((cause: unknown) => {
      throw ioError(this.displayOf(partition), cause);
    });
    if (this.destroyed) throw this.failure ?? new Error('the partition writer was destroyed');
    const stream = createWriteStream(file, { flags: 'a', highWaterMark: 1 << 16 });
    stream.on('error', (cause) => {
      this.failure ??= ioError(this.displayOf(partition), cause);
    });
    this.open.set(partition, stream);
    return stream;
  }

  private close(partition: string): Promise<void> {
    const stream = this.open.get(partition)!;
    this.open.delete(partition);
    const state = this.partitions.get(partition)!;
    state.closed = finished(stream.end()).catch((cause: unknown) => {
      throw this.failure ?? ioError(this.displayOf(partition), cause);
    });
    return state.closed;
  }
}

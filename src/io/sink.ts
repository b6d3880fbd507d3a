import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ioError } from '../errors.js';
import type { FileDigest } from '../receipts.js';
import { AtomicFile } from './atomic-file.js';
import type { CommitEntry } from './commit.js';

/**
 * Where a stage's rows go. `display` is the path as receipts show it; `label` is how the user
 * named it (`--out train.jsonl`), for messages.
 */
export type OutputTarget =
  /** A regular file, new or replaced: written to a temp beside it, then renamed into place. */
  | { kind: 'file'; path: string; display: string; label: string }
  /**
   * Written in place, never replaced: a device, FIFO or socket (`/dev/null`, `>(gzip)`), or a file
   * inside a temp tree that is itself committed whole.
   */
  | { kind: 'direct'; path: string; display: string; label: string }
  | { kind: 'stdout' }
  /** --dry-run: count everything, write nothing. */
  | { kind: 'discard' };

/** Counts and hashes the bytes that pass, so receipts never need a second read of an output. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor() {
    super({ decodeStrings: true, highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/** A finished output: its digest for the receipt (not for stdout or discard) and what its commit puts in place. */
export interface FinishedSink {
  digest: FileDigest | undefined;
  entry: CommitEntry | undefined;
}

/** An output being written: write into `input`; `finish` makes it ready to commit, `abort` leaves no trace. */
export interface OpenSink {
  input: DigestStream;
  /** True once the reader of stdout went away (`| head`): the run stops reading and ends quietly. */
  readonly readerClosed: boolean;
  finish(): Promise<FinishedSink>;
  abort(): Promise<void>;
}

const isBrokenPipe = (error: unknown): boolean => (error as NodeJS.ErrnoException | null)?.code === 'EPIPE';

export async function openSink(target: OutputTarget): Promise<OpenSink> {
  const input = new DigestStream();
  if (target.kind === 'file') {
    const file = await AtomicFile.create(target.path, target.label);
    const flowing = pipeline(input, file.stream, { end: false });
    flowing.catch(() => {}); // observed through finish/abort
    return {
      input,
      readerClosed: false,
      finish: async () => {
        if (!input.writableEnded) input.end();
        await flowing.catch((cause: unknown) => {
          throw ioError(target.label, cause);
        });
        const entry = await file.finish();
        return { digest: { path: target.display, bytes: input.bytes, sha256: input.hex() }, entry };
      },
      abort: async () => {
        input.destroy();
        await file.abort();
      },
    };
  }
  if (target.kind === 'direct') {
    const handle = await open(target.path, 'w').catch((cause: unknown) => {
      throw ioError(target.label, cause);
    });
    const stream = handle.createWriteStream({ highWaterMark: 1 << 16 });
    const flowing = pipeline(input, stream);
    flowing.catch(() => {});
    return {
      input,
      readerClosed: false,
      finish: async () => {
        if (!input.writableEnded) input.end();
        await flowing.catch((cause: unknown) => {
          throw ioError(target.label, cause);
        });
        return { digest: { path: target.display, bytes: input.bytes, sha256: input.hex() }, entry: undefined };
      },
      abort: async () => {
        input.destroy();
        stream.destroy();
      },
    };
  }
  let readerClosed = false;
  // stdout is never ended: other output (or nothing) may follow. Once its reader is gone, bytes are dropped and the run told to stop.
  const destination =
    target.kind === 'stdout'
      ? new Writable({
          write: (chunk: Buffer, _encoding, callback) => {
            if (readerClosed) return callback();
            process.stdout.write(chunk, (error) => {
              if (error && isBrokenPipe(error)) readerClosed = true;
              callback(error && !isBrokenPipe(error) ? error : null);
            });
          },
        })
      : new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const flowing = pipeline(input, destination, { end: false });
  flowing.catch(() => {});
  return {
    input,
    get readerClosed() {
      return readerClosed;
    },
    finish: async () => {
      if (!input.writableEnded) input.end();
      await flowing;
      return { digest: undefined, entry: undefined };
    },
    abort: async () => {
      input.destroy();
    },
  };
}

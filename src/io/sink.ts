import { createHash, type Hash } from 'node:crypto';
import { createReadStream, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DistillError, ioError } from '../errors.js';
import type { SplitRule } from '../core/splits.js';
import type { FileDigest } from '../receipts.js';
import type { RunningDigest } from './digest.js';
import { AtomicFile, type StartWith } from './atomic-file.js';
import type { CommitEntry } from './commit.js';
import { openEncoder, type OutputFormat } from './output-format.js';

/**
 * Where a stage's rows go. `display` is the path as receipts show it; `label` is how the user
 * named it (`--out train.jsonl`), for messages.
 */
export type OutputTarget =
  /**
   * A regular file, new or replaced: written to a temp beside it, then renamed into place. `format`
   * (from its name, JSONL when absent) says how rows become bytes; the digest is of the bytes written.
   */
  | { kind: 'file'; path: string; display: string; label: string; format?: OutputFormat; startWith?: StartWith }
  /**
   * Written in place, never replaced: a device, FIFO or socket (`/dev/null`, `>(gzip)`), or a file
   * inside a temp tree that is itself committed whole.
   */
  | {
      kind: 'direct';
      path: string;
      display: string;
      label: string;
      format?: OutputFormat;
      /** Given the file's digest when it is finished, by its path: what an output later made to start with the file continues. */
      runningDigests?: Map<string, RunningDigest>;
    }
  | { kind: 'stdout' }
  /** --dry-run: count everything, write nothing. */
  | { kind: 'discard' }
  | PartsTarget;

/**
 * A dataset written as a set of files beside `path` (split-sink.ts): parts of at most `maxRows`
 * rows or `maxBytes` bytes, one family of files per split when `splits` is given. Rows reach it as
 * KeyedLine batches, so each can be routed by its sample id.
 */
export interface PartsTarget {
  kind: 'parts';
  path: string;
  display: string;
  label: string;
  format?: OutputFormat;
  maxRows?: number | undefined;
  maxBytes?: number | undefined;
  splits?: readonly SplitRule[] | undefined;
}

/** A written row with the id of its sample: what a set split by id is given. */
export interface KeyedLine {
  key: string;
  line: Uint8Array;
}

/** Counts and hashes the bytes that pass, so receipts never need a second read of an output. */
export class DigestStream extends Transform {
  private readonly hash: Hash;
  bytes: number;

  /** `from`: the digest of the bytes the output starts with, continued (on a copy: `from` stays as it was). */
  constructor(from?: RunningDigest) {
    super({ decodeStrings: true, highWaterMark: 1 << 20 });
    this.hash = from === undefined ? createHash('sha256') : from.hash.copy();
    this.bytes = from?.bytes ?? 0;
  }

  /** Counts and hashes a file's bytes as if they had passed first (the bytes an output starts with). */
  async include(file: string): Promise<void> {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      this.hash.update(chunk);
      this.bytes += chunk.length;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** The digest so far, on a copy: this one can still be finished by `hex`. */
  running(): RunningDigest {
    return { hash: this.hash.copy(), bytes: this.bytes };
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/**
 * A finished output: the digests of the files it wrote for the receipt (none for stdout or
 * discard), what its commit puts in place, and for a set split by sample id, its rows per split.
 */
export interface FinishedSink {
  digests: FileDigest[];
  entries: CommitEntry[];
  rowsBySplit?: ReadonlyMap<string, number>;
}

/** An output being written: write into `input`; `finish` makes it ready to commit, `abort` leaves no trace. */
export interface OpenSink {
  input: Writable;
  /** True once the reader of stdout went away (`| head`): the run stops reading and ends quietly. */
  readonly readerClosed: boolean;
  /**
   * The failure of the file or stream written, named by the user's path (`--out x: no space left on
   * device`), once it happened: the run's own error is then only that failure passed along.
   */
  readonly failure: DistillError | undefined;
  finish(): Promise<FinishedSink>;
  abort(): Promise<void>;
}

/** Remembers the first error `stream` emits, worded for `label`; the listener is there before any write. */
function watchFailure(stream: NodeJS.EventEmitter, label: string): { readonly failure: DistillError | undefined } {
  const watch: { failure: DistillError | undefined } = { failure: undefined };
  stream.on('error', (cause: unknown) => {
    watch.failure ??= ioError(label, cause);
  });
  return watch;
}

/** stdout as a message names it: with the file it was redirected to, when the system says (Linux). */
function stdoutLabel(): string {
  try {
    const target = readlinkSync('/proc/self/fd/1');
    return target.startsWith('/') ? `stdout (${target})` : 'stdout';
  } catch {
    return 'stdout';
  }
}

const isBrokenPipe = (error: unknown): boolean => (error as NodeJS.ErrnoException | null)?.code === 'EPIPE';

/** Rows written → the format's encoder, when there is one → the digest → `destination`. */
function encodedPipeline(encoder: Writable & NodeJS.ReadableStream | undefined, digest: DigestStream, destination: Writable, options: { end: boolean }): Promise<void> {
  return encoder === undefined ? pipeline(digest, destination, options) : pipeline(encoder, digest, destination, options);
}

/**
 * A sink whose rows go through the format's encoder and the digest into `destination` (a temp file
 * or a device): the first error of the destination is remembered, and finishing waits for every
 * byte, then lets the destination finish (a temp file's commit entry) or be thrown away.
 */
function encodedSink(
  target: { label: string; display: string },
  encoder: (Writable & NodeJS.ReadableStream) | undefined,
  digest: DigestStream,
  destination: Writable,
  options: { end: boolean },
  after: { finish: () => Promise<FinishedSink['entries']>; abort: () => Promise<void> },
): OpenSink {
  const input = encoder ?? digest;
  const watch = watchFailure(destination, target.label);
  const flowing = encodedPipeline(encoder, digest, destination, options);
  flowing.catch(() => {}); // observed through finish/abort
  return {
    input,
    readerClosed: false,
    get failure() {
      return watch.failure;
    },
    finish: async () => {
      if (!input.writableEnded) input.end();
      await flowing.catch((cause: unknown) => {
        throw ioError(target.label, cause);
      });
      const entries = await after.finish(); // before the digest is finished: a part's running digest is taken there
      return { digests: [{ path: target.display, bytes: digest.bytes, sha256: digest.hex() }], entries };
    },
    abort: async () => {
      input.destroy();
      await after.abort();
    },
  };
}

export async function openSink(target: OutputTarget): Promise<OpenSink> {
  if (target.kind === 'file') {
    const start = target.startWith;
    const encoder = await openEncoder(target.format, target.label);
    if (encoder !== undefined && start !== undefined) throw new TypeError('an output that starts with a file is written as it stands (JSONL)');
    const file = await AtomicFile.create(target.path, target.label, start).catch(async (error: unknown) => {
      encoder?.destroy();
      throw error;
    });
    const digest = new DigestStream(start?.digest);
    if (start !== undefined && start.digest === undefined) {
      await digest.include(file.tempPath).catch(async (cause: unknown) => {
        await file.abort();
        throw ioError(target.label, cause);
      });
    }
    return encodedSink(target, encoder, digest, file.stream, { end: false }, {
      finish: async () => [await file.finish()],
      abort: () => file.abort(),
    });
  }
  const digest = new DigestStream();
  if (target.kind === 'direct') {
    const encoder = await openEncoder(target.format, target.label);
    const handle = await open(target.path, 'w').catch((cause: unknown) => {
      encoder?.destroy();
      throw ioError(target.label, cause);
    });
    const stream = handle.createWriteStream({ highWaterMark: 1 << 20 }); // as a temp file's: rows come in batches, a merge's parts in 1 MiB chunks
    return encodedSink(target, encoder, digest, stream, { end: true }, {
      finish: async () => {
        target.runningDigests?.set(target.path, digest.running());
        return [];
      },
      abort: async () => void stream.destroy(),
    });
  }
  const input = digest;
  let readerClosed = false;
  let failure: DistillError | undefined;
  // stdout itself is never ended: other output (or nothing) may follow; the stream in front of it is,
  // so finishing waits for every write to be accepted. Once its reader is gone, bytes are dropped and the run told to stop.
  const destination =
    target.kind === 'stdout'
      ? new Writable({
          write: (chunk: Buffer, _encoding, callback) => {
            if (readerClosed) return callback();
            process.stdout.write(chunk, (error) => {
              if (error && isBrokenPipe(error)) readerClosed = true;
              if (error && !isBrokenPipe(error)) failure ??= ioError(stdoutLabel(), error);
              callback(error && !isBrokenPipe(error) ? error : null);
            });
          },
        })
      : new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const flowing = pipeline(input, destination);
  flowing.catch(() => {});
  return {
    input,
    get readerClosed() {
      return readerClosed;
    },
    get failure() {
      return failure;
    },
    finish: async () => {
      if (!input.writableEnded) input.end();
      await flowing.catch((cause: unknown) => {
        throw failure ?? cause;
      });
      return { digests: [], entries: [] };
    },
    abort: async () => {
      input.destroy();
    },
  };
}

import { createHash, type Hash } from 'node:crypto';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AtomicFile } from './atomic-file.js';
import type { FileDigest } from '../receipts.js';

/** Where a stage's rows go. */
export type OutputTarget =
  | { kind: 'file'; path: string; display: string }
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

/** An output being written: write into `input`; `commit` makes it visible, `abort` leaves no trace. */
export interface OpenSink {
  input: DigestStream;
  /** Resolves when every byte written to `input` has reached the destination. */
  drained: Promise<void>;
  commit(): Promise<FileDigest | undefined>;
  abort(): Promise<void>;
}

export async function openSink(target: OutputTarget): Promise<OpenSink> {
  const input = new DigestStream();
  if (target.kind === 'file') {
    const file = await AtomicFile.create(target.path, target.display);
    const drained = pipeline(input, file.stream, { end: false });
    drained.catch(() => {}); // observed by the caller through commit/abort
    return {
      input,
      drained,
      commit: async () => {
        await drained;
        await file.commit();
        return { path: target.display, bytes: input.bytes, sha256: input.hex() };
      },
      abort: () => file.abort(),
    };
  }
  // stdout is never ended: other output (or nothing) may follow; writes to a pipe or file are synchronous.
  const destination = target.kind === 'stdout' ? process.stdout : new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const drained = pipeline(input, destination, { end: false });
  drained.catch(() => {});
  return {
    input,
    drained,
    commit: async () => {
      await drained;
      return undefined;
    },
    abort: async () => {
      input.destroy();
    },
  };
}

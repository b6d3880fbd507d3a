import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { DistillError } from '../errors.js';

/** The first four bytes of a zstd frame (RFC 8878). */
export const ZSTD_MAGIC = Buffer.of(0x28, 0xb5, 0x2f, 0xfd);

/** How to get the decoder and encoder when they are missing. */
const INSTALL_HINT = 'install the zstd command (Debian/Ubuntu: apt-get install zstd)';

/**
 * zstd runs as the `zstd` command in a child process. Measured by `npm run bench:decoders` on
 * 224 MB of evidence (docs/formats.md): decoding costs this process 0.22–0.26 s of CPU to copy the
 * pipes while zstd itself spends ~0.2 s on the other core; zstd-napi decodes in-process for
 * 0.31–0.35 s but is a native addon that `npm ci` compiles wherever no prebuilt binary matches;
 * fzstd (pure JavaScript) needs ~1.1 s and cannot compress.
 */
const ZSTD = 'zstd';
/** Level 3 is zstd's own default; one thread keeps the output bytes the same on every machine. */
const ENCODE_ARGS = ['-q', '-c', '-3', '--single-thread'];
const DECODE_ARGS = ['-q', '-d', '-c'];
/** Enough of zstd's stderr to say what went wrong. */
const STDERR_KEPT = 2000;

/** A zstd process as one stream: bytes written go to its stdin, its stdout is read; a failed exit is an error naming `label`. */
export interface ZstdStream {
  stream: Duplex;
  /** Resolves once zstd started; rejects with DS_IO (what to install) when there is no zstd command. */
  started: Promise<void>;
}

/** What the user reads when zstd stopped with an error: its own words, without the name it gave stdin. */
function zstdFailure(label: string, doing: string, stderr: string, code: number | null, signal: NodeJS.Signals | null): DistillError {
  const said = stderr
    .split('\n')
    .map((line) => line.replace(/^zstd:\s*/, '').replace(/\/\*stdin\*\\\s*:?\s*/, '').trim())
    .filter((line) => line !== '')
    .join('; ');
  const why = said !== '' ? said : signal !== null ? `zstd was stopped by ${signal}` : `zstd exited with code ${code}`;
  return new DistillError('DS_IO', `${label}: ${doing}: ${why}`, { path: label });
}

/**
 * `startFailureOnStream`: whether a failed start is also the stream's error. A decoder's stream is
 * already in its pipeline when zstd fails to start; an encoder's is not yet (its `started` is
 * awaited first), so there it is reported through `started` alone.
 */
function zstdProcess(args: readonly string[], label: string, doing: string, missing: string, startFailureOnStream: boolean): ZstdStream {
  const child = spawn(ZSTD, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < STDERR_KEPT) stderr += text;
  });
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (child.stdin.write(chunk)) callback();
      else child.stdin.once('drain', () => callback());
    },
    final(callback) {
      child.stdin.end();
      callback();
    },
    read() {
      child.stdout.resume();
    },
    destroy(error, callback) {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      callback(error);
    },
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) child.stdout.pause();
  });
  // zstd quitting early (corrupt input) closes its stdin: the exit status below says why.
  child.stdin.on('error', () => {});
  // Ends only once zstd exited cleanly, so a truncated input never looks like a short one.
  child.once('close', (code, signal) => {
    if (duplex.destroyed) return;
    if (code === 0) duplex.push(null);
    else duplex.destroy(zstdFailure(label, doing, stderr, code, signal));
  });
  const started = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error: NodeJS.ErrnoException) => {
      const failure = error.code === 'ENOENT' ? new DistillError('DS_IO', `${label}: ${missing}: ${INSTALL_HINT}`, { path: label, cause: error }) : new DistillError('DS_IO', `${label}: ${doing}: ${error.message}`, { path: label, cause: error });
      duplex.destroy(startFailureOnStream ? failure : undefined);
      reject(failure);
    });
  });
  if (startFailureOnStream) started.catch(() => {}); // reported through the stream
  return { stream: duplex, started };
}

/** Decompresses one input; `label` is the input as the user named it. */
export const zstdDecoder = (label: string): ZstdStream => zstdProcess(DECODE_ARGS, label, 'zstd could not decompress it', 'it is zstd-compressed and no zstd decoder was found', true);

/** Compresses one output; `label` is the output as the user named it (`--out train.jsonl.zst`). */
export const zstdEncoder = (label: string): ZstdStream => zstdProcess(ENCODE_ARGS, label, 'zstd could not compress it', 'writing .zst needs the zstd command, which was not found', false);

import { spawn, type StdioOptions } from 'node:child_process';
import { EXIT_CODE, type DistillErrorCode } from '../src/errors.js';
import { trackWriter, untrackWriter } from '../src/io/commit.js';

/** Exit codes a child process of ours ends with, back to the error class that caused them. */
const ERROR_CODE_OF_EXIT = new Map(Object.entries(EXIT_CODE).map(([code, exit]) => [exit, code as DistillErrorCode]));

/** How a child process failed: the class of its error and the first line of it. */
export interface ChildFailure {
  code: DistillErrorCode;
  why: string;
}

/**
 * Runs `node <args>` as a child of a local run (a shard, a range of a pairing merge): its failure, if
 * it fails (the code from its exit status, the first line of its stderr). `job` is sent as its first
 * message and what it sends back goes to `onMessage`: the IPC channel also tells the child when this
 * process is gone, even killed by SIGKILL. Sent SIGTERM once `stop` is aborted (something else
 * failed): how it then ends is no failure of its own.
 */
export function runChild(args: readonly string[], what: string, stop: AbortSignal, options: { job?: unknown; onMessage?: (message: unknown) => void } = {}): Promise<ChildFailure | undefined> {
  return new Promise((resolve) => {
    const stdio: StdioOptions = ['ignore', 'ignore', 'pipe', 'ipc'];
    const child = spawn(process.execPath, args, { stdio });
    trackWriter(child); // a run stopped by a signal stops it before removing the work folder it writes in
    const terminate = (): void => void child.kill('SIGTERM');
    stop.addEventListener('abort', terminate, { once: true });
    const settle = (failure: ChildFailure | undefined): void => {
      untrackWriter(child);
      stop.removeEventListener('abort', terminate);
      resolve(stop.aborted ? undefined : failure);
    };
    child.on('error', (cause) => settle({ code: 'DS_IO', why: `the ${what} process could not start: ${cause.message}` }));
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (options.onMessage !== undefined) child.on('message', options.onMessage);
    if (options.job !== undefined) child.send(options.job as object);
    child.on('close', (exit, signal) => {
      if (exit === 0) return settle(undefined);
      const line = Buffer.concat(stderr).toString('utf8').split('\n').find((text) => text.trim() !== '')?.replace(/^distill-stream: /, '');
      const code = (exit === null ? undefined : ERROR_CODE_OF_EXIT.get(exit)) ?? 'DS_INTERNAL';
      settle({ code, why: line ?? (signal === null ? `exit ${exit}` : `killed by ${signal}`) });
    });
  });
}

import type { Writable } from 'node:stream';

/** Settles once `sink` drains; rejects if it fails or closes first, so a waiter never hangs. */
export function drained(sink: Writable): Promise<void> {
  // A sink that already failed or closed emits nothing more: waiting for an event would hang the run.
  if (sink.errored !== null) return Promise.reject(sink.errored);
  if (sink.destroyed || sink.closed) return Promise.reject(new Error('output closed before it drained'));
  if (!sink.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      sink.off('drain', onDrain).off('error', onError).off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('output closed before it drained'));
    };
    sink.on('drain', onDrain).on('error', onError).on('close', onClose);
  });
}

import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DistillError, ioError } from '../errors.js';
import { isRunning } from '../io/temp-path.js';

/** The writer lock's file inside an index folder. */
export const LOCK_FILE = '.writer.lock';

/**
 * One writer per index at a time: a writer that found the table ahead of the manifest rolls it back
 * (store.ts), which would undo a concurrent writer's batches. The lock is a file made with O_EXCL
 * holding the writer's process id; one left by a killed process (its id no longer runs) is taken
 * over. Readers take no lock: they read the version the manifest names.
 */
export async function acquireLock(folder: string, display: string): Promise<() => Promise<void>> {
  const file = path.join(folder, LOCK_FILE);
  for (let tries = 0; ; tries++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw ioError(display, error);
    }
    const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && isRunning(holder)) {
      throw new DistillError('DS_IO', `${display}: the index is being written by process ${holder}`, { path: display });
    }
    await rm(file, { force: true });
  }
}

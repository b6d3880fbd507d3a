import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** `.<name>.<pid>.<8 hex>.tmp`, and `.old` once it holds a retired tree: the temp names made here. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp(?:\.old)?$/;

/** A hidden temp path beside `finalPath`, unique to this process: where an atomic output is built. */
export function tempPathBeside(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Whether a process with this id runs (EPERM: it does, as another user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp files and trees beside `finalPath` left by killed runs, judged by the process id in
 * their name: a running process, this one included, may still be writing its own.
 */
export async function removeAbandonedTemps(finalPath: string): Promise<void> {
  const folder = path.dirname(finalPath);
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (match === null || match[1] !== path.basename(finalPath) || isRunning(Number(match[2]))) continue;
    await rm(path.join(folder, name), { recursive: true, force: true });
  }
}

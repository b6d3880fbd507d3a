import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { exists } from './folders.js';
import os from 'node:os';
import path from 'node:path';

/** Temps this process is writing: what a signal or an early exit removes (commit.ts settles them). */
const liveTemps = new Set<string>();

export const trackTemp = (temp: string): void => void liveTemps.add(temp);
export const untrackTemp = (temp: string): void => void liveTemps.delete(temp);

/** Every temp tracked, forgotten as it is handed over. */
export function takeLiveTemps(): string[] {
  const temps = [...liveTemps];
  liveTemps.clear();
  return temps;
}

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

const listFolder = (folder: string): Promise<string[]> =>
  readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });

/**
 * Removes temp files and trees beside `finalPath` left by killed runs, judged by the process id in
 * their name: a running process, this one included, may still be writing its own. Run after
 * `recoverCommits` on the same folder, so a temp that a commit journal still needs is never removed.
 */
export const removeAbandonedTemps = (finalPath: string): Promise<void> => removeTempsOfTheDead(path.dirname(finalPath), path.basename(finalPath));

/**
 * The same for every name in `folder`: for a folder that only small files of ours are written in (a
 * run's reports), which no later run may write again to sweep them name by name.
 */
export const removeAbandonedTempsIn = (folder: string): Promise<void> => removeTempsOfTheDead(folder, undefined);

/** What a temp named `name` was to become, when the process writing it is gone; otherwise undefined. */
export function abandonedTempOf(name: string): string | undefined {
  const match = TEMP_NAME.exec(name);
  return match === null || isRunning(Number(match[2])) ? undefined : match[1];
}

async function removeTempsOfTheDead(folder: string, finalName: string | undefined): Promise<void> {
  for (const name of await listFolder(folder)) {
    const target = abandonedTempOf(name);
    if (target === undefined || (finalName !== undefined && target !== finalName)) continue;
    const finalPath = path.join(folder, target);
    // A retired tree with nothing in its place is the only complete copy (a swap cut short whose journal was lost): put it back.
    if (name.endsWith('.old') && !(await exists(finalPath))) {
      await rename(path.join(folder, name), finalPath);
      continue;
    }
    await rm(path.join(folder, name), { recursive: true, force: true });
  }
}

export { listFolder };

/**
 * Removes the folders named `<prefix><pid>-…` in the temp folder whose process is gone: what runs
 * killed outright (SIGKILL, a power cut) left behind.
 */
export async function removeAbandonedFolders(prefix: string): Promise<void> {
  for (const name of await listFolder(os.tmpdir()).catch(() => [])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !isRunning(pid)) await rm(path.join(os.tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
}

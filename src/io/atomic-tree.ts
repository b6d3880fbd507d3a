import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';

/** `.<name>.<pid>.<8 hex>.tmp`, and `.old` once it holds a retired tree: the temp names this class makes. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp(?:\.old)?$/;

/** Whether a process with this id runs (EPERM: it does, as another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A whole output folder rebuilt atomically (SPEC §4): files are written under a hidden temp folder
 * beside it; `commit` swaps it into place with renames, so readers see the old tree or the new one.
 */
export class AtomicTree {
  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
    private readonly display: string,
  ) {}

  static async create(finalPath: string, display: string): Promise<AtomicTree> {
    const tempPath = path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await removeAbandoned(finalPath);
      await mkdir(tempPath, { recursive: true });
    } catch (cause) {
      throw ioError(display, cause);
    }
    return new AtomicTree(finalPath, tempPath, display);
  }

  /** The temp location of a file at `relative` inside the tree. */
  pathOf(relative: string): string {
    return path.join(this.tempPath, relative);
  }

  async commit(): Promise<void> {
    const retired = `${this.tempPath}.old`;
    let hasRetired = false;
    try {
      await rename(this.finalPath, retired).then(
        () => {
          hasRetired = true;
        },
        (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error; // first build: nothing to retire
        },
      );
      await rename(this.tempPath, this.finalPath);
    } catch (cause) {
      // Best effort: put the old tree back rather than leave none; the error to report is the first one.
      if (hasRetired) await rename(retired, this.finalPath).catch(() => undefined);
      throw ioError(this.display, cause);
    }
    await rm(retired, { recursive: true, force: true }).catch((cause: unknown) => {
      throw ioError(this.display, cause);
    });
  }

  async abort(): Promise<void> {
    await rm(this.tempPath, { recursive: true, force: true });
  }
}

/**
 * Removes temp trees beside `finalPath` left by killed runs (a full copy of the tree each), judged by
 * the process id in their name: a running process, this one included, may still be writing its own.
 */
async function removeAbandoned(finalPath: string): Promise<void> {
  const names = await readdir(path.dirname(finalPath)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (match === null || match[1] !== path.basename(finalPath) || isRunning(Number(match[2]))) continue;
    await rm(path.join(path.dirname(finalPath), name), { recursive: true, force: true });
  }
}

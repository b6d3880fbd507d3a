import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';
import { removeAbandonedTemps, tempPathBeside } from './temp-path.js';

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
    const tempPath = tempPathBeside(finalPath);
    try {
      await removeAbandonedTemps(finalPath); // a full copy of the tree each
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

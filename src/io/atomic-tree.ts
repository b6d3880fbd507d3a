import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';
import { recoverCommits, type CommitEntry } from './commit.js';
import { trackTemp, untrackTemp } from './temp-path.js';
import { ensureFolder } from './folders.js';
import { removeAbandonedTemps, tempPathBeside } from './temp-path.js';

/**
 * A whole output folder rebuilt atomically: files are written under a hidden temp folder beside it;
 * its commit entry swaps it into place (old tree retired, new one renamed in, old one removed), and
 * the commit journal makes that swap finish even if a kill lands between the two renames.
 */
export class AtomicTree {
  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
  ) {}

  static async create(finalPath: string, label: string): Promise<AtomicTree> {
    const tempPath = tempPathBeside(finalPath);
    try {
      await ensureFolder(path.dirname(finalPath));
      await recoverCommits(path.dirname(finalPath)); // a swap a kill cut short is finished first
      await removeAbandonedTemps(finalPath);
      await ensureFolder(tempPath);
    } catch (cause) {
      throw ioError(label, cause);
    }
    trackTemp(tempPath);
    return new AtomicTree(finalPath, tempPath);
  }

  /** The temp location of a file at `relative` inside the tree. */
  pathOf(relative: string): string {
    return path.join(this.tempPath, relative);
  }

  entry(): CommitEntry {
    return { kind: 'tree', temp: this.tempPath, final: this.finalPath, retired: `${this.tempPath}.old` };
  }

  async abort(): Promise<void> {
    await rm(this.tempPath, { recursive: true, force: true });
    untrackTemp(this.tempPath);
  }
}

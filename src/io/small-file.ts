import { open, readFile, rename, rm } from 'node:fs/promises';
import { ioError, type DistillError } from '../errors.js';
import { tempPathBeside } from './temp-path.js';

/**
 * Writes a small file whole: a hidden temp beside it, flushed to disk, renamed over it. A reader, or
 * the next run after a kill or a power cut, sees the old file or the new one, never a short one (the
 * flush: a rename can reach the disk before the bytes it names). A failure (a full disk) names the
 * file as `display` (and the `option` it came from) and leaves no temp.
 */
export async function writeWhole(file: string, text: string, display = file, option?: string): Promise<void> {
  const temp = tempPathBeside(file);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (cause) {
    await rm(temp, { force: true });
    throw ioError(display, cause, option);
  }
}

/** A small JSON file of ours (a plan, a run's state), read whole and parsed: unreadable, an I/O error naming it; not JSON, `notJson`'s error. */
export async function readJson(file: string, notJson: () => DistillError): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw ioError(file, cause);
  });
  try {
    return JSON.parse(text);
  } catch {
    throw notJson();
  }
}

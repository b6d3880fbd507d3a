import { open, rename, rm } from 'node:fs/promises';
import { ioError } from '../errors.js';
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

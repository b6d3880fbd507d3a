import { rename, rm, writeFile } from 'node:fs/promises';
import { ioError } from '../errors.js';

/** Writes a small file whole (temp + rename): a reader sees the old one or the new one; a failure (a full disk) names the file and leaves no temp. */
export async function writeWhole(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, text);
    await rename(temp, file);
  } catch (cause) {
    await rm(temp, { force: true });
    throw ioError(file, cause);
  }
}

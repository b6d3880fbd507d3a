import { link, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p` one level at a time. Node 20's `mkdir(…, { recursive: true })` never settles under
 * /proc or /dev/fd (it retries ENOENT forever at 100% CPU), so the missing folders are found from
 * the nearest one that exists and made one by one; any failure is thrown as the system gave it.
 */
export async function ensureFolder(folder: string): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(folder); ; current = path.dirname(current)) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info !== undefined) {
      if (!info.isDirectory()) throw Object.assign(new Error(`${current} is not a folder`), { code: 'ENOTDIR' });
      break;
    }
    missing.push(current);
    if (path.dirname(current) === current) break;
  }
  for (const next of missing.reverse()) {
    await mkdir(next).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error; // made meanwhile by another process: fine
    });
  }
}

/** Whether `file` exists (any kind of entry; a link is followed). */
export const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false);

/** Errors that say this filesystem (or this pair of them) cannot hard-link, not that something failed. */
const NO_HARD_LINKS = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Makes `target` a hard link to `source` (an immutable file: a shard's committed part): true when
 * done, false when the filesystem cannot link them (another device, no hard links), so the caller
 * copies instead. Any other failure is thrown as the system gave it.
 */
export async function hardLink(source: string, target: string): Promise<boolean> {
  try {
    await link(source, target);
    return true;
  } catch (error) {
    if (NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) return false;
    throw error;
  }
}

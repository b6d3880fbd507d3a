import path from 'node:path';

/** A path as records and receipts show it: relative to the root, `/`-separated (docs/records.md). */
export function displayPath(root: string, absolute: string): string {
  const relative = path.relative(root, absolute);
  return path.sep === '/' ? relative : relative.split(path.sep).join('/');
}

/** The name stdin goes by in records and receipts. */
export const STDIN_PATH = '-';

/** Whether a root-relative path a report names stays inside the root (a receipt is not trusted to point anywhere). */
export const isInsideRootPath = (relative: string): boolean =>
  relative !== '' && !path.posix.isAbsolute(relative) && path.posix.normalize(relative) === relative && relative !== '..' && !relative.startsWith('../') && !relative.includes('\0');

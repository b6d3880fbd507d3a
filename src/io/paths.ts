import path from 'node:path';

/** A path as records and receipts show it: relative to the root, `/`-separated (SPEC §0). */
export function displayPath(root: string, absolute: string): string {
  const relative = path.relative(root, absolute);
  return path.sep === '/' ? relative : relative.split(path.sep).join('/');
}

/** The name stdin goes by in records and receipts. */
export const STDIN_PATH = '-';

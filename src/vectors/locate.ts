import path from 'node:path';
import { displayPath } from '../io/paths.js';

/** A folder or file named by the caller: where it is, and how messages and receipts name it (relative to the root, docs/records.md). */
export interface Located {
  absolute: string;
  display: string;
}

export function locate(root: string, target: string): Located {
  const absolute = path.resolve(root, target);
  return { absolute, display: displayPath(root, absolute) || '.' };
}

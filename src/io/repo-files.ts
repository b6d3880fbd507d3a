import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { RepoFileCheck } from '../core/synthesis.js';
import { ioError } from '../errors.js';

/**
 * `--repo-root`: whether a source file entry exists under the repository folder and, with symlinks
 * resolved, stays inside it (a link to `/etc` under the root is outside). None without a root.
 */
export function repoFileCheck(repoRoot: string | undefined): RepoFileCheck | undefined {
  if (repoRoot === undefined) return undefined;
  let root: string;
  try {
    root = realpathSync(path.resolve(repoRoot));
  } catch (cause) {
    throw ioError(repoRoot, cause, '--repo-root');
  }
  const inside = root.endsWith(path.sep) ? root : root + path.sep;
  return (entry) => {
    let real: string;
    try {
      real = realpathSync(path.join(root, entry));
    } catch {
      return false;
    }
    return real === root || real.startsWith(inside);
  };
}

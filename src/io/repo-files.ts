import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RepoFileCheck } from '../core/synthesis.js';

/** `--repo-root`: whether a source file entry exists under the repository folder; none without one. */
export function repoFileCheck(repoRoot: string | undefined): RepoFileCheck | undefined {
  if (repoRoot === undefined) return undefined;
  const root = path.resolve(repoRoot);
  return (entry) => existsSync(path.join(root, entry));
}

/**
 * Named points of the writers where a crash is proven harmless by the tests: with
 * DISTILL_STREAM_KILL_AT=<point> in its environment the process sends itself SIGKILL there, as a
 * power cut or `kill -9` would stop it (no finally blocks, no exit handlers).
 */
export type KillPoint = 'parts-before-commit' | 'commit-after-first-step' | 'tree-between-renames' | 'add-before-commit' | 'merge-after-first-batch' | 'merge-before-commit' | 'merge-before-clear' | 'merge-before-source-commit' | 'index-after-first-file' | 'index-before-manifest' | 'small-file-before-rename';

/** Read once: the environment does not change under a running process. */
const KILL_AT = process.env['DISTILL_STREAM_KILL_AT'];

export function killPoint(point: KillPoint): void {
  if (KILL_AT === point) process.kill(process.pid, 'SIGKILL');
}

const KB_PREFIX = 'data/_kb/';
const JSONL_SUFFIX = '.jsonl';

/** The source stem of a `_kb` file path: without one leading `data/_kb/` and one trailing `.jsonl` (docs/rules.md). */
export function stemOf(sourceFile: string): string {
  let stem = sourceFile.startsWith(KB_PREFIX) ? sourceFile.slice(KB_PREFIX.length) : sourceFile;
  if (stem.endsWith(JSONL_SUFFIX)) stem = stem.slice(0, -JSONL_SUFFIX.length);
  return stem;
}

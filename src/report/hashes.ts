import { sha256Hex } from '../core/canonical.js';
import { byCodeUnits } from '../core/text.js';
import type { FileDigest } from '../receipts.js';

/** By path, in JavaScript's default string order (UTF-16 code units), as docs/records.md says. */
const byPath = (a: FileDigest, b: FileDigest): number => byCodeUnits(a.path, b.path);

/**
 * input_hash / output_hash of a receipt (docs/receipts.md): sha256 of the lines `<path>\t<sha256>\n` sorted
 * by path. Takes the digests computed while streaming; the caller's array is not reordered.
 */
export function combinedHash(files: readonly FileDigest[]): string {
  let lines = '';
  for (const file of [...files].sort(byPath)) lines += `${file.path}\t${file.sha256}\n`;
  return sha256Hex(lines);
}

/** run_hash of a summary (docs/receipts.md): sha256 of the stage output_hashes joined by "\n", in stage order. */
export function runHash(outputHashes: readonly string[]): string {
  return sha256Hex(outputHashes.join('\n'));
}

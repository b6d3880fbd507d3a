/**
 * A pairing range's process (src/engine/pair-ranges.ts): reads its request (the first line on
 * stdin, JSON), pairs its tasks into its files and prints their counts (JSON on stdout). Its stdin
 * stays open while it works: the end of it means the merge is gone, and this stops too.
 */
import { createInterface } from 'node:readline';
import { DistillError, EXIT_CODE } from '../src/errors.js';
import type { PairRangeRequest } from './shards.js';
import { pairPlanRange } from './stage.js';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await lines.next();
process.stdin.once('end', () => process.exit(EXIT_CODE.DS_INTERNAL));
try {
  if (first.done === true) throw new DistillError('DS_INTERNAL', 'no request on stdin');
  process.stdout.write(JSON.stringify(await pairPlanRange(JSON.parse(first.value) as PairRangeRequest)));
  process.exitCode = 0;
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof DistillError ? EXIT_CODE[error.code] : EXIT_CODE.DS_INTERNAL;
} finally {
  process.stdin.destroy();
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, ProgressLine } from '../src/progress.js';

const fakeStream = (isTTY: boolean): NodeJS.WriteStream & { written: string[] } => {
  const written: string[] = [];
  return { isTTY, written, write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream & { written: string[] };
};

test('a progress line is drawn only on a terminal, in place, and cleared at the end', () => {
  assert.equal(ProgressLine.forTerminal('sft', fakeStream(false)), undefined);
  const stream = fakeStream(true);
  const progress = ProgressLine.forTerminal('sft', stream)!;
  progress.add(2_500_000);
  progress.add(1); // within the redraw interval: not drawn again
  progress.done();
  assert.equal(stream.written.length, 2);
  assert.match(stream.written[0]!, /^\r\x1b\[K\[sft\] 2\.5 MB \d+ MB\/s \d+\.\ds$/);
  assert.equal(stream.written[1], '\r\x1b[K');
  assert.equal(formatBytes(1_234_000_000), '1.2 GB');
});

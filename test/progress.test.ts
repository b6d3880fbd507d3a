import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, Terminal } from '../src/cli/terminal.js';

const fakeStream = (isTTY: boolean): NodeJS.WriteStream & { written: string[] } => {
  const written: string[] = [];
  return { isTTY, written, write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream & { written: string[] };
};

test('a progress line is drawn only on a terminal, in place, and cleared before any message', () => {
  const log = fakeStream(false);
  const quiet = new Terminal(log);
  quiet.begin('sft', 1_000);
  quiet.bytes(500);
  quiet.line('[sft] read=1');
  assert.deepEqual(log.written, ['[sft] read=1\n']);

  const stream = fakeStream(true);
  const terminal = new Terminal(stream);
  terminal.begin('sft', 10_000_000);
  terminal.rows(1_000);
  terminal.bytes(2_500_000);
  terminal.bytes(1); // within the redraw interval: not drawn again
  terminal.line('[sft] read=1000 exported=10');
  terminal.clear(); // nothing drawn since: nothing to clear
  assert.equal(stream.written.length, 3);
  assert.match(stream.written[0]!, /^\r\x1b\[K\[sft\] 2\.5 MB \/ 10\.0 MB 25% · \d+ MB\/s · [\d,]+ rows\/s · ETA \d+s$/);
  assert.equal(stream.written[1], '\r\x1b[K');
  assert.equal(stream.written[2], '[sft] read=1000 exported=10\n');
  assert.equal(formatBytes(1_234_000_000), '1.2 GB');
});

test('without a known total the line shows bytes and rates, and no percent or ETA', () => {
  const stream = fakeStream(true);
  const terminal = new Terminal(stream);
  terminal.begin('index', undefined);
  terminal.bytes(3_000_000);
  assert.match(stream.written[0]!, /^\r\x1b\[K\[index\] 3\.0 MB · \d+ MB\/s$/);
});

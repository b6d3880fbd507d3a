import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { procStatFields } from '../src/io/proc-stat.js';

const hasProc = existsSync('/proc/self/stat');

test('a process\'s stat fields: its state first, its start time (field 22) a number, for a name with spaces and parens too', { skip: hasProc ? false : 'no /proc on this system: lock liveness rests on the pid alone here' }, async () => {
  const own = procStatFields(process.pid)!;
  assert.match(own[0]!, /^[RS]$/, 'this process runs');
  assert.match(own[19]!, /^\d+$/, 'its start time in clock ticks');
  // The kernel keeps the name in parens; a name holding ") (" must not shift the fields.
  const child = spawn(process.execPath, ['-e', 'process.title = "a) (b c"; process.stdout.write("named\\n"); setTimeout(() => {}, 10000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  try {
    const fields = procStatFields(child.pid!)!;
    assert.match(fields[0]!, /^[RS]$/);
    assert.equal(fields[1], String(process.pid), 'field 4 is its parent: this process');
    assert.match(fields[19]!, /^\d+$/);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'close');
  }
  assert.equal(procStatFields(child.pid!), undefined, 'a reaped process has none');
});

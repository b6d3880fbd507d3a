import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { IdSet } from '../src/core/id-set.js';
import { shortId } from '../src/core/ids.js';

test('add reports new ids; has and size follow', () => {
  const ids = new IdSet();
  assert.equal(ids.size, 0);
  assert.equal(ids.has('0123456789abcdef'), false);
  assert.equal(ids.add('0123456789abcdef'), true);
  assert.equal(ids.add('0123456789abcdef'), false);
  assert.equal(ids.has('0123456789abcdef'), true);
  assert.equal(ids.add('fedcba9876543210'), true);
  assert.equal(ids.size, 2);
  // Same halves swapped, same low half, same high half: all distinct ids.
  assert.equal(ids.add('89abcdef01234567'), true);
  assert.equal(ids.add('ffffffff89abcdef'), true);
  assert.equal(ids.add('0123456700000000'), true);
  assert.equal(ids.size, 5);
});

test('the all-zero and all-f ids are ordinary members', () => {
  const ids = new IdSet();
  assert.equal(ids.has('0000000000000000'), false);
  assert.equal(ids.add('0000000000000000'), true);
  assert.equal(ids.add('0000000000000000'), false);
  assert.equal(ids.has('0000000000000000'), true);
  assert.equal(ids.add('ffffffffffffffff'), true);
  assert.equal(ids.has('ffffffffffffffff'), true);
  assert.equal(ids.size, 2);
  for (let i = 0; i < 10_000; i++) ids.add(randomBytes(8).toString('hex')); // zero id must survive resizes
  assert.equal(ids.has('0000000000000000'), true);
  assert.equal(ids.add('0000000000000000'), false);
});

test('200k random ids across many resizes agree with a Set of strings', () => {
  const ids = new IdSet();
  const reference = new Set<string>();
  const seen: string[] = [];
  for (let i = 0; i < 200_000; i++) {
    // Every 5th id repeats an earlier one, so duplicates are hit throughout the growth.
    const id = i % 5 === 4 ? seen[Math.floor(Math.random() * seen.length)]! : randomBytes(8).toString('hex');
    seen.push(id);
    assert.equal(ids.add(id), !reference.has(id));
    reference.add(id);
  }
  assert.equal(ids.size, reference.size);
  for (const id of reference) assert.equal(ids.has(id), true);
  for (let i = 0; i < 50_000; i++) {
    const id = randomBytes(8).toString('hex');
    assert.equal(ids.has(id), reference.has(id));
  }
});

test('ids that share low bits (the probe start) still stay apart', () => {
  const ids = new IdSet();
  for (let high = 0; high < 5_000; high++) assert.equal(ids.add(`${high.toString(16).padStart(8, '0')}00000000`), true);
  assert.equal(ids.size, 5_000);
  for (let high = 0; high < 5_000; high++) assert.equal(ids.has(`${high.toString(16).padStart(8, '0')}00000000`), true);
  assert.equal(ids.has('0000138800000000'), false); // 5000 itself was never added
});

test('short id tails are accepted as they come', () => {
  const ids = new IdSet();
  const id = shortId('sft-', 'run-1', 'abc');
  assert.equal(ids.add(id.slice('sft-'.length)), true);
  assert.equal(ids.has('e6d9bcc3794e8ef4'), true);
});

test('anything but 16 lowercase hex digits is refused', () => {
  const ids = new IdSet();
  for (const bad of ['', '0123456789abcde', '0123456789abcdef0', '0123456789ABCDEF', '0123456789abcdeg', '-000000000000001', '+000000000000001', ' 123456789abcdef', '0x23456789abcdef', '0123456789abcd\u0660f']) {
    assert.throws(() => ids.add(bad), RangeError, bad);
    assert.throws(() => ids.has(bad), RangeError, bad);
  }
  assert.equal(ids.size, 0);
});

test('an id given as its two 32-bit halves is the same member as its hex digits', () => {
  const ids = new IdSet();
  assert.equal(ids.addKey(0xe6d9bcc3, 0x794e8ef4), true);
  assert.equal(ids.has('e6d9bcc3794e8ef4'), true);
  assert.equal(ids.add('e6d9bcc3794e8ef4'), false);
  assert.equal(ids.add('ffffffff00000000'), true);
  assert.equal(ids.hasKey(0xffffffff, 0), true);
  assert.equal(ids.addKey(0xffffffff, 0), false);
  assert.equal(ids.hasKey(0, 0xffffffff), false);
  assert.equal(ids.size, 2);
});

test('a set made for an expected count holds that many ids, and more past it', () => {
  const ids = new IdSet(30_000);
  const added: string[] = [];
  for (let i = 0; i < 40_000; i++) {
    const id = randomBytes(8).toString('hex');
    added.push(id);
    assert.equal(ids.add(id), true);
  }
  assert.equal(ids.size, 40_000);
  for (const id of added) assert.equal(ids.add(id), false);
});

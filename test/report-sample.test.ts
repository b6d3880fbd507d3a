import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Hex } from '../src/core/canonical.js';
import { SAMPLE_SIZE, SmallestHashSample } from '../src/core/sample.js';

const records = (n: number): Array<[id: string, value: number]> => Array.from({ length: n }, (_, i) => [`run-${i}`, i]);

/** Deterministic Fisher–Yates with an LCG. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function sampleOf(items: ReadonlyArray<[string, number]>, capacity?: number): SmallestHashSample {
  const sample = new SmallestHashSample(capacity);
  for (const [id, value] of items) sample.add(id, value);
  return sample;
}

test('keeps the values of the records with the smallest sha256(id), ordered by hash', () => {
  const items = records(500);
  const expected = [...items]
    .map(([id, value]) => ({ hash: sha256Hex(id), value }))
    .sort((a, b) => (a.hash < b.hash ? -1 : 1))
    .slice(0, 50)
    .map((entry) => entry.value);
  assert.deepEqual(sampleOf(items, 50).values(), expected);
});

test('order-free: shuffled inputs give the same values', () => {
  const items = records(3000);
  const reference = sampleOf(items, 200).values();
  for (const seed of [1, 2, 3]) assert.deepEqual(sampleOf(shuffled(items, seed), 200).values(), reference);
});

test('mergeable: 3 shards merged equal one pass', () => {
  const items = shuffled(records(25_000), 9);
  const reference = sampleOf(items).values();
  const shards = [0, 1, 2].map((k) => sampleOf(items.filter((_, i) => i % 3 === k)));
  const merged = new SmallestHashSample();
  for (const shard of shards) merged.merge(shard);
  assert.deepEqual(merged.values(), reference);
  // Merging into a shard works too, and leaves the merged-in shard as it was.
  const before = shards[2]!.values();
  shards[0]!.merge(shards[1]!);
  shards[0]!.merge(shards[2]!);
  assert.deepEqual(shards[0]!.values(), reference);
  assert.deepEqual(shards[2]!.values(), before);
});

test('bounded at 10,000 values', () => {
  assert.equal(SAMPLE_SIZE, 10_000);
  const sample = sampleOf(records(25_000));
  assert.equal(sample.values().length, SAMPLE_SIZE);
  assert.equal(sampleOf(records(7)).values().length, 7);
  assert.deepEqual(new SmallestHashSample().values(), []);
});

test('a repeated id is another record, and ties never depend on arrival order', () => {
  const forward = sampleOf([['a', 2], ['a', 1], ['b', 3]], 2).values();
  const backward = sampleOf([['b', 3], ['a', 1], ['a', 2]], 2).values();
  assert.deepEqual(forward, backward);
  assert.deepEqual(forward, [3, 1]); // sha256("b") = 3e23… < sha256("a") = ca97…; (a, 1) < (a, 2)
});

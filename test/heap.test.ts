import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { Heap } from '../src/core/heap.js';
import { mergeSorted } from '../src/io/external-sort.js';

test('a heap gives its items back in order, whatever the pushes, pops and replacements in between', () => {
  const random = mulberry32(7);
  for (let round = 0; round < 200; round++) {
    const heap = new Heap<number>((a, b) => a < b);
    const model: number[] = [];
    for (let step = 0; step < 60; step++) {
      const value = Math.floor(random() * 20);
      const action = random();
      if (action < 0.55 || model.length === 0) {
        heap.push(value);
        model.push(value);
      } else if (action < 0.8) {
        model.sort((a, b) => a - b);
        assert.equal(heap.pop(), model.shift());
      } else {
        model.sort((a, b) => a - b);
        assert.equal(heap.top(), model[0]);
        heap.replaceTop(value);
        model[0] = value;
      }
      assert.equal(heap.size, model.length);
    }
    const drained: number[] = [];
    while (heap.size > 0) drained.push(heap.pop()!);
    assert.deepEqual(drained, model.sort((a, b) => a - b));
    assert.equal(heap.pop(), undefined);
  }
});

test('a k-way merge keeps the order and gives ties to the earlier sequence, for any number of sequences', async () => {
  const random = mulberry32(11);
  for (const k of [0, 1, 2, 3, 17, 64]) {
    const sequences = Array.from({ length: k }, (_, source) =>
      Array.from({ length: Math.floor(random() * 30) }, () => Math.floor(random() * 10))
        .sort((a, b) => a - b)
        .map((key, n) => ({ key, source, n })),
    );
    async function* of<T>(items: T[]): AsyncGenerator<T, undefined> {
      yield* items;
      return undefined;
    }
    const merged: Array<{ key: number; source: number; n: number }> = [];
    for await (const item of mergeSorted(sequences.map(of), (a, b) => a.key - b.key)) merged.push(item);
    // A stable sort of the concatenation in sequence order is the one right answer.
    assert.deepEqual(merged, sequences.flat().sort((a, b) => a.key - b.key), `k = ${k}`);
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PSI_BUCKETS, PSI_EPSILON, psi } from '../src/report/psi.js';

/** A deterministic pseudo-random integer sequence (LCG), so failures reproduce. */
function lengths(n: number, seed: number, spread: number, offset = 0): number[] {
  const values: number[] = [];
  let state = seed;
  for (let i = 0; i < n; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values.push(offset + (state % spread));
  }
  return values;
}

test('identical samples → psi 0, stable, 10 buckets', () => {
  const sample = lengths(5000, 7, 4000);
  const result = psi(sample, [...sample].reverse());
  assert.equal(result.psi, 0);
  assert.equal(result.verdict, 'stable');
  assert.equal(result.buckets.length, PSI_BUCKETS);
});

test('a shifted distribution is major', () => {
  const result = psi(lengths(2000, 1, 100), lengths(2000, 2, 100, 50));
  assert.equal(result.verdict, 'major');
  assert.ok(result.psi >= 0.25, String(result.psi));
});

test('empty samples on either side are safe: psi 0, stable, no buckets', () => {
  for (const [prior, current] of [[[], [1, 2, 3]], [[1, 2, 3], []], [[], []]] as const) {
    assert.deepEqual(psi(prior, current), { psi: 0, verdict: 'stable', buckets: [] });
  }
});

test('all-equal values (max = min): 10 zero-width buckets, everything in the last, psi 0', () => {
  const result = psi([5, 5, 5], [5]);
  assert.equal(result.psi, 0);
  assert.equal(result.verdict, 'stable');
  assert.equal(result.buckets.length, PSI_BUCKETS);
  for (const [i, bucket] of result.buckets.entries()) {
    const share = i === PSI_BUCKETS - 1 ? 1 : 0;
    assert.deepEqual(bucket, { lower: 5, upper: 5, prior: share, current: share });
  }
});

test('bucket proportions sum to 1 per side (before clamping) and counts are conserved', () => {
  const prior = lengths(997, 3, 5000);
  const current = lengths(1234, 4, 7000, 100);
  const { buckets } = psi(prior, current);
  for (const [side, n] of [['prior', prior.length], ['current', current.length]] as const) {
    const shares = buckets.map((bucket) => bucket[side]);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-12, side);
    const counts = shares.map((share) => Math.round(share * n));
    for (const [i, count] of counts.entries()) assert.ok(Math.abs(count - shares[i]! * n) < 1e-9, `${side} bucket ${i} is a whole count`);
    assert.equal(counts.reduce((a, b) => a + b, 0), n);
  }
});

test('bounds: equal widths over the combined min/max, the max in the last bucket', () => {
  const { buckets } = psi([0, 3], [10]);
  assert.deepEqual(
    buckets.map((b) => [b.lower, b.upper]),
    [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10]],
  );
  assert.equal(buckets[3]!.prior, 0.5); // 3 is a lower bound: bucket 3, not 2
  assert.equal(buckets[9]!.current, 1);
  // Decimal boundaries: 0.3 of [0, 1] goes to bucket 3 (0.3 / 0.1 would say 2.9999999999999996).
  assert.equal(psi([0, 0.3], [1]).buckets[3]!.prior, 0.5);
});

test('a hand-computed example, with an empty bucket clamped to ε and no renormalising', () => {
  // Width 1 over [0, 10]. prior: 0,0,5,10 → b0 .5, b5 .25, b9 .25; current: 0,5,5,10 → b0 .25, b5 .5, b9 .25.
  // PSI = (.25 − .5)·ln(.25/.5) + (.5 − .25)·ln(.5/.25) = 0.5·ln 2.
  const shifted = psi([0, 0, 5, 10], [0, 5, 5, 10]);
  assert.ok(Math.abs(shifted.psi - 0.5 * Math.LN2) < 1e-15);
  assert.equal(shifted.verdict, 'major');
  assert.deepEqual(
    shifted.buckets.map((b) => [b.prior, b.current]),
    [[0.5, 0.25], [0, 0], [0, 0], [0, 0], [0, 0], [0.25, 0.5], [0, 0], [0, 0], [0, 0], [0.25, 0.25]],
  );
  // current leaves b9 empty: it counts as ε, and b0 keeps its 1 (no renormalising).
  const clamped = psi([0, 10], [0, 0]);
  const expected = (1 - 0.5) * Math.log(1 / 0.5) + (PSI_EPSILON - 0.5) * Math.log(PSI_EPSILON / 0.5);
  assert.ok(Math.abs(clamped.psi - expected) < 1e-12, `${clamped.psi} vs ${expected}`);
  assert.equal(clamped.buckets[9]!.current, 0); // reported before the clamp
});

test('verdict thresholds: stable < 0.10 ≤ minor < 0.25 ≤ major', () => {
  // Moving m of 100 values from b0 to b9 (prior: half in each).
  const sides = (moved: number): [number[], number[]] => {
    const prior = [...new Array<number>(50).fill(0), ...new Array<number>(50).fill(10)];
    const current = [...new Array<number>(50 - moved).fill(0), ...new Array<number>(50 + moved).fill(10)];
    return [prior, current];
  };
  const verdicts = [0, 15, 16, 23, 24].map((moved) => psi(...sides(moved)));
  assert.deepEqual(
    verdicts.map((r) => r.verdict),
    ['stable', 'stable', 'minor', 'minor', 'major'], // psi 0, 0.093, 0.106, 0.229, 0.251
  );
});

import type { PsiBucket, PsiVerdict } from '../receipts.js';

export const PSI_BUCKETS = 10;
/** Stands in for the proportion of an empty bucket so ln(c/p) stays finite (docs/receipts.md). */
export const PSI_EPSILON = 1e-4;
const MINOR_FROM = 0.1;
const MAJOR_FROM = 0.25;

export interface PsiResult {
  psi: number;
  verdict: PsiVerdict;
  buckets: PsiBucket[];
}

function psiVerdict(psi: number): PsiVerdict {
  return psi < MINOR_FROM ? 'stable' : psi < MAJOR_FROM ? 'minor' : 'major';
}

/** Each bucket's share of the values; `index` maps a value to its bucket. */
function proportions(values: readonly number[], index: (value: number) => number): number[] {
  const counts = new Array<number>(PSI_BUCKETS).fill(0);
  for (const value of values) counts[index(value)]!++;
  return counts.map((count) => count / values.length);
}

/**
 * Population Stability Index of two samples (docs/receipts.md): 10 equal-width buckets over the combined
 * min/max, PSI = Σ (c − p)·ln(c/p) over the proportions, an empty bucket's proportion clamped to
 * ε = 1e-4 with no renormalising. `buckets` report the proportions before the clamp.
 *
 * Bucket i holds the values v with i ≤ 10·(v − min)/(max − min) < i + 1, the max in the last one.
 * The index is ⌊(v − min)·10 / (max − min)⌋ rather than ⌊(v − min) / width⌋, whose rounded width
 * can push a value on a reported lower bound down a bucket: 0.3 in [0, 1] belongs to bucket 3
 * (lower 0.3), but 0.3 / 0.1 = 2.9999999999999996. For integer values the two agree.
 *
 * Degenerate cases are safe, psi 0 and stable: either sample empty → no buckets (no range to cut);
 * all values equal (max = min) → 10 buckets of width 0 at that value with everything in the last,
 * which is where "the max in the last bucket" puts it.
 */
export function psi(prior: readonly number[], current: readonly number[]): PsiResult {
  if (prior.length === 0 || current.length === 0) return { psi: 0, verdict: 'stable', buckets: [] };
  let min = Infinity;
  let max = -Infinity;
  for (const sample of [prior, current]) {
    for (const value of sample) {
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  const range = max - min;
  const last = PSI_BUCKETS - 1;
  // Rounding can put a value just under the max at index 10: it belongs to the last bucket too.
  const index = (value: number): number => (value === max ? last : Math.min(last, Math.floor(((value - min) * PSI_BUCKETS) / range)));
  const p = proportions(prior, index);
  const c = proportions(current, index);
  const buckets: PsiBucket[] = [];
  let sum = 0;
  for (let i = 0; i < PSI_BUCKETS; i++) {
    const pi = p[i]!;
    const ci = c[i]!;
    buckets.push({
      lower: min + (range * i) / PSI_BUCKETS,
      upper: i === last ? max : min + (range * (i + 1)) / PSI_BUCKETS,
      prior: pi,
      current: ci,
    });
    const pc = pi === 0 ? PSI_EPSILON : pi;
    const cc = ci === 0 ? PSI_EPSILON : ci;
    sum += (cc - pc) * Math.log(cc / pc);
  }
  return { psi: sum, verdict: psiVerdict(sum), buckets };
}

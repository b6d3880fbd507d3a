import { sha256Head } from './canonical.js';
import { usageError } from '../errors.js';

/** One split of `--split`: its name (in file names and receipts) and the share of samples it takes. */
export interface SplitRule {
  name: string;
  fraction: number;
}

const SPLIT_NAME = /^[a-z][a-z0-9_]*$/;
/** Fractions are written with a few digits: their sum may miss 1 by rounding, never by more. */
const SUM_TOLERANCE = 1e-9;
const TWO_TO_32 = 2 ** 32;

/** `train=0.98,validation=0.02` → the splits in the order given; the fractions must add up to 1. */
export function parseSplits(text: string): SplitRule[] {
  const rules = text.split(',').map((part): SplitRule => {
    const match = /^([^=]+)=(.+)$/.exec(part.trim());
    const name = match?.[1]!.trim() ?? '';
    const fraction = Number(match?.[2]);
    if (match === null || !SPLIT_NAME.test(name)) throw usageError(`--split '${text}': each split is NAME=FRACTION with a lower-case name (a-z, 0-9, _), e.g. train=0.98,validation=0.02`);
    if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) throw usageError(`--split '${text}': the fraction of ${name} must be a number above 0 and at most 1`);
    return { name, fraction };
  });
  const names = rules.map((rule) => rule.name);
  if (new Set(names).size !== names.length) throw usageError(`--split '${text}': a split is named twice`);
  const sum = rules.reduce((total, rule) => total + rule.fraction, 0);
  if (Math.abs(sum - 1) > SUM_TOLERANCE) throw usageError(`--split '${text}': the fractions add up to ${sum}, not 1`);
  return rules;
}

/**
 * The split a sample goes to, from its id alone — so the same sample lands in the same split on
 * every rerun, shard and format: the first 8 bytes of sha256(id) read as a fraction of 2^64 fall in
 * one split's share, the splits laid end to end in the order given.
 */
export function splitChooser(rules: readonly SplitRule[]): (id: string) => string {
  const bounds: number[] = [];
  let upper = 0;
  for (const rule of rules) bounds.push((upper += rule.fraction));
  const last = rules.length - 1;
  return (id) => {
    const [high, low] = sha256Head(id);
    const position = (high * TWO_TO_32 + low) / TWO_TO_32 / TWO_TO_32;
    for (let n = 0; n < last; n++) if (position < bounds[n]!) return rules[n]!.name;
    return rules[last]!.name;
  };
}

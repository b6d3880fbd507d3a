import { createHash } from 'node:crypto';

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * RFC 8785 (JCS) text of a parsed JSON value, written by a serialiser: keys sorted by UTF-16 code
 * units at every level, no whitespace, numbers and strings as JSON.stringify writes them. Objects are
 * never rebuilt, so integer-like keys ("10", "2") and "__proto__" keep their place and their value.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort(); // default sort compares UTF-16 code units
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`;
  }
  return `${out}}`;
}

/** Lowercase hex sha256 of the canonical JSON (SPEC §0); `1.0` and `1` hash the same. */
export const canonicalHash = (value: unknown): string => sha256Hex(canonicalJson(value));

import { sha256Head, sha256Hex } from './canonical.js';

/** Hex digits of a short id after its prefix. */
export const SHORT_ID_HEX = 16;

/** `<prefix>` + the first 16 hex of sha256 of the UTF-8 of `"<a>|<b>"` (docs/records.md). */
export function shortId(prefix: string, a: string, b: string): string {
  return prefix + sha256Hex(`${a}|${b}`).slice(0, SHORT_ID_HEX);
}

/**
 * Run ids are keyed by the first 8 bytes of sha256 of their UTF-16 code units, not of their UTF-8,
 * which would fold every lone surrogate into U+FFFD and make distinct ids such as "a\ud800" and
 * "a\udc00" collide. Collect's taken ids, the shards' duplicate keys and the evidence index all key
 * run ids so. The units are written into one reused buffer: a Buffer.from per id cost more than
 * its hash.
 */
let units = Buffer.allocUnsafeSlow(1024);

function unitsOf(runId: string): Buffer {
  if (runId.length * 2 > units.length) units = Buffer.allocUnsafeSlow(runId.length * 4);
  return units.subarray(0, units.write(runId, 'utf16le'));
}

/** A run_id's key as its high and low 32 bits (unsigned). */
export const runIdKey = (runId: string): [high: number, low: number] => sha256Head(unitsOf(runId));

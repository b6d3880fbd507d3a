import { sha256Bytes, sha256Hex } from './canonical.js';

/** Hex digits of a short id after its prefix. */
export const SHORT_ID_HEX = 16;

/** `<prefix>` + the first 16 hex of sha256 of the UTF-8 of `"<a>|<b>"` (docs/records.md). */
export function shortId(prefix: string, a: string, b: string): string {
  return prefix + sha256Hex(`${a}|${b}`).slice(0, SHORT_ID_HEX);
}

/**
 * The 64-bit key of a run_id: the first 8 bytes of sha256 of its UTF-16 code units, not of its
 * UTF-8, which would fold every lone surrogate into U+FFFD and make distinct ids such as "a\ud800"
 * and "a\udc00" collide. Collect's taken ids, the shards' duplicate keys and the evidence index
 * all key run ids by it.
 */
export function runIdKey(runId: string): { high: number; low: number; hex: string } {
  const digest = sha256Bytes(Buffer.from(runId, 'utf16le'));
  return { high: digest.readUInt32BE(0), low: digest.readUInt32BE(4), hex: digest.toString('hex', 0, 8) };
}

import { sha256Hex } from './canonical.js';

/** Hex digits of a short id after its prefix. */
export const SHORT_ID_HEX = 16;

/** `<prefix>` + the first 16 hex of sha256 of the UTF-8 of `"<a>|<b>"` (docs/records.md). */
export function shortId(prefix: string, a: string, b: string): string {
  return prefix + sha256Hex(`${a}|${b}`).slice(0, SHORT_ID_HEX);
}

import { isUtf8 } from 'node:buffer';
import { BACKSLASH, EMBEDDING_CODE_POINTS, QUOTE, TITLE_CODE_POINTS, type TextFacts } from './evidence-text.js';
import { cutCodePoints } from './text.js';

/** The unit each short escape letter stands for (JSON.stringify's short forms); -1 for none. */
const SHORT_ESCAPE = new Int16Array(128).fill(-1);
for (const [letter, unit] of [['b', 0x08], ['f', 0x0c], ['n', 0x0a], ['r', 0x0d], ['t', 0x09], ['"', 0x22], ['\\', 0x5c]] as const) SHORT_ESCAPE[letter.charCodeAt(0)] = unit;
const hasShortForm = (unit: number): boolean => unit === 0x08 || unit === 0x09 || unit === 0x0a || unit === 0x0c || unit === 0x0d;

/** Lowercase hex digit values (JSON.stringify writes lowercase); -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX['0123456789abcdef'.charCodeAt(digit)] = digit;

/** The code unit (or byte) at an index of a string (or a line's bytes); NaN or -1 past the end. Escapes are ASCII, so either serves. */
type UnitAt = (index: number) => number;

function hex4(unitAt: UnitAt, at: number): number {
  let value = 0;
  for (let i = at; i < at + 4; i++) {
    const code = unitAt(i);
    const digit = code >= 0 && code < 128 ? HEX[code]! : -1;
    if (digit < 0) return -1;
    value = (value << 4) | digit;
  }
  return value;
}

/** A character that is not white space to String.prototype.trim (JavaScript's \s is the same set). */
const NOT_SPACE = /\S/g;
const SPACE = /\s/;

const unitsOf =
  (raw: string): UnitAt =>
  (index) =>
    raw.charCodeAt(index);

interface Escape {
  unit: number;
  width: number;
}

/** The escape starting at `at` (a backslash) when it is spelled as JSON.stringify spells it; undefined otherwise. */
function escapeAt(unitAt: UnitAt, at: number): Escape | undefined {
  const letter = unitAt(at + 1);
  const short = letter >= 0 && letter < 128 ? SHORT_ESCAPE[letter]! : -1;
  if (short >= 0) return { unit: short, width: 2 };
  if (letter !== 0x75) return undefined; // "\/" or any spelling JSON.stringify never writes
  const unit = hex4(unitAt, at + 2);
  // JSON.stringify writes \u only for control units without a short form, and for lone surrogates.
  const lone = unit >= 0xd800 && unit <= 0xdfff;
  if (unit < 0 || (!(unit < 0x20 && !hasShortForm(unit)) && !lone)) return undefined;
  if (unit <= 0xdbff && lone && unitAt(at + 6) === BACKSLASH && unitAt(at + 7) === 0x75) {
    const low = hex4(unitAt, at + 8);
    if (low >= 0xdc00 && low <= 0xdfff) return undefined; // a pair escaped: JSON.stringify writes pairs raw
  }
  return { unit, width: 6 };
}

/** Whether a backslash at `at` begins an escape: an even run of backslashes before it. */
function beginsEscape(raw: string, at: number): boolean {
  let before = 0;
  while (at - 1 - before >= 0 && raw.charCodeAt(at - 1 - before) === BACKSLASH) before++;
  return before % 2 === 0;
}

/** The index of the nearest "\n" escape after `from` (forward) or before it (backward), -1 when none. */
function newlineEscape(raw: string, from: number, forward: boolean): number {
  let at = forward ? raw.indexOf('\\n', from) : raw.lastIndexOf('\\n', from);
  while (at !== -1 && !beginsEscape(raw, at)) at = forward ? raw.indexOf('\\n', at + 1) : at === 0 ? -1 : raw.lastIndexOf('\\n', at - 1);
  return at;
}

/**
 * Bytes of a literal decoded to find its title: the first line of most texts ends within them, or
 * holds its 120 code points there. Decoding the whole literal for it was the build's largest cost
 * (a UTF-8 decode of the generated evidence's texts ran at 240-280 MB/s, the byte walk below at 360-410 MB/s).
 */
const HEADLINE_BYTES = 512;

/**
 * The facts of a text read from its JSON literal (`start` at the opening quote, `end` just past the
 * closing one) when its bytes are exactly what JSON.stringify writes — valid UTF-8, escapes only
 * where and as it writes them — and undefined otherwise (the caller then decodes the text). One
 * walk over the bytes, from character to character, counts the UTF-16 units and finds the embedding
 * cut; only the literal's first bytes are decoded, for its title, unless the title lies further on.
 */
export function literalFacts(line: Buffer, start: number, end: number): TextFacts | undefined {
  const last = end - 1;
  if (last <= start || line[start] !== QUOTE || line[last] !== QUOTE) return undefined;
  if (!isUtf8(line.subarray(start + 1, last))) return undefined;
  const walked = walkLiteral(line, start + 1, last);
  if (walked === undefined) return undefined;
  const cut = headlineCut(line, start + 1, last);
  const headline = headlineOf(line.toString('utf8', start + 1, cut), cut === last) ?? headlineOf(line.toString('utf8', start + 1, last), true)!;
  return { units: walked.units, ...headline, embeddingPrefix: walked.embeddingPrefix };
}

/**
 * The UTF-16 length of a literal's text and its embedding cut (bytes of the literal, its opening
 * quote included, that hold the first 2000 code points; 0 when it has no more), from its bytes
 * [from, to) — valid UTF-8, so a lead byte gives its character's width. Undefined for a raw control
 * character or an escape JSON.stringify does not write.
 */
function walkLiteral(line: Buffer, from: number, to: number): { units: number; embeddingPrefix: number } | undefined {
  const byteAt: UnitAt = (index) => (index < to ? line[index]! : -1);
  let units = 0;
  let points = 0;
  let cutAt = -1;
  for (let at = from; at < to; ) {
    const byte = line[at]!;
    if (byte >= 0x20 && byte < 0x80 && byte !== BACKSLASH) {
      // A run of plain ASCII, a unit and a code point a byte: walked in a tight loop, which made the walk 1.7x faster on generated evidence.
      let runEnd = at + 1;
      for (let next = line[runEnd]; runEnd < to && next! >= 0x20 && next! < 0x80 && next !== BACKSLASH; next = line[++runEnd]);
      const run = runEnd - at;
      if (cutAt === -1 && points + run >= EMBEDDING_CODE_POINTS) cutAt = at + EMBEDDING_CODE_POINTS - points;
      units += run;
      points += run;
      at = runEnd;
      continue;
    }
    if (byte < 0x20) return undefined; // a raw control character
    if (byte === BACKSLASH) {
      const escape = escapeAt(byteAt, at);
      if (escape === undefined) return undefined;
      at += escape.width;
      units++;
    } else if (byte >= 0xf0) {
      at += 4; // a code point past U+FFFF: a surrogate pair
      units += 2;
    } else {
      at += byte >= 0xe0 ? 3 : 2;
      units++;
    }
    if (++points === EMBEDDING_CODE_POINTS) cutAt = at;
  }
  return { units, embeddingPrefix: cutAt !== -1 && cutAt < to ? cutAt - from + 1 : 0 };
}

/**
 * Where the decoded head of a literal [from, to) ends: HEADLINE_BYTES in, moved back to the start of
 * a character and then before any run of backslashes that may begin an escape it would cut; `to`
 * when the literal is no longer.
 */
function headlineCut(line: Buffer, from: number, to: number): number {
  if (to - from <= HEADLINE_BYTES) return to;
  let cut = from + HEADLINE_BYTES;
  while ((line[cut]! & 0xc0) === 0x80) cut--;
  // An escape is at most 6 bytes: one that reaches past the cut begins in the 5 before it.
  const backslash = line.lastIndexOf(BACKSLASH, cut - 1);
  if (backslash >= cut - 5) {
    cut = backslash;
    while (line[cut - 1] === BACKSLASH) cut--;
  }
  return cut;
}

/**
 * Whether a literal's text is blank, and its title, from `raw` (its characters, escapes as written):
 * the whole literal when `whole`, else a head of it cut between characters and escapes; undefined
 * when the head does not hold them (white space to its end, or a first line that goes on past it in
 * fewer than 121 code points).
 */
function headlineOf(raw: string, whole: boolean): { blank: boolean; title: string } | undefined {
  const first = firstKept(raw);
  if (first < 0) return whole ? { blank: true, title: '' } : undefined;
  // Everything before `first` is white space, so its line is the first non-blank one.
  const before = first === 0 ? -1 : newlineEscape(raw, first - 1, false);
  const lineStart = before < 0 ? 0 : before + 2;
  const after = newlineEscape(raw, first, true);
  if (after >= 0 || whole) return { blank: false, title: titleOf(raw, lineStart, after < 0 ? raw.length : after, after >= 0) };
  // The line goes on past the head: its first 120 code points are the title once the head holds more.
  const head = JSON.parse(`"${raw.slice(lineStart)}"`) as string;
  const title = cutCodePoints(head, TITLE_CODE_POINTS);
  return title.length < head.length ? { blank: false, title } : undefined;
}

/**
 * Whether a string literal of a line JSON.parse accepted (`start` at its opening quote, `end` just
 * past the closing one) is byte for byte what JSON.stringify writes for its value: valid UTF-8 and
 * escapes only where and as it writes them (the parse already ruled out raw control characters).
 * Read from the bytes with native searches, never decoded.
 */
export function isStringifiedLiteral(line: Buffer, start: number, end: number): boolean {
  const last = end - 1;
  if (!isUtf8(line.subarray(start + 1, last))) return false;
  const unitAt: UnitAt = (index) => line[index] ?? -1;
  for (let at = line.indexOf(BACKSLASH, start + 1); at !== -1 && at < last; ) {
    const escape = escapeAt(unitAt, at);
    if (escape === undefined) return false;
    at = line.indexOf(BACKSLASH, at + escape.width);
  }
  return true;
}

/** The raw index of the first character trim keeps, skipping escapes of white space; -1 when there is none. */
function firstKept(raw: string): number {
  const unitAt = unitsOf(raw);
  NOT_SPACE.lastIndex = 0;
  for (let found = NOT_SPACE.exec(raw); found !== null; found = NOT_SPACE.exec(raw)) {
    if (raw.charCodeAt(found.index) !== BACKSLASH) return found.index;
    const escape = escapeAt(unitAt, found.index)!;
    if (!SPACE.test(String.fromCharCode(escape.unit))) return found.index;
    NOT_SPACE.lastIndex = found.index + escape.width;
  }
  return -1;
}

/** The title from its line's raw text: decoded, a "\r" before the line's "\n" dropped, cut to 120 code points. */
function titleOf(raw: string, start: number, end: number, endsAtNewline: boolean): string {
  const text = JSON.parse(`"${raw.slice(start, end)}"`) as string;
  return cutCodePoints(endsAtNewline && text.endsWith('\r') ? text.slice(0, -1) : text, TITLE_CODE_POINTS);
}

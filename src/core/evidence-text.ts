import type { EvidenceText } from '../records.js';
import { cutCodePoints, firstNonBlankLine, isBlank } from './text.js';

/** The RAG title: the first non-blank line, cut to this many code points. */
export const TITLE_CODE_POINTS = 120;
/** The RAG embedding_text: the text cut to this many code points. */
export const EMBEDDING_CODE_POINTS = 2000;

/** What the exports need of a text besides its bytes (see EvidenceText). */
export type TextFacts = Omit<EvidenceText, 'json'>;

const encoder = new TextEncoder();
/** JSON's string delimiter and escape, as bytes. */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;

/**
 * The facts of `text`. embedding_text is the text cut to 2000 code points; the cut never splits a
 * surrogate pair, so its JSON is a prefix of the whole text's JSON plus a closing quote (each UTF-16
 * unit is escaped on its own, and a lone surrogate stays lone in both).
 */
export function textFacts(text: string): TextFacts {
  const cut = cutCodePoints(text, EMBEDDING_CODE_POINTS);
  return {
    units: text.length,
    blank: isBlank(text),
    title: cutCodePoints(firstNonBlankLine(text), TITLE_CODE_POINTS),
    embeddingPrefix: cut.length === text.length ? 0 : encoder.encode(JSON.stringify(cut)).length - 1,
  };
}

/** The JSON bytes of embedding_text: the text's JSON cut at `embeddingPrefix`, closed again. */
export function embeddingJson(text: EvidenceText): Uint8Array {
  if (text.embeddingPrefix === 0) return text.json;
  const json = new Uint8Array(text.embeddingPrefix + 1);
  json.set(text.json.subarray(0, text.embeddingPrefix));
  json[text.embeddingPrefix] = QUOTE;
  return json;
}

/** The text as JSON.stringify writes it, in UTF-8. */
export const textJson = (text: string): Uint8Array => encoder.encode(JSON.stringify(text));

/** An EvidenceText of a decoded string (tests, and rows whose bytes cannot be written as they are). */
export function evidenceText(text: string): EvidenceText {
  return { ...textFacts(text), json: textJson(text) };
}

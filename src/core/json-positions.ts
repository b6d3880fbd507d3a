/**
 * Where each value and key of a JSON text stands, by JSON pointer (RFC 6901), so that a problem found
 * in the parsed value can name its line and column. A validating scanner of RFC 8259 JSON: on text
 * that JSON.parse refuses it names the first offending character. Meant for small configuration
 * files: it recurses, and refuses nesting deeper than MAX_DEPTH instead of running out of stack.
 */

export interface TextPosition {
  /** 1-based line; lines end at "\n". */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
}

export type JsonScan =
  | {
      ok: true;
      /** Where each value starts. */
      values: ReadonlyMap<string, TextPosition>;
      /** Where each object member's key starts. */
      keys: ReadonlyMap<string, TextPosition>;
      /** Keys written twice in one object (JSON.parse keeps the last), at the later key. */
      duplicates: readonly { pointer: string; position: TextPosition }[];
    }
  | { ok: false; position: TextPosition; message: string };

export const MAX_DEPTH = 64;

/** A JSON pointer's reference token (RFC 6901 §3): `~` → `~0`, `/` → `~1`. */
export const pointerToken = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

class ScanError {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

export function scanJson(text: string): JsonScan {
  const lineStarts = [0];
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lineStarts.push(at + 1);
  const positionOf = (offset: number): TextPosition => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (lineStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - lineStarts[low]! + 1 };
  };
  const values = new Map<string, TextPosition>();
  const keys = new Map<string, TextPosition>();
  const duplicates: { pointer: string; position: TextPosition }[] = [];
  let at = 0;

  const describe = (offset: number): string => {
    if (offset >= text.length) return 'the file ends';
    const code = text.charCodeAt(offset);
    if (code === 0xfeff) return 'a byte-order mark (U+FEFF): save the file without one';
    if (code < 0x20 || code === 0x7f) return `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return `'${String.fromCodePoint(text.codePointAt(offset)!)}'`;
  };
  const fail = (offset: number, expected: string): never => {
    throw new ScanError(offset, `expected ${expected}, found ${describe(offset)}`);
  };
  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) at++;
      else return;
    }
  };

  /** A string token from `at` (an opening quote); returns the offset past the closing quote. */
  const scanString = (): number => {
    const start = at;
    at++;
    for (;;) {
      if (at >= text.length) throw new ScanError(start, 'a string is not closed');
      const c = text.charCodeAt(at);
      if (c === 0x22) return ++at;
      if (c < 0x20) fail(at, 'the string to go on (a control character must be escaped, e.g. \\n)');
      if (c === 0x5c) {
        const e = text[at + 1];
        if (e === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(at + 2, at + 6))) fail(at, 'four hex digits after \\u');
          at += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) at += 2;
        else fail(at + 1, 'an escape: one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX');
      } else at++;
    }
  };

  const scanNumber = (): void => {
    const match = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    match.lastIndex = at;
    const found = match.exec(text);
    if (found === null) fail(at, 'a value');
    at += found![0].length;
    const next = text[at];
    // "01", "1.", "1e" and "-" stop short of a complete number; what follows tells which.
    if (next !== undefined && /[0-9.eE+-]/.test(next)) fail(at, "',', ']', '}' or the end of the number");
  };

  const scanValue = (pointer: string, depth: number): void => {
    if (depth >= MAX_DEPTH) throw new ScanError(at, `values are nested deeper than ${MAX_DEPTH} levels`);
    skipSpace();
    values.set(pointer, positionOf(at));
    const c = text[at];
    if (c === '{') {
      at++;
      skipSpace();
      if (text[at] === '}') {
        at++;
        return;
      }
      const seen = new Set<string>();
      for (;;) {
        skipSpace();
        if (text[at] !== '"') fail(at, 'a property name in double quotes');
        const keyStart = at;
        const keyEnd = scanString();
        const key = JSON.parse(text.slice(keyStart, keyEnd)) as string;
        const member = `${pointer}/${pointerToken(key)}`;
        if (seen.has(key)) duplicates.push({ pointer: member, position: positionOf(keyStart) });
        seen.add(key);
        keys.set(member, positionOf(keyStart));
        skipSpace();
        if (text[at] !== ':') fail(at, "':' after the property name");
        at++;
        scanValue(member, depth + 1);
        skipSpace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === '}') {
          at++;
          return;
        }
        fail(at, "',' or '}'");
      }
    }
    if (c === '[') {
      at++;
      skipSpace();
      if (text[at] === ']') {
        at++;
        return;
      }
      for (let index = 0; ; index++) {
        scanValue(`${pointer}/${index}`, depth + 1);
        skipSpace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === ']') {
          at++;
          return;
        }
        fail(at, "',' or ']'");
      }
    }
    if (c === '"') {
      scanString();
      return;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, at)) {
        at += literal.length;
        return;
      }
    }
    scanNumber();
  };

  try {
    scanValue('', 0);
    skipSpace();
    if (at < text.length) fail(at, 'the end of the file after the value');
  } catch (error) {
    if (error instanceof ScanError) return { ok: false, position: positionOf(error.offset), message: error.message };
    throw error;
  }
  return { ok: true, values, keys, duplicates };
}

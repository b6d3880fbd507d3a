/**
 * The text templates of a rules file (docs/rules.md): reasons and instructions with slots.
 *
 *   {name}          the value of `name`
 *   {name#prefix}   the value of `name` without one leading `prefix` (as the shell's ${name#prefix})
 *   {#name}         the number of items of `name` (as the shell's ${#name}); reasons only
 *   {{  }}          a literal brace
 *
 * A slot ends at the first `}`, so a prefix cannot hold a brace.
 */

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'value'; name: string; strip: string | undefined }
  | { kind: 'count'; name: string };

export type ParsedTemplate = { ok: true; parts: TemplatePart[] } | { ok: false; message: string };

export function parseTemplate(template: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  let text = '';
  let at = 0;
  while (at < template.length) {
    const char = template[at]!;
    if (char === '}') {
      if (template[at + 1] !== '}') return { ok: false, message: `a lone '}' at character ${at + 1}: write '}}' for a literal brace` };
      text += '}';
      at += 2;
      continue;
    }
    if (char !== '{') {
      text += char;
      at++;
      continue;
    }
    if (template[at + 1] === '{') {
      text += '{';
      at += 2;
      continue;
    }
    const close = template.indexOf('}', at + 1);
    if (close === -1) return { ok: false, message: `the slot opened at character ${at + 1} is not closed: write '{{' for a literal brace` };
    const slot = parseSlot(template.slice(at + 1, close));
    if (typeof slot === 'string') return { ok: false, message: `slot '{${template.slice(at + 1, close)}}': ${slot}` };
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
    parts.push(slot);
    at = close + 1;
  }
  if (text !== '') parts.push({ kind: 'text', text });
  return { ok: true, parts };
}

/** A slot's part, or why it is not one. */
function parseSlot(body: string): TemplatePart | string {
  if (body.includes('{')) return "a slot cannot hold '{'";
  if (body.startsWith('#')) {
    const name = body.slice(1);
    return name === '' ? 'names no value to count' : { kind: 'count', name };
  }
  const hash = body.indexOf('#');
  const name = hash === -1 ? body : body.slice(0, hash);
  if (name === '') return 'names no value';
  if (hash === -1) return { kind: 'value', name, strip: undefined };
  const strip = body.slice(hash + 1);
  return strip === '' ? `names no prefix to strip after '#'` : { kind: 'value', name, strip };
}

/** `value` without one leading `prefix`. */
export const withoutPrefix = (value: string, prefix: string): string => (value.startsWith(prefix) ? value.slice(prefix.length) : value);

/**
 * A template compiled into one function of its input, given how each slot reads the input. Text-only
 * templates become constants and short ones a single concatenation, so rendering allocates only the
 * result string.
 */
export function compileTemplate<T>(parts: readonly TemplatePart[], slot: (part: Exclude<TemplatePart, { kind: 'text' }>) => (input: T) => string): (input: T) => string {
  type Piece = string | ((input: T) => string);
  const pieces: Piece[] = parts.map((part) => (part.kind === 'text' ? part.text : slot(part)));
  if (pieces.every((piece) => typeof piece === 'string')) {
    const constant = pieces.join('');
    return () => constant;
  }
  const [first, second] = pieces;
  if (pieces.length === 1 && typeof first === 'function') return first;
  if (pieces.length === 2 && typeof first === 'string' && typeof second === 'function') return (input) => first + second(input);
  if (pieces.length === 2 && typeof first === 'function' && typeof second === 'string') return (input) => first(input) + second;
  return (input) => {
    let out = '';
    for (const piece of pieces) out += typeof piece === 'string' ? piece : piece(input);
    return out;
  };
}

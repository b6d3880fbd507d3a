/** Random JSON lines in the many spellings one row can take, for tests of code that reads a line's bytes without parsing all of it. */

const PIECES = ['plain', 'é中😀', '"quoted"', 'back\\slash', '\n', '\r\n', '\t', '\u2028', '\ud800', '\udfff', '\u0000', '   ', '{"text":"inner"}', '\\"', '\\u0041'];

/** A text of random pieces (escapes, surrogates, look-alike JSON), now and then past 2000 code points. */
export function randomText(random: () => number): string {
  let text = '';
  const n = Math.floor(random() * 8);
  for (let i = 0; i < n; i++) text += PIECES[Math.floor(random() * PIECES.length)]!;
  return random() < 0.1 ? 'x'.repeat(2100 + Math.floor(random() * 50)) + text : text;
}

/**
 * One object line of `fields` (key and value as JSON) whose member at `textAt` is the text, in a
 * random spelling: members shuffled, spaces around tokens, and now and then a second text key,
 * an escaped key that spells "text", a text that is not a string or is missing, a text escaped
 * other ways than JSON.stringify's, or damage (cut short, trailing bytes, a BOM, a stray token,
 * a byte that is not UTF-8).
 */
export function spelledLine(random: () => number, fields: Array<[string, string]>, textAt: number): Buffer {
  fields = [...fields];
  const [, textJson] = fields[textAt]!;
  const mutate = random();
  if (mutate < 0.05) fields.push(['"text"', JSON.stringify('a second text key')]);
  else if (mutate < 0.1) fields[textAt] = ['"te\\u0078t"', textJson];
  else if (mutate < 0.14) fields[textAt] = ['"text"', '42'];
  else if (mutate < 0.18) fields.splice(textAt, 1);
  else if (mutate < 0.22) fields[textAt] = ['"text"', textJson.replace(/a/g, '\\u0061').replace(/\//g, '\\/')];
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [fields[i], fields[j]] = [fields[j]!, fields[i]!];
  }
  const space = (): string => (random() < 0.2 ? ' \t'.slice(0, 1 + Math.floor(random() * 2)) : '');
  let line = `${space()}{${space()}${fields.map(([key, value]) => `${key}${space()}:${space()}${value}`).join(`${space()},${space()}`)}${space()}}${space()}`;
  const damage = random();
  if (damage < 0.04) line = line.slice(0, Math.floor(random() * line.length));
  else if (damage < 0.06) line += 'x';
  else if (damage < 0.08) line = `\ufeff${line}`;
  else if (damage < 0.1) line = line.replace('"text"', '"text" "x"');
  const bytes = Buffer.from(line);
  if (random() < 0.05) {
    const at = Math.floor(random() * bytes.length);
    return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at)]);
  }
  return bytes;
}

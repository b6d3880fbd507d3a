import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalHash, canonicalJson, canonicalJsonAround, jsonText, sha256Hex } from '../src/core/canonical.js';
import { mulberry32 } from '../data-fixtures/prng.js';

const canon = (jsonText: string): string => canonicalJson(JSON.parse(jsonText));

test('RFC 8785 §3.2.3: keys sort by UTF-16 code units (astral U+1F600 before U+FB33, after U+20AC)', () => {
  const input = '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}';
  const expected =
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
  assert.equal(canon(input), expected);
});

test('RFC 8785 §3.2.2: numbers, strings and literals as ECMAScript writes them', () => {
  const input = '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}';
  const expected = '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
  assert.equal(canon(input), expected);
});

test('integer-like keys sort as strings, not first as objects order them', () => {
  assert.equal(canon('{"10":1,"2":2,"a":3,"1":4}'), '{"1":4,"10":1,"2":2,"a":3}');
  assert.equal(canon('{"b":0,"4294967295":1,"-1":2,"01":3,"0":4}'), '{"-1":2,"0":4,"01":3,"4294967295":1,"b":0}');
});

test('"__proto__" from JSON.parse is an ordinary own key, kept with its value and sorted', () => {
  const value: unknown = JSON.parse('{"a":0,"__proto__":{"y":2,"x":1},"Z":[]}');
  assert.equal(canonicalJson(value), '{"Z":[],"__proto__":{"x":1,"y":2},"a":0}');
  assert.equal(canon('{"__proto__":null}'), '{"__proto__":null}');
});

test('nested arrays keep their order; objects inside sort at every level; empties stay empty', () => {
  assert.equal(canon(' { "z" : [ 3 , { "b" : [ ] , "a" : { } } , [ [ 2 , 1 ] ] ] , "y" : { "d" : { "f" : 1 , "e" : 2 } } } '), '{"y":{"d":{"e":2,"f":1}},"z":[3,{"a":{},"b":[]},[[2,1]]]}');
  assert.equal(canon('[]'), '[]');
  assert.equal(canon('{}'), '{}');
});

test('numbers as JSON.stringify writes them: 1.0 → 1, -0 → 0, 1e21, overflow → null', () => {
  assert.equal(canon('[1.0,1e21,1E+21,-0,0.0,100,1e-7,0.000001,5e-324,1.7976931348623157e308,1e400,-1e400,123456789012345678901]'), '[1,1e+21,1e+21,0,0,100,1e-7,0.000001,5e-324,1.7976931348623157e+308,null,null,123456789012345680000]');
  assert.equal(canonicalJson(0.1 + 0.2), '0.30000000000000004');
  assert.equal(canonicalJson(-0), '0');
  assert.equal(canonicalHash(JSON.parse('{"n":1.0}')), canonicalHash(JSON.parse('{"n":1}')));
});

test('strings as JSON.stringify writes them: U+2028 raw, lone surrogates and control chars escaped', () => {
  assert.equal(canonicalJson('a\u2028b\u2029c'), '"a\u2028b\u2029c"');
  assert.equal(canonicalJson('\ud800x\udfff'), '"\\ud800x\\udfff"');
  assert.equal(canonicalJson('\ud83d\ude00'), '"\ud83d\ude00"');
  assert.equal(canonicalJson('\u0000\u0001\u001f\b\t\n\f\r\u007f"\\/'), '"\\u0000\\u0001\\u001f\\b\\t\\n\\f\\r\u007f\\"\\\\/"');
  assert.equal(canonicalJson({ '\ud800': '\n' }), '{"\\ud800":"\\n"}');
  assert.equal(canonicalJson([true, false, null, 'x']), '[true,false,null,"x"]');
});

test('nesting deeper than the call stack serialises instead of throwing', () => {
  const depth = 200_000;
  const text = '['.repeat(depth) + '{"b":1,"a":[{}]}' + ']'.repeat(depth);
  assert.equal(canon(text), '['.repeat(depth) + '{"a":[{}],"b":1}' + ']'.repeat(depth));
  const objects = '{"k":'.repeat(depth) + '0' + '}'.repeat(depth);
  assert.equal(canon(objects), objects);
});

test('values JSON.parse cannot produce are refused', () => {
  assert.throws(() => canonicalJson(undefined), TypeError);
  assert.throws(() => canonicalJson({ a: 1n }), TypeError);
  assert.throws(() => canonicalJson([() => 0]), TypeError);
});

test('canonicalHash is the sha256 of the canonical text, matching a hand-written literal', () => {
  const value: unknown = JSON.parse('{ "b": [1.0, { "d": true, "c": null }], "a": "x" }');
  const literal = '{"a":"x","b":[1,{"c":null,"d":true}]}';
  assert.equal(canonicalJson(value), literal);
  assert.equal(canonicalHash(value), createHash('sha256').update(literal, 'utf8').digest('hex'));
  assert.equal(canonicalHash(value), '692184961ba5561cd5980f2bc9a05cc1545fff37cf981faa705d8e466f1b116c'); // printf '%s' … | sha256sum
});

test('sha256Hex hashes strings as UTF-8 and bytes as given', () => {
  assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256Hex('é\ud83d\ude00'), sha256Hex(new Uint8Array([0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80])));
  assert.match(sha256Hex('x'), /^[0-9a-f]{64}$/);
});

// ---- property test: random JSON written with shuffled key order, checked against an independent renderer.

type Tree = { kind: 'scalar'; source: string } | { kind: 'array'; items: Tree[] } | { kind: 'object'; entries: [string, Tree][] };


const KEY_POOL = ['0', '1', '2', '10', '01', '-1', '4294967294', '4294967295', '__proto__', 'constructor', 'toString', '', 'a', 'B', 'é', '\u20ac', '\ufb33', '\ud83d\ude00', '\ud800', 'a b', '\u2028'];
const CHAR_POOL = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', '\u00e9', '\u2028', '\ud800', '\udc00', '\ud83d\ude00', '\ufb33', '\ufeff'];
// Written as number text; all survive a round trip unchanged (no -0, no overflow).
const NUMBER_POOL = ['0', '1', '1.0', '-7', '0.5', '4.50', '1e21', '1E-7', '123456789.125', '333333333.33333329', '2e-3', '9007199254740993', '-1.5e300'];

function randomTree(random: () => number, depth: number): Tree {
  const pick = <T>(pool: readonly T[]): T => pool[Math.floor(random() * pool.length)]!;
  const roll = random();
  if (depth >= 4 || roll < 0.45) {
    const kind = Math.floor(random() * 5);
    if (kind === 0) return { kind: 'scalar', source: pick(['null', 'true', 'false']) };
    if (kind === 1) return { kind: 'scalar', source: pick(NUMBER_POOL) };
    if (kind === 2) return { kind: 'scalar', source: String((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)) };
    let s = '';
    for (let i = Math.floor(random() * 6); i > 0; i--) s += pick(CHAR_POOL);
    return { kind: 'scalar', source: JSON.stringify(s) };
  }
  const size = Math.floor(random() * 6);
  if (roll < 0.7) return { kind: 'array', items: Array.from({ length: size }, () => randomTree(random, depth + 1)) };
  const keys = new Set<string>();
  while (keys.size < size) keys.add(random() < 0.7 ? pick(KEY_POOL) : pick(KEY_POOL) + pick(CHAR_POOL));
  return { kind: 'object', entries: [...keys].map((key) => [key, randomTree(random, depth + 1)]) };
}

function render(tree: Tree, order: (entries: [string, Tree][]) => [string, Tree][], scalar: (source: string) => string): string {
  if (tree.kind === 'scalar') return scalar(tree.source);
  if (tree.kind === 'array') return `[${tree.items.map((item) => render(item, order, scalar)).join(',')}]`;
  return `{${order(tree.entries)
    .map(([key, child]) => `${JSON.stringify(key)}:${render(child, order, scalar)}`)
    .join(',')}}`;
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

const byCodeUnits = (entries: [string, Tree][]): [string, Tree][] => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const asWritten = (source: string): string => source;
const asStringified = (source: string): string => JSON.stringify(JSON.parse(source));

test('property: 500 random values round-trip, match an independent renderer, and ignore key order', () => {
  const random = mulberry32(0x8785);
  for (let n = 0; n < 500; n++) {
    const tree = randomTree(random, 0);
    const value: unknown = JSON.parse(render(tree, (entries) => shuffled(entries, random), asWritten));
    const text = canonicalJson(value);
    assert.deepStrictEqual(JSON.parse(text), value);
    assert.equal(text, render(tree, byCodeUnits, asStringified));
    for (let k = 0; k < 3; k++) {
      const reordered: unknown = JSON.parse(render(tree, (entries) => shuffled(entries, random), asWritten));
      assert.equal(canonicalJson(reordered), text);
      assert.equal(canonicalHash(reordered), canonicalHash(value));
    }
  }
});

test('jsonText writes what JSON.stringify writes, and goes deeper than it can', () => {
  const samples = ['{"b":1,"a":[true,null,"\\u2028"],"10":{"2":-0}}', '[]', '"x"', '{"__proto__":{"k":1e21}}'];
  for (const text of samples) assert.equal(jsonText(JSON.parse(text)), JSON.stringify(JSON.parse(text)));
  const deep = `${'['.repeat(50_000)}1${']'.repeat(50_000)}`;
  assert.throws(() => JSON.stringify(JSON.parse(deep)), RangeError);
  assert.equal(jsonText(JSON.parse(deep)), deep);
});

test('property: canonicalJsonAround cuts the canonical text around any member, "__proto__" and integer-like keys included', () => {
  const random = mulberry32(0x0a20);
  let cuts = 0;
  for (let n = 0; n < 500; n++) {
    const tree = randomTree(random, 0);
    if (tree.kind !== 'object' || tree.entries.length === 0) continue;
    const value = JSON.parse(render(tree, (entries) => shuffled(entries, random), asWritten)) as Record<string, unknown>;
    for (const key of Object.keys(value)) {
      const [head, tail] = canonicalJsonAround(value, key);
      assert.equal(head + canonicalJson(value[key]) + tail, canonicalJson(value), key);
      assert.ok(head.endsWith(`${JSON.stringify(key)}:`));
      cuts++;
    }
  }
  assert.ok(cuts > 300, `${cuts} cuts`);
  assert.throws(() => canonicalJsonAround({ a: 1 }, 'b'), TypeError);
});

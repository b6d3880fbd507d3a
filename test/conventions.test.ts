import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shortId } from '../src/core/ids.js';
import { cutCodePoints, firstNonBlankLine, isBlank } from '../src/core/text.js';
import { isIsoTimestamp } from '../src/timestamp.js';

test('shortId = prefix + first 16 hex of sha256("<a>|<b>") over UTF-8', () => {
  // printf '%s' 'run-1|abc' | sha256sum → e6d9bcc3794e8ef45e7d3ba7f1178999cc8b43712bb5345b486c5b96aa49b0dd
  assert.equal(shortId('sft-', 'run-1', 'abc'), 'sft-e6d9bcc3794e8ef4');
  // printf '%s' 'é|😀' | sha256sum → 0beb32ff80fdc24504a4c0b60f2f3ac48b7088161012df0e7162f799bd9c4768
  assert.equal(shortId('', '\u00e9', '\ud83d\ude00'), '0beb32ff80fdc245');
  // printf '%s' '|' | sha256sum → cbe5cfdf7c2118a9c3d78ef1d684f3afa089201352886449a06a6511cfef74a7
  assert.equal(shortId('rag-', '', ''), 'rag-cbe5cfdf7c2118a9');
});

test('isBlank is exactly s.trim() === ""', () => {
  for (const blank of ['', ' ', '\t\r\n', '\u00a0', '\u2028', '\u2029', '\ufeff', '\u3000', '\u000b\u000c', ' \u00a0\t\ufeff ']) assert.equal(isBlank(blank), true, JSON.stringify(blank));
  for (const text of ['x', ' x ', '\u200b', '\u0000', '\u0085', '\ud800', '.']) assert.equal(isBlank(text), false, JSON.stringify(text));
});

test('cutCodePoints keeps the first n code points, never half a surrogate pair', () => {
  const cases: [string, number, string][] = [
    ['abcdef', 3, 'abc'],
    ['abc', 10, 'abc'],
    ['abc', 3, 'abc'],
    ['abc', 0, ''],
    ['', 0, ''],
    ['\ud83d\ude00\ud83d\ude01\ud83d\ude02', 2, '\ud83d\ude00\ud83d\ude01'],
    ['a\ud83d\ude00b', 2, 'a\ud83d\ude00'],
    ['a\ud83d\ude00b', 1, 'a'],
    ['\ud83d\ude00', 1, '\ud83d\ude00'],
    ['\ud83d\ude00\ud83d\ude00', 3, '\ud83d\ude00\ud83d\ude00'], // 4 units, 2 code points: all kept
    ['\ud800abc', 2, '\ud800a'], // lone high surrogate counts as one
    ['\udc00\ud800\ud83d\ude00x', 3, '\udc00\ud800\ud83d\ude00'], // lone low, lone high, then a pair
    ['ab\ud800', 3, 'ab\ud800'],
    ['\ud800\ud800\udc00', 1, '\ud800'], // a high surrogate followed by a pair: the first is lone
    ['\udc00\ud800', 1, '\udc00'], // low then high is not a pair
  ];
  for (const [s, n, expected] of cases) assert.equal(cutCodePoints(s, n), expected, `${JSON.stringify(s)} to ${n}`);
});

test('firstNonBlankLine splits like input lines and returns the line verbatim', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['\n\n', ''],
    [' \t\r\n\u00a0\r\n\ufeff', ''],
    ['title', 'title'],
    ['\n\n  title  \nnext', '  title  '],
    ['\r\n\r\n  title \r\nnext', '  title '],
    ['a\rb\nc', 'a\rb'], // a lone CR is not a break
    ['\r\rx\r\n', '\r\rx'],
    ['\u00a0\n\u00a0\u2028\nreal', 'real'], // lines of only what trim() removes are blank
    ['last\r', 'last\r'], // CR only belongs to a terminator when "\n" follows
    ['\n\r\n \nz', 'z'],
  ];
  for (const [s, expected] of cases) assert.equal(firstNonBlankLine(s), expected, JSON.stringify(s));
});

test('ISO-8601 timestamps: the accepted shapes', () => {
  for (const valid of [
    '2026-05-01T00:00:00Z',
    '2026-05-01T00:00:00.000Z',
    '2026-05-01T23:59:59.123456789Z',
    '2026-05-01T12:30:00.5+05:30',
    '2026-05-01T12:30:00-08:00',
    '2026-05-01T12:30:00+23:59',
    '2024-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
    '2026-12-31T23:59:59Z',
    '2026-04-30T00:00:00Z',
    '0001-01-01T00:00:00Z',
  ])
    assert.equal(isIsoTimestamp(valid), true, valid);
});

test('ISO-8601 timestamps: the refused ones', () => {
  for (const invalid of [
    '2023-02-29T00:00:00Z', // not a leap year
    '1900-02-29T00:00:00Z', // century, not leap
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-32T00:00:00Z',
    '2026-05-01T24:00:00Z',
    '2026-05-01T23:60:00Z',
    '2026-05-01T23:59:60Z', // leap second
    '2026-05-01t00:00:00Z',
    '2026-05-01T00:00:00z',
    '2026-05-01 00:00:00Z',
    '2026-05-01T00:00:00', // no offset
    '2026-05-01T00:00Z', // no seconds
    '2026-05-01T00:00:00.Z', // empty fraction
    '2026-05-01T00:00:00,5Z',
    '2026-05-01T00:00:00+0530',
    '2026-05-01T00:00:00+05',
    '2026-05-01T00:00:00+24:00',
    '2026-05-01T00:00:00+05:60',
    '2026-05-01T00:00:00Z\n',
    ' 2026-05-01T00:00:00Z',
    '26-05-01T00:00:00Z',
    '+02026-05-01T00:00:00Z',
    '2026-5-01T00:00:00Z',
    '2026-05-01T00:00:00\u0660Z',
    '2026-05-01T00:00:0\u0661Z', // Arabic-Indic digit
    '2026-05-01',
    '',
  ])
    assert.equal(isIsoTimestamp(invalid), false, invalid);
});

test('ISO-8601 timestamps: only strings, never coerced', () => {
  for (const other of [null, undefined, 0, Date.UTC(2026, 4, 1), new Date(0), ['2026-05-01T00:00:00Z'], { toString: () => '2026-05-01T00:00:00Z' }]) assert.equal(isIsoTimestamp(other), false);
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { mulberry32 } from '../data-fixtures/prng.js';
import { scanJson } from '../src/core/json-positions.js';
import { checkRulesText } from '../src/core/rules-document.js';
import { DistillError } from '../src/errors.js';
import { checkRulesFile, formatRulesProblem, loadRuleset, MAX_RULES_FILE_BYTES, readRowFile } from '../src/io/rules-file.js';
import { builtinRulesetText } from '../src/rules/builtin.js';
import { PACKAGE_ROOT, removeDir, tempDir } from './helpers.js';

const MY_RULES = path.join(PACKAGE_ROOT, 'data-fixtures', 'rules', 'my-rules.json');

/** A file in a fresh temp folder, handed to `body`. */
async function withFile(content: string | Buffer, body: (file: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'rules.json');
    await writeFile(file, content);
    await body(file);
  } finally {
    await removeDir(dir);
  }
}

/** The problems of a rules text as `line:column field: message` strings. */
const problemsOf = (text: string): string[] => checkRulesText(text).problems.map((p) => `${p.line}:${p.column} ${p.field}: ${p.message}`);

describe('loadRuleset', () => {
  test('compiles a rules file and digests the bytes it read (path, bytes, sha256) for the receipt', async () => {
    const bytes = await readFile(MY_RULES);
    const ruleset = await loadRuleset(MY_RULES, { display: 'config/my-rules.json' });
    assert.deepEqual(ruleset.source, { path: 'config/my-rules.json', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    assert.equal(ruleset.name, 'my-rules');
    assert.equal(ruleset.version, '1.0.0');
    assert.match(ruleset.scorerVersion, /^my-rules@1\.0\.0\+[0-9a-f]{12}$/);
    assert.equal((await loadRuleset(MY_RULES)).source!.path, MY_RULES);
  });

  test('the built-in file loaded from disk is the built-in ruleset: v1.0.0', async () => {
    await withFile(builtinRulesetText(), async (file) => {
      assert.equal((await loadRuleset(file)).scorerVersion, 'v1.0.0');
    });
  });

  test('a file with problems is a DS_USAGE error listing each with file:line:column, field and rule', async () => {
    const text = '{\n  "name": "r",\n  "version": "1",\n  "rules": [\n    { "sources": ["mine"], "source_class": "verdict", "decide": [{ "category": "acepted", "reasons": ["x"] }] }\n  ]\n}\n';
    await withFile(text, async (file) => {
      await assert.rejects(loadRuleset(file, { display: 'rules.json' }), (error: unknown) => {
        assert.ok(error instanceof DistillError);
        assert.equal(error.code, 'DS_USAGE');
        assert.equal(error.path, 'rules.json');
        assert.equal(error.line, 5);
        assert.equal(error.message, 'rules.json: 1 problem in the rules file:\n  rules.json:5:80: rules[0].decide[0].category [mine]: must be one of "accepted", "partially_accepted", "rejected", "needs_human_review"');
        return true;
      });
    });
  });

  test('a missing or unreadable file is DS_IO naming it', async () => {
    const dir = await tempDir();
    try {
      for (const file of [path.join(dir, 'absent.json'), dir]) {
        await assert.rejects(loadRuleset(file), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && error.message.startsWith(file));
        await assert.rejects(checkRulesFile(file), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO');
      }
    } finally {
      await removeDir(dir);
    }
  });
});

describe('checkRulesFile', () => {
  test('a good file has no problems', async () => {
    assert.deepEqual(await checkRulesFile(MY_RULES), { ok: true, problems: [] });
  });

  test('every problem at once, in file order, each at the line and column of its value or key', () => {
    const text = [
      '{',
      '  "name": "my rules",',
      '  "version": "1.0.0",',
      '  "rules": [',
      '    {',
      '      "sources": ["mine", "mine"],',
      '      "source_class": "verdict",',
      '      "decide": [',
      '        { "require": { "signal": "s", "type": "strin" } },',
      '        { "when": [{ "signal": "s", "equals": "ok" }], "category": "accepted", "reasons": ["s={s"], "note": 1 },',
      '        { "when": [{ "signal": "n", "int_range": { "min": 1.5 } }], "category": "accepted", "reasons": ["x"] },',
      '        { "category": "rejected", "reasons": [] }',
      '      ],',
      '      "source_class": "telemetry"',
      '    }',
      '  ]',
      '}',
    ].join('\n');
    assert.deepEqual(problemsOf(text), [
      "2:11 name: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
      '6:18 rules[0].sources: lists "mine" twice',
      '9:47 rules[0].decide[0].require.type: must be a type: string, integer, number, boolean, array, object or null',
      '10:101 rules[0].decide[1].note: unknown field "note" (known here: when, category, reasons, require, description)',
      '11:59 rules[0].decide[2].when[0].int_range.min: must be an integer or {"signal": NAME}',
      '12:46 rules[0].decide[3].reasons: must not be empty',
      '14:7 rules[0].source_class: "source_class" is written twice in one object; JSON keeps only the last',
    ]);
  });

  test('once the shape is right, the meaning is checked', () => {
    const text = JSON.stringify(
      {
        name: 'r',
        version: '1',
        rules: [
          { sources: ['a'], source_class: 'verdict', decide: [{ require: { signal: 's', present: true } }, { category: 'accepted', reasons: ['x={s'] }] },
          { sources: ['*'], source_class: 'extraction', decide: [{ category: 'rejected', reasons: ['x'] }] },
          { sources: ['b'], source_class: 'extraction', decide: [{ category: 'rejected', reasons: ['x'] }] },
        ],
      },
      null,
      2,
    );
    assert.deepEqual(problemsOf(text), [
      '5:5 rules[0]: needs "prefix": decide[0] requires "s", and writes <prefix>_s_missing or _wrong_type when it fails',
      "20:13 rules[0].decide[1].reasons[0]: the slot opened at character 3 is not closed: write '{{' for a literal brace",
      '40:18 rules[2].sources: rule 2 is never used: rules[1] matches every source',
    ]);
  });

  test('JSON syntax errors name the first offending character', () => {
    const cases: [string, string][] = [
      ['', '1:1 : not JSON: expected a value, found the file ends'],
      ['\ufeff{}', '1:1 : not JSON: expected a value, found a byte-order mark (U+FEFF): save the file without one'],
      ['{\n  "name": "x",\n}', "3:1 : not JSON: expected a property name in double quotes, found '}'"],
      ['{"a": [1, 2,]}', "1:13 : not JSON: expected a value, found ']'"],
      ['{"a" 1}', "1:6 : not JSON: expected ':' after the property name, found '1'"],
      ['{"a": "x\ny"}', '1:9 : not JSON: expected the string to go on (a control character must be escaped, e.g. \\n), found the control character U+000A'],
      ['{"a": 01}', "1:8 : not JSON: expected ',', ']', '}' or the end of the number, found '1'"],
      ['{} {}', "1:4 : not JSON: expected the end of the file after the value, found '{'"],
      ['{"a": "\\x"}', '1:9 : not JSON: expected an escape: one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, found \'x\''],
      ['// comment\n{}', "1:1 : not JSON: expected a value, found '/'"],
    ];
    for (const [text, expected] of cases) assert.deepEqual(problemsOf(text), [expected], JSON.stringify(text));
  });

  test('a file too large or not UTF-8 is a problem of the file', async () => {
    await withFile(Buffer.from('{"name": "\xff"}', 'latin1'), async (file) => {
      const { ok, problems } = await checkRulesFile(file);
      assert.equal(ok, false);
      assert.deepEqual(problems.map((p) => [p.line, p.column, p.message]), [[1, 11, 'not UTF-8: save the file as UTF-8']]);
    });
    await withFile(Buffer.alloc(MAX_RULES_FILE_BYTES + 1, 0x20), async (file) => {
      const { problems } = await checkRulesFile(file);
      assert.match(problems[0]!.message, /a rules file is at most 1048576/);
      await assert.rejects(loadRuleset(file), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE');
    });
    // A device or pipe says size 0: the read itself stops past the limit, never taking the stream whole.
    const { problems } = await checkRulesFile('/dev/zero');
    assert.deepEqual(problems.map((p) => p.message), [`the file is more than ${MAX_RULES_FILE_BYTES} bytes; a rules file is at most ${MAX_RULES_FILE_BYTES}`]);
  });

  test('rules explain\'s row file is read up to --max-line-bytes, a device or pipe included', async () => {
    await assert.rejects(readRowFile('/dev/zero', 'zeros', 1000), (error: unknown) => error instanceof DistillError && error.code === 'DS_USAGE' && error.message === 'zeros is more than 1000 bytes; one row is at most 1000 (--max-line-bytes)');
  });

  test('formatRulesProblem: FILE:LINE:COLUMN: FIELD [sources]: message', () => {
    assert.equal(formatRulesProblem('r.json', { line: 3, column: 9, rule: 1, rule_sources: ['a', 'b*'], field: 'rules[1].prefix', message: 'must not be empty' }), 'r.json:3:9: rules[1].prefix [a, b*]: must not be empty');
    assert.equal(formatRulesProblem('r.json', { line: 1, column: 1, rule: null, rule_sources: null, field: '', message: 'not JSON' }), 'r.json:1:1: not JSON');
  });
});

describe('the built-in ruleset file', () => {
  test('builtinRulesetText is the committed file, byte for byte, in the rules-file format', async () => {
    const committed = await readFile(path.join(PACKAGE_ROOT, 'src', 'rules', 'builtin.rules.json'), 'utf8');
    assert.equal(builtinRulesetText(), committed);
    const document = JSON.parse(committed) as { name: string; version: string; rules: unknown[] };
    assert.deepEqual(Object.keys(document).filter((key) => key !== 'description'), ['name', 'version', 'rules']);
    assert.deepEqual([document.name, document.version, document.rules.length], ['builtin', '1.0.0', 8]);
    assert.deepEqual(checkRulesText(committed).problems, []);
  });
});

describe('the position scanner agrees with JSON.parse', () => {
  const SAMPLES = [builtinRulesetText(), '{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n",{}],"b":{"c":[]}}', '[0,0.5,-0,1E5,"\\"\\\\\\/\\b\\f\\r\\t"]'];
  const NOISE = ['{', '}', '[', ']', ',', ':', '"', '\\', '0', '-', '.', 'e', '+', ' ', '\n', 't', 'n', 'x', '\u0001', '\ufeff'];

  test('valid exactly when JSON.parse accepts, on thousands of mutated texts', () => {
    const random = mulberry32(7);
    let invalid = 0;
    for (let n = 0; n < 6000; n++) {
      const base = SAMPLES[n % SAMPLES.length]!;
      let text = base;
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * (text.length + 1));
        const roll = random();
        if (roll < 0.4) text = text.slice(0, at) + text.slice(at + 1);
        else if (roll < 0.8) text = text.slice(0, at) + NOISE[Math.floor(random() * NOISE.length)]! + text.slice(at);
        else text = text.slice(0, at) + text.slice(at, at + 1) + text.slice(at);
      }
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      const scan = scanJson(text);
      if (!parses) invalid++;
      assert.equal(scan.ok, parses, JSON.stringify(text));
    }
    assert.ok(invalid > 1000, `only ${invalid} invalid texts`);
  });

  test('pointers follow RFC 6901, and nesting past 64 levels is refused before anything recurses into it', () => {
    const scan = scanJson('{"a/b":{"c~d":[10,{"":1}]}}');
    assert.ok(scan.ok);
    assert.deepEqual(scan.values.get('/a~1b/c~0d/1/'), { line: 1, column: 23 });
    assert.deepEqual(scan.keys.get('/a~1b/c~0d'), { line: 1, column: 9 });
    const deep = scanJson(`${'['.repeat(100)}${']'.repeat(100)}`);
    assert.ok(!deep.ok);
    assert.match(deep.message, /nested deeper than 64 levels/);
    assert.deepEqual(problemsOf(`{"name":${'['.repeat(10_000)}${']'.repeat(10_000)}}`).length, 1);
  });
});

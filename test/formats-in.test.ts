import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openLines } from '../src/io/line-source.js';
import type { RawLine } from '../src/io/line-splitter.js';
import type { QuarantineRecord } from '../src/records.js';
import { compress, GOLDEN_INPUTS, leftovers, NEEDS_ZSTD, PINNED } from './format-helpers.js';
import { fixtureCopy, GOLDEN, listFiles, readText, removeDir, runCli, tempDir } from './helpers.js';

const quarantineRows = async (file: string): Promise<QuarantineRecord[]> =>
  (await readText(file)).trim().split('\n').map((line) => JSON.parse(line) as QuarantineRecord);

async function rowsOf(file: string, maxLineBytes = 65536): Promise<RawLine[]> {
  const rows: RawLine[] = [];
  for await (const batch of await openLines({ display: path.basename(file), absolute: file }, { maxLineBytes })) rows.push(...batch);
  return rows;
}

describe('inputs: zstd', NEEDS_ZSTD, () => {
  let root: string;
  let sft: string[];
  before(async () => {
    root = await fixtureCopy();
    sft = ['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(root, 'q.jsonl'), ...PINNED];
  });
  after(() => removeDir(root));

  test('the golden .jsonl.zst input (named, and on stdin) gives the golden dataset', async () => {
    const named = await runCli([...sft, path.join(GOLDEN_INPUTS, 'scored-runs.jsonl.zst')]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
    const piped = await runCli(sft, { stdin: await readFile(path.join(GOLDEN_INPUTS, 'scored-runs.jsonl.zst')) });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, named.stdout);
  });

  test('a folder walk takes *.jsonl.zst beside *.jsonl and *.jsonl.gz, in name order', async () => {
    const scored = path.join(root, 'data/scored-runs');
    const files = await listFiles(scored);
    for (const [n, file] of files.entries()) {
      const absolute = path.join(scored, file);
      const bytes = await readFile(absolute);
      if (n % 3 === 0) continue;
      await rm(absolute);
      await writeFile(n % 3 === 1 ? `${absolute}.gz` : absolute.replace(/\.jsonl$/, '.jsonl.zst'), n % 3 === 1 ? gzipSync(bytes) : compress('zstd', bytes));
    }
    const walked = await runCli([...sft, scored]);
    assert.equal(walked.code, 0, walked.stderr);
    assert.equal(walked.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
  });

  test('truncated and corrupt compressed inputs: exit 3 naming the file, outputs and quarantine untouched, no temp left', async () => {
    const dir = await tempDir();
    try {
      const plain = await readFile(path.join(root, 'data/scored-runs/2026/05/01/scrum_reviews.jsonl'));
      const zst = compress('zstd', Buffer.concat(Array.from({ length: 50 }, () => plain)));
      const gz = gzipSync(Buffer.concat(Array.from({ length: 50 }, () => plain)));
      const corrupt = Buffer.from(zst);
      for (let i = 20; i < corrupt.length - 8; i += 7) corrupt[i]! ^= 0x5a;
      const cases: Array<[string, Buffer, RegExp]> = [
        ['cut.jsonl.zst', zst.subarray(0, zst.length >> 1), /zstd could not decompress it/],
        ['bad.jsonl.zst', corrupt, /zstd could not decompress it/],
        ['cut.jsonl.gz', gz.subarray(0, gz.length >> 1), /unexpected end of file/],
      ];
      const out = path.join(dir, 'out.jsonl');
      const quarantine = path.join(dir, 'q.jsonl');
      for (const [name, bytes, why] of cases) {
        await writeFile(out, 'previous dataset\n');
        await writeFile(quarantine, 'previous quarantine\n');
        const input = path.join(dir, name);
        await writeFile(input, bytes);
        const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--out', out, '--quarantine', quarantine, ...PINNED, input]);
        assert.equal(result.code, 3, `${name}: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`${name.replace('.', '\\.')}: `), name);
        assert.match(result.stderr, why, name);
        assert.equal(await readText(out), 'previous dataset\n', name);
        assert.equal(await readText(quarantine), 'previous quarantine\n', name);
        assert.deepEqual(await leftovers(dir), [], name);
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('with no zstd on PATH: exit 3 naming the file and what to install, for an input and for an output', async () => {
    const empty = await tempDir();
    try {
      const env = { ...process.env, PATH: empty };
      const input = await runCli([...sft, path.join(GOLDEN_INPUTS, 'scored-runs.jsonl.zst')], { env });
      assert.equal(input.code, 3, input.stderr);
      assert.match(input.stderr, /scored-runs\.jsonl\.zst: it is zstd-compressed and no zstd decoder was found: install the zstd command \(Debian\/Ubuntu: apt-get install zstd\)/);
      const out = path.join(empty, 'out.jsonl.zst');
      const output = await runCli([...sft, '--out', out, path.join(root, 'data/scored-runs')], { env });
      assert.equal(output.code, 3, output.stderr);
      assert.match(output.stderr, /^distill-stream: --out .*out\.jsonl\.zst: writing \.zst needs the zstd command, which was not found: install the zstd command/m);
      assert.deepEqual(await readdir(empty), []);
    } finally {
      await removeDir(empty);
    }
  });
});

describe('inputs: a .json file holding one array of records', () => {
  let root: string;
  before(async () => {
    root = await fixtureCopy();
  });
  after(() => removeDir(root));

  test('the golden array gives the golden dataset; each quarantine row names its element index as line_offset', async () => {
    const input = path.join(GOLDEN_INPUTS, 'scored-runs.json');
    const quarantine = path.join(root, 'array-q.jsonl');
    const result = await runCli(['sft', '--root', root, '--evidence', path.join(root, 'data/evidence'), '--quarantine', quarantine, ...PINNED, input]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, await readText(path.join(GOLDEN, 'sft.jsonl')));
    const elements = JSON.parse(await readText(input)) as unknown[];
    const rows = await quarantineRows(quarantine);
    assert.ok(rows.length > 10);
    for (const row of rows) {
      assert.match(row.source_provenance.source_file, /scored-runs\.json$/);
      if (row.reason !== 'line_too_long') assert.deepEqual(row.source_record, elements[row.source_provenance.line_offset]);
    }
    const summary = /read=(\d+) exported=(\d+) quarantined=(\d+)/.exec(result.stderr)!;
    assert.equal(Number(summary[1]), elements.length);
    assert.equal(Number(summary[2]) + Number(summary[3]), elements.length);
  });

  test('elements count as rows whatever their layout; the element index is the line', async () => {
    const dir = await tempDir();
    try {
      const file = path.join(dir, 'a.json');
      await writeFile(file, '\ufeff [\n  {"a": 1},\n\n  2, "x",\n  {"b": [1, 2, {"c": null}]}, [] ]\n');
      assert.deepEqual(await rowsOf(file), [
        { line: 0, text: '{"a":1}', tooLong: false },
        { line: 1, text: '2', tooLong: false },
        { line: 2, text: '"x"', tooLong: false },
        { line: 3, text: '{"b":[1,2,{"c":null}]}', tooLong: false },
        { line: 4, text: '[]', tooLong: false },
      ]);
      await writeFile(file, `[{"big":"${'é'.repeat(600)}"}, 1]`);
      const [big, one] = await rowsOf(file, 500);
      assert.equal(big!.tooLong, true);
      assert.ok(Buffer.byteLength(big!.text) <= 800);
      assert.deepEqual(one, { line: 1, text: '1', tooLong: false });
    } finally {
      await removeDir(dir);
    }
  });

  test('where the array breaks: one unreadable row at the next index naming the bytes; it is quarantined, the run goes on', async () => {
    const dir = await tempDir();
    try {
      const elements = Array.from({ length: 40 }, (_, n) => JSON.stringify({ n, pad: 'x'.repeat(100) }));
      const truncated = path.join(dir, 'truncated.json');
      await writeFile(truncated, `[${elements.join(',')},{"n":40,"pad":"xx`);
      const cut = await rowsOf(truncated);
      assert.equal(cut.length, 41);
      assert.deepEqual(cut[40], { line: 40, text: '', tooLong: false, unreadable: `the JSON array is broken: it ends at byte ${(await readFile(truncated)).length} before the array is closed (Parser has expected a string value)` });
      const garbage = path.join(dir, 'garbage.json');
      await writeFile(garbage, `[${elements.join(',')}} {"n":99}]`);
      const broken = await rowsOf(garbage);
      const last = broken.at(-1)!;
      assert.match(last.unreadable!, /^the JSON array is broken: it breaks within bytes (\d+)–(\d+) \(Parser cannot parse input: .*\); nothing from byte \1 on is read$/);
      assert.equal(last.line, broken.length - 1);
      assert.ok(broken.length >= 32, 'only the elements within the failing 1 KiB are lost');
      const quarantine = path.join(dir, 'q.jsonl');
      const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', quarantine, ...PINNED, garbage]);
      assert.equal(result.code, 0, result.stderr);
      const rows = await quarantineRows(quarantine);
      const row = rows.at(-1)!;
      assert.equal(row.reason, 'schema_violation');
      assert.equal(row.source_provenance.line_offset, last.line);
      assert.equal(row.errors[0], last.unreadable);
      assert.equal(rows.length, broken.length);
    } finally {
      await removeDir(dir);
    }
  });

  test('a .json file that is not an array (or is empty) fails with exit 3 naming it', async () => {
    const dir = await tempDir();
    try {
      for (const [name, text, why] of [['object.json', '{"rows": []}', /it starts with "\{"/], ['empty.json', ' \n', /it is empty/]] as const) {
        const file = path.join(dir, name);
        await writeFile(file, text);
        const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(dir, 'q.jsonl'), ...PINNED, file]);
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, new RegExp(`${name.replace('.', '\\.')}: not a JSON array of records`));
        assert.match(result.stderr, why);
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('a folder walk never takes .json files (manifests, dataset_info.json); naming one does', async () => {
    const dir = await tempDir();
    try {
      await mkdir(path.join(dir, 'data'));
      await writeFile(path.join(dir, 'data', 'dataset_info.json'), '{"not": "records"}');
      await writeFile(path.join(dir, 'data', 'rows.jsonl'), '');
      const result = await runCli(['sft', '--evidence', path.join(root, 'data/evidence'), '--quarantine', path.join(dir, 'q.jsonl'), ...PINNED, path.join(dir, 'data')]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /read=0 /);
    } finally {
      await removeDir(dir);
    }
  });
});

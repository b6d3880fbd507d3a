import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { runPreference, runRag, runSft } from '../pipelines/stage.js';
import { parseSplits, splitChooser } from '../src/core/splits.js';
import { recoverCommits } from '../src/io/commit.js';
import { ParquetEncoder, ROW_GROUP_ROWS } from '../src/io/parquet.js';
import { buildReceipt } from '../src/report/receipt.js';
import { validators } from '../src/schemas/validators.js';
import { SFT_COLUMNS, SFT_FORMATS } from '../src/stages/sft.js';
import { decompress, duckdbRowGroups, duckdbRows, jsonlRows, leftovers, NEEDS_ZSTD, PINNED, withoutNulls } from './format-helpers.js';
import { fixtureCopy, GOLDEN, readText, removeDir, runCli, tempDir } from './helpers.js';

const RECORDED_AT = '2026-05-02T00:00:00.000Z';
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
/** Parquet strings are UTF-8: a lone surrogate, which JSON can escape, is read back as U+FFFD. */
const asUtf8 = (row: unknown): unknown => JSON.parse(JSON.stringify(row, (_key, value: unknown) => (typeof value === 'string' ? Buffer.from(value, 'utf8').toString('utf8') : value))) as unknown;
const ids = (text: string): string[] => jsonlRows(text).map((row) => (row as { id: string }).id);

describe('outputs: compressed, Parquet, parts and splits', () => {
  let root: string;
  let dir: string;
  /** The library options of an sft run over the fixture's scored runs into `dir`. */
  const sftRun = (out: string, extra: Record<string, unknown> = {}): Parameters<typeof runSft>[0] => ({
    root,
    inputs: [path.join(root, 'data/scored-runs')],
    out: path.join(dir, out),
    quarantine: path.join(dir, `${out.replace(/[^a-z0-9]/gi, '_')}.quarantine.jsonl.gz`),
    recordedAt: RECORDED_AT,
    maxLineBytes: 65536,
    ...extra,
  });
  before(async () => {
    root = await fixtureCopy();
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(root);
    await removeDir(dir);
  });

  test('.jsonl.gz: gzip -d gives the golden dataset, the golden .gz too; the receipt hashes the compressed bytes', async () => {
    const { counts } = await runSft(sftRun('sft.jsonl.gz'));
    const written = path.join(dir, 'sft.jsonl.gz');
    const golden = await readText(path.join(GOLDEN, 'sft.jsonl'));
    assert.equal(decompress('gzip', written), golden);
    assert.equal(decompress('gzip', path.join(GOLDEN, 'sft.jsonl.gz')), golden);
    const bytes = await readFile(written);
    const digest = counts.outputs.find((output) => output.path.endsWith('sft.jsonl.gz'))!;
    assert.deepEqual({ bytes: digest.bytes, sha256: digest.sha256 }, { bytes: bytes.length, sha256: sha256(bytes) });
    const quarantine = counts.outputs.find((output) => output.path.endsWith('.quarantine.jsonl.gz'))!;
    assert.equal(quarantine.sha256, sha256(await readFile(path.join(dir, 'sft_jsonl_gz.quarantine.jsonl.gz'))));
    assert.equal(decompress('gzip', path.join(dir, 'sft_jsonl_gz.quarantine.jsonl.gz')), await readText(path.join(GOLDEN, 'sft.quarantine.jsonl')));
  });

  test('.jsonl.zst: zstd -d gives the golden dataset, the golden .zst too; the receipt hashes the compressed bytes', NEEDS_ZSTD, async () => {
    const { counts } = await runSft(sftRun('sft.jsonl.zst'));
    const written = path.join(dir, 'sft.jsonl.zst');
    const golden = await readText(path.join(GOLDEN, 'sft.jsonl'));
    assert.equal(decompress('zstd', written), golden);
    assert.equal(decompress('zstd', path.join(GOLDEN, 'sft.jsonl.zst')), golden);
    const bytes = await readFile(written);
    assert.equal(counts.outputs.find((output) => output.path.endsWith('sft.jsonl.zst'))!.sha256, sha256(bytes));
  });

  test('.parquet: DuckDB reads every row equal to the JSONL output, for every sft view, rag and preference; the golden is byte-identical', async () => {
    for (const format of SFT_FORMATS) {
      await runSft(sftRun(`sft-${format}.parquet`, { format, includePartial: true }));
      await runSft(sftRun(`sft-${format}.jsonl`, { format, includePartial: true }));
      const fromParquet = await duckdbRows(path.join(dir, `sft-${format}.parquet`));
      assert.deepEqual(fromParquet.map(withoutNulls), jsonlRows(await readText(path.join(dir, `sft-${format}.jsonl`))).map(asUtf8), format);
    }
    await runRag(sftRun('rag.parquet', { includeReview: true }));
    assert.deepEqual(await duckdbRows(path.join(dir, 'rag.parquet')), jsonlRows(await readText(path.join(GOLDEN, 'rag-include-review.jsonl'))).map(asUtf8));
    for (const format of ['spec', 'dpo', 'openai-dpo'] as const) {
      await runPreference({ ...sftRun(`preference-${format}.parquet`), format });
      const golden = format === 'spec' ? 'preference.jsonl' : `preference-${format}.jsonl`;
      assert.deepEqual(await duckdbRows(path.join(dir, `preference-${format}.parquet`)), jsonlRows(await readText(path.join(GOLDEN, golden))).map(asUtf8), format);
    }
    await runSft(sftRun('sft.parquet'));
    assert.deepEqual(await readFile(path.join(dir, 'sft.parquet')), await readFile(path.join(GOLDEN, 'sft.parquet')));
    assert.deepEqual(await duckdbRows(path.join(GOLDEN, 'sft.parquet')), jsonlRows(await readText(path.join(GOLDEN, 'sft.jsonl'))).map(asUtf8));
  });

  test('Parquet streams in row groups: 2.5 groups of rows make 3, read back whole', async () => {
    const file = path.join(dir, 'groups.parquet');
    const rows = Array.from({ length: ROW_GROUP_ROWS * 2.5 }, (_, n) => `{"prompt":"p${n}","completion":"c${'é'.repeat(n % 7)}"}\n`);
    const batches = Array.from({ length: 250 }, (_, n) => rows.slice(n * 100, n * 100 + 100).join(''));
    await pipeline(Readable.from(batches), new ParquetEncoder(SFT_COLUMNS['prompt-completion'], 'groups.parquet'), createWriteStream(file));
    assert.equal(await duckdbRowGroups(file), 3);
    assert.deepEqual(await duckdbRows(file), rows.map((line) => JSON.parse(line) as unknown));
  });

  test('--max-rows-per-file: the golden parts, named NAME-00000-of-0000K; their rows are the dataset in order', async () => {
    await runSft(sftRun('parts/sft-parts.jsonl', { maxRowsPerFile: 4 }));
    const names = (await readdir(path.join(dir, 'parts'))).filter((name) => name.startsWith('sft-parts-'));
    assert.deepEqual(names, ['sft-parts-00000-of-00003.jsonl', 'sft-parts-00001-of-00003.jsonl', 'sft-parts-00002-of-00003.jsonl']);
    let whole = '';
    for (const name of names) {
      const part = await readText(path.join(dir, 'parts', name));
      assert.equal(part, await readText(path.join(GOLDEN, name)));
      assert.ok(jsonlRows(part).length <= 4);
      whole += part;
    }
    assert.equal(whole, await readText(path.join(GOLDEN, 'sft.jsonl')));
  });

  test('--max-bytes-per-file bounds each part by its JSONL bytes (a longer row gets a part alone), in every format', NEEDS_ZSTD, async () => {
    const golden = await readText(path.join(GOLDEN, 'sft.jsonl'));
    const limit = 1200;
    for (const extension of ['.jsonl', '.jsonl.zst', '.parquet']) {
      const folder = `bytes${extension.replace(/\./g, '-')}`;
      await runSft(sftRun(`${folder}/sft${extension}`, { maxBytesPerFile: limit }));
      const names = (await readdir(path.join(dir, folder))).filter((name) => name.startsWith('sft-')).sort();
      let rows: unknown[] = [];
      for (const name of names) {
        const file = path.join(dir, folder, name);
        const part = extension === '.jsonl' ? jsonlRows(await readText(file)) : extension === '.parquet' ? await duckdbRows(file) : jsonlRows(decompress('zstd', file));
        const size = part.reduce((sum: number, row) => sum + Buffer.byteLength(`${JSON.stringify(row)}\n`), 0);
        assert.ok(size <= limit || part.length === 1, `${name}: ${size} bytes in ${part.length} rows`);
        rows = [...rows, ...part];
      }
      assert.equal(names[0], `sft-00000-of-${String(names.length).padStart(5, '0')}${extension}`);
      assert.deepEqual(rows, jsonlRows(golden).map(extension === '.parquet' ? asUtf8 : (row) => row), extension);
    }
  });

  test('a new set removes the parts of an older one in the same commit: never a mix of two runs', async () => {
    const folder = path.join(dir, 'sets');
    await runSft(sftRun('sets/s.jsonl', { maxRowsPerFile: 2 }));
    assert.equal((await readdir(folder)).filter((name) => name.startsWith('s-')).length, 6);
    await writeFile(path.join(folder, 's.jsonl'), 'not a part: kept\n');
    await runSft(sftRun('sets/s.jsonl', { maxRowsPerFile: 4 }));
    const names = (await readdir(folder)).filter((name) => name.startsWith('s'));
    assert.deepEqual(names.sort(), ['s-00000-of-00003.jsonl', 's-00001-of-00003.jsonl', 's-00002-of-00003.jsonl', 's.jsonl']);
    assert.equal(await readText(path.join(folder, 's.jsonl')), 'not a part: kept\n');
    assert.deepEqual(await leftovers(folder), []);
  });

  test('a run killed before its commit leaves the older set whole and only hidden temps, which the next run removes', async () => {
    const folder = path.join(dir, 'killed');
    const args = ['sft', '--root', root, '--out', path.join(folder, 'k.jsonl'), '--quarantine', path.join(folder, 'q.jsonl'), ...PINNED];
    assert.equal((await runCli([...args, '--max-rows-per-file', '4'])).code, 0);
    const before = await Promise.all((await readdir(folder)).sort().map(async (name) => [name, await readText(path.join(folder, name))]));
    const killed = await runCli([...args, '--max-rows-per-file', '2'], { env: { ...process.env, DISTILL_STREAM_KILL_AT: 'parts-before-commit' } });
    assert.equal(killed.signal, 'SIGKILL');
    const visible = (await readdir(folder)).filter((name) => !name.startsWith('.')).sort();
    assert.deepEqual(await Promise.all(visible.map(async (name) => [name, await readText(path.join(folder, name))])), before);
    assert.ok((await leftovers(folder)).length > 0, 'the killed run left its temp folder');
    assert.equal((await runCli([...args, '--max-rows-per-file', '2'])).code, 0);
    assert.deepEqual(await leftovers(folder), []);
    assert.equal((await readdir(folder)).filter((name) => /^k-\d{5}-of-00006\.jsonl$/.test(name)).length, 6);
  });

  test('a run killed inside its commit is rolled forward by the next one: the new set whole, no older part left', async () => {
    const folder = path.join(dir, 'rolled');
    const args = ['sft', '--root', root, '--out', path.join(folder, 'r.jsonl'), '--quarantine', path.join(folder, 'q.jsonl'), ...PINNED];
    assert.equal((await runCli([...args, '--max-rows-per-file', '4'])).code, 0);
    const killed = await runCli([...args, '--max-rows-per-file', '3'], { env: { ...process.env, DISTILL_STREAM_KILL_AT: 'commit-after-first-step' } });
    assert.equal(killed.signal, 'SIGKILL');
    await recoverCommits(folder);
    const parts = (await readdir(folder)).filter((name) => name.startsWith('r-')).sort();
    assert.deepEqual(parts, ['r-00000-of-00004.jsonl', 'r-00001-of-00004.jsonl', 'r-00002-of-00004.jsonl', 'r-00003-of-00004.jsonl']);
    let whole = '';
    for (const name of parts) whole += await readText(path.join(folder, name));
    assert.equal(whole, await readText(path.join(GOLDEN, 'sft.jsonl')));
  });

  test('--split: the golden split files; counts per split add up in the summary and the receipt; a receipt without a split is unchanged', async () => {
    const { counts } = await runSft(sftRun('split/sft-split.jsonl', { split: 'train=0.8,validation=0.2' }));
    const train = await readText(path.join(dir, 'split', 'sft-split-train.jsonl'));
    const validation = await readText(path.join(dir, 'split', 'sft-split-validation.jsonl'));
    assert.equal(train, await readText(path.join(GOLDEN, 'sft-split-train.jsonl')));
    assert.equal(validation, await readText(path.join(GOLDEN, 'sft-split-validation.jsonl')));
    assert.deepEqual([...counts.bySplit], [['train', jsonlRows(train).length], ['validation', jsonlRows(validation).length]]);
    assert.equal(counts.bySplit.get('train')! + counts.bySplit.get('validation')!, counts.out);
    const context = { runId: 'r', toolVersion: '0.1.0', gitSha: null, recordedAt: RECORDED_AT };
    const timing = { started: new Date(0), finished: new Date(0), durationMs: 0 };
    const receipt = buildReceipt(context, 'export-sft', counts, { passed: true, errors: [], warnings: [] }, timing);
    assert.deepEqual(receipt.record_counts.by_split, { train: counts.bySplit.get('train'), validation: counts.bySplit.get('validation') });
    assert.ok(validators().stageReceipt(receipt), JSON.stringify(validators().stageReceipt.errors));
    const plain = buildReceipt(context, 'export-sft', (await runSft(sftRun('plain.jsonl'))).counts, { passed: true, errors: [], warnings: [] }, timing);
    assert.ok(!('by_split' in plain.record_counts));
    const cli = await runCli(['sft', '--root', root, '--out', path.join(dir, 'split-cli', 'x.jsonl'), '--split', 'train=0.8,validation=0.2', '--json', ...PINNED]);
    const summary = JSON.parse(cli.stderr.trimEnd().split('\n').at(-1)!) as { exported: number; by_split: Record<string, number> };
    assert.equal(summary.by_split['train']! + summary.by_split['validation']!, summary.exported);
  });

  test('a sample lands in the same split whatever the format, the sharding or the rerun', async () => {
    const spec = await runSft(sftRun('same/a.jsonl', { split: 'train=0.5,validation=0.5', includePartial: true }));
    await runSft(sftRun('same/b.parquet', { split: 'train=0.5,validation=0.5', includePartial: true, maxRowsPerFile: 2 }));
    const view = await runSft(sftRun('same/c.jsonl', { split: 'train=0.5,validation=0.5', includePartial: true, format: 'sharegpt' }));
    const fromParquet: string[] = [];
    for (const name of (await readdir(path.join(dir, 'same'))).filter((file) => file.startsWith('b-train-')).sort()) {
      fromParquet.push(...(await duckdbRows(path.join(dir, 'same', name))).map((row) => (row as { id: string }).id));
    }
    assert.deepEqual(fromParquet, ids(await readText(path.join(dir, 'same', 'a-train.jsonl'))));
    assert.deepEqual([...view.counts.bySplit], [...spec.counts.bySplit]);
    const choose = splitChooser(parseSplits('train=0.98,validation=0.02'));
    const picks = Array.from({ length: 20_000 }, (_, n) => choose(`sft-${n}`));
    const share = picks.filter((split) => split === 'validation').length / picks.length;
    assert.ok(share > 0.015 && share < 0.025, `validation took ${share}`);
    assert.deepEqual(Array.from({ length: 100 }, (_, n) => choose(`sft-${n}`)), picks.slice(0, 100));
  });

  test('--split is checked at start: names, fractions that add up to 1', () => {
    assert.deepEqual(parseSplits('train=0.98, validation=0.02'), [{ name: 'train', fraction: 0.98 }, { name: 'validation', fraction: 0.02 }]);
    for (const bad of ['train=0.9,validation=0.2', 'Train=1', 'train', 'train=0.5,train=0.5', 'train=0,test=1']) assert.throws(() => parseSplits(bad), { code: 'DS_USAGE' }, bad);
  });

  test('the flags are taken by exactly the dataset commands; a set needs --out FILE; Parquet is refused for a quarantine', async () => {
    const usage = async (args: string[], message: RegExp): Promise<void> => {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    };
    for (const command of ['collect', 'score', 'export-all', 'run-all']) {
      for (const flag of ['--max-rows-per-file', '--max-bytes-per-file', '--split']) await usage([command, '--root', root, flag, '1'], new RegExp(flag));
    }
    for (const command of ['rag', 'preference', 'collect', 'score', 'export-all', 'run-all']) {
      await usage([command, '--root', root, '--context', 'user'], /--context/);
      await usage([command, '--root', root, '--system-prompt', 'x'], /--system-prompt/);
    }
    await usage(['sft', '--root', root, '--split', 'train=0.5,validation=0.5', '--out', '-'], /--split writes a set of files named after --out: give --out FILE \(not stdout\)/);
    await usage(['sft', '--root', root, '--quarantine', path.join(dir, 'q.parquet')], /--quarantine .*q\.parquet: Parquet is for datasets/);
    await usage(['sft', '--root', root, '--context', 'user', '--format', 'alpaca'], /--context and --system-prompt apply to the chat views/);
    for (const command of ['rag', 'preference']) {
      const result = await runCli([command, '--root', root, '--out', path.join(dir, command, 'x.jsonl.gz'), '--max-rows-per-file', '3', '--split', 'train=0.5,validation=0.5', ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok((await readdir(path.join(dir, command))).some((name) => /^x-train-00000-of-\d{5}\.jsonl\.gz$/.test(name)));
    }
  });
});

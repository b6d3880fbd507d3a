/**
 * The `vectors` commands through the built CLI, run from a folder that is not the root: the
 * spellings scripts rely on (`info --json` an object with count and dimension, `search --json` an
 * array best first), `add` from stdin, every path resolved against `--root`, and usage errors. The
 * contracts behind them are tested in-process in vectors-add, vectors-merge and vectors-search.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { VectorsInfo } from '../src/vectors/info.js';
import type { VectorsRecordCounts } from '../src/vectors/receipt.js';
import { vectorsSearch, type SearchHit } from '../src/vectors/search.js';
import { removeDir, runCli, tempDir } from './helpers.js';
import { GOLDEN_RAG, RECORDED_AT } from './vectors-helpers.js';

/** The last line of stderr, where `--json` puts the summary. */
const summaryOf = (stderr: string): VectorsRecordCounts => JSON.parse(stderr.trimEnd().split('\n').at(-1)!) as VectorsRecordCounts;

describe('vectors through the CLI', () => {
  let root = '';
  let elsewhere = '';
  /** Runs `vectors …` from `elsewhere`, with `--root` naming the root. */
  const vectors = (args: string[], stdin?: Buffer) => runCli(['vectors', ...args, '--root', root], { cwd: elsewhere, ...(stdin === undefined ? {} : { stdin }) });

  before(async () => {
    root = await tempDir('distill-vectors-cli-');
    elsewhere = await tempDir('distill-vectors-cwd-');
  });
  after(async () => {
    await removeDir(root);
    await removeDir(elsewhere);
  });

  test('vectors add reads stdin and makes the index under --root, not the working folder', async () => {
    const result = await vectors(['add', '--index', 'idx', '--recorded-at', RECORDED_AT, '--run-id', 'cli', '--json'], await readFile(GOLDEN_RAG));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(summaryOf(result.stderr), { in: 19, out: 19, quarantined: 0, added: 19, replaced: 0, updated: 0, unchanged: 0, by_reason: {}, by_category: { accepted: 12, partially_accepted: 7 } });
    assert.ok((await stat(path.join(root, 'idx', 'receipts', 'cli.vectors-add.json'))).isFile());
    assert.ok((await stat(path.join(root, 'exports', 'quarantine', 'vectors.jsonl'))).isFile(), 'the default quarantine is under the root');
    await assert.rejects(stat(path.join(elsewhere, 'idx')), { code: 'ENOENT' });
  });

  test('vectors info --json: an object with count and dimension, the index named relative to the root', async () => {
    const result = await vectors(['info', '--index', 'idx', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const info = JSON.parse(result.stdout) as VectorsInfo;
    assert.deepEqual([info.index, info.count, info.dimension, info.embedder.model], ['idx', 19, 512, 'feature-hash-v1']);
  });

  test('vectors search --json: a JSON array, best first, the hits the library finds', async () => {
    const query = 'tests red after applying the patch';
    const result = await vectors(['search', '--index', 'idx', query, '-k', '4', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const hits = JSON.parse(result.stdout) as SearchHit[];
    assert.ok(Array.isArray(hits));
    assert.equal(hits.length, 4);
    assert.equal(hits[0]!.title, 'Applied, tests red.');
    for (let n = 1; n < hits.length; n++) assert.ok(hits[n - 1]!.score >= hits[n]!.score, 'best first');
    assert.deepEqual(hits, await vectorsSearch({ root, index: 'idx', query, k: 4 }));
  });

  test('vectors merge resolves --from and --into against --root', async () => {
    const empty = await vectors(['add', '--index', 'main', '--recorded-at', RECORDED_AT], Buffer.alloc(0));
    assert.equal(empty.code, 0, empty.stderr);
    const result = await vectors(['merge', '--from', 'idx', '--into', 'main', '--recorded-at', RECORDED_AT, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual([summaryOf(result.stderr).out, summaryOf(result.stderr).skipped], [19, 0]);
    const info = JSON.parse((await vectors(['info', '--index', 'main', '--json'])).stdout) as VectorsInfo;
    assert.deepEqual([info.index, info.count], ['main', 19]);
  });

  test('usage errors exit 2 naming what is wrong; an index that is not there exits 3', async () => {
    const noQuery = await vectors(['search', '--index', 'idx']);
    assert.deepEqual([noQuery.code, noQuery.stdout], [2, '']);
    assert.match(noQuery.stderr, /vectors search takes one query/);
    const batch = await vectors(['search', '--index', 'idx', '--embed-batch', '4', 'flaky']);
    assert.equal(batch.code, 2, 'a search embeds one query: no --embed-batch');
    assert.match(batch.stderr, /--embed-batch/);
    const noInto = await vectors(['merge', '--from', 'idx']);
    assert.equal(noInto.code, 2);
    assert.match(noInto.stderr, /vectors merge needs --from DIR and --into DIR/);
    const missing = await vectors(['info', '--index', 'nowhere']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nowhere: no vector index here \(not found\)/);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { DistillError, EXIT_CODE } from '../src/errors.js';
import type { RagSample } from '../src/records.js';
import { vectorsAdd } from '../src/vectors/add.js';
import { createEmbedder, hashEmbedding, type Embedder } from '../src/vectors/embedders.js';
import { vectorsInfo, type VectorsInfo } from '../src/vectors/info.js';
import { vectorsMerge } from '../src/vectors/merge.js';
import { summaryLine, type VectorsReceipt } from '../src/vectors/receipt.js';
import { vectorsSearch } from '../src/vectors/search.js';
import { idSetHash, MANIFEST_FILE, VectorIndex } from '../src/vectors/store.js';
import { PROCESS_CONCURRENCY, removeDir, tempDir } from './helpers.js';
import { goldenSamples, RECORDED_AT, runLibrary, VECTORS_FIXTURES, writeJsonl } from './vectors-helpers.js';

const hash = createEmbedder({ kind: 'hash' });

async function build(root: string, name: string, samples: readonly RagSample[], embedder: Embedder = hash): Promise<void> {
  const file = await writeJsonl(path.join(root, `${name}.jsonl`), samples);
  await vectorsAdd({ root, index: name, inputs: [file], embedder, recordedAt: RECORDED_AT, runId: `build-${name}` });
}

const merge = (root: string, extra: Partial<Parameters<typeof vectorsMerge>[0]> = {}) =>
  vectorsMerge({ root, from: 'fresh', into: 'main', recordedAt: RECORDED_AT, runId: 'merge-1', ...extra });

const info = (root: string, index: string): Promise<VectorsInfo> => vectorsInfo({ root, index });

/** What a reader sees of an index: its count and id set. */
const contents = async (root: string, index: string): Promise<{ count: number; ids: string }> => {
  const { count, id_set_sha256 } = await info(root, index);
  return { count, ids: id_set_sha256 };
};

describe('vectors merge', () => {
  let root: string;
  let samples: RagSample[];
  /** fresh holds samples 0–9, main 5–14: five in common. */
  const union = (): { count: number; ids: string } => ({ count: 15, ids: idSetHash(samples.slice(0, 15).map((s) => s.id)) });
  beforeEach(async () => {
    root = await tempDir('distill-vectors-');
    samples = await goldenSamples();
    await build(root, 'fresh', samples.slice(0, 10));
    await build(root, 'main', samples.slice(5, 15));
  });
  afterEach(() => removeDir(root));

  test('drain and clear: the destination gets the new items, the source is emptied but stays an index', async () => {
    const result = await merge(root, { clearSource: true });
    assert.deepEqual(result.counts, { in: 10, out: 5, quarantined: 0, skipped: 5, by_reason: {}, by_category: {} });
    assert.equal(result.cleared, true);
    assert.deepEqual(await contents(root, 'main'), union());
    assert.deepEqual(await contents(root, 'fresh'), { count: 0, ids: idSetHash([]) });
    const [hit] = await vectorsSearch({ root, index: 'main', query: samples[0]!.embedding_text, k: 1 });
    assert.equal(hit!.id, samples[0]!.id);
    assert.equal(hit!.title, samples[0]!.title);

    const receipt = JSON.parse(await readFile(path.join(root, 'main', 'receipts', 'merge-1.vectors-merge.json'), 'utf8')) as VectorsReceipt;
    assert.deepEqual(receipt, result.receipt);
    assert.equal(result.receiptPath, 'main/receipts/merge-1.vectors-merge.json');
    assert.equal(receipt.stage, 'vectors-merge');
    assert.deepEqual(receipt.inputs.map((i) => i.path), ['fresh/distill-vectors.json', 'main/distill-vectors.json']);
    assert.deepEqual(receipt.outputs.map((i) => i.path), ['fresh/distill-vectors.json', 'main/distill-vectors.json']);
    assert.deepEqual([receipt.index.count, receipt.source!.count, receipt.validation.passed], [15, 0, true]);
    assert.equal(summaryLine(receipt), '[vectors-merge] read=10 inserted=5 skipped=5 count=15 source_count=0 {}\n');

    const refill = await writeJsonl(path.join(root, 'refill.jsonl'), samples.slice(15));
    const added = await vectorsAdd({ root, index: 'fresh', inputs: [refill], embedder: hash, recordedAt: RECORDED_AT });
    assert.equal(added.counts.added, 4, 'a cleared source takes new playbooks');
  });

  test('a rerun is idempotent: every item is already there and skipped', async () => {
    await merge(root);
    const again = await merge(root, { runId: 'merge-2' });
    assert.deepEqual([again.counts.in, again.counts.out, again.counts.skipped], [10, 0, 10]);
    assert.deepEqual(await contents(root, 'main'), union());
    assert.deepEqual(await contents(root, 'fresh'), { count: 10, ids: idSetHash(samples.slice(0, 10).map((s) => s.id)) }, 'no --clear-source, source kept');
    await merge(root, { clearSource: true, runId: 'merge-3' });
    const drained = await merge(root, { clearSource: true, runId: 'merge-4' });
    assert.deepEqual([drained.counts.in, drained.counts.out], [0, 0]);
    assert.deepEqual(await contents(root, 'main'), union());
  });

  test('an item already in the destination is skipped, not replaced', async () => {
    const edited = { ...samples[5]!, embedding_text: 'a newer text in fresh' };
    const file = await writeJsonl(path.join(root, 'edit.jsonl'), [edited]);
    await vectorsAdd({ root, index: 'fresh', inputs: [file], embedder: hash, recordedAt: RECORDED_AT });
    await merge(root);
    const [hit] = await vectorsSearch({ root, index: 'main', query: samples[5]!.embedding_text, k: 1 });
    assert.equal(hit!.id, samples[5]!.id);
    assert.ok(Math.abs(hit!.score - 1) < 1e-6, "main keeps its own vector for the id");
  });

  test('a dimension mismatch is refused and nothing changes', async () => {
    await build(root, 'small', samples.slice(0, 3), createEmbedder({ kind: 'hash', dimension: 64 }));
    const before = await contents(root, 'main');
    await assert.rejects(merge(root, { from: 'small' }), (error: DistillError) => {
      assert.equal(error.code, 'DS_VALIDATION');
      assert.equal(EXIT_CODE[error.code], 1);
      assert.match(error.message, /^dimension mismatch: small holds 64-dimensional vectors, main 512-dimensional ones$/);
      return true;
    });
    assert.deepEqual(await contents(root, 'main'), before);
    assert.equal((await info(root, 'small')).count, 3);
  });

  test('indexes of different embedders at one dimension are refused', async () => {
    const other: Embedder = { identity: { kind: 'openai', model: 'other' }, dimension: 512, batchSize: 64, embed: async (texts) => texts.map((t) => hashEmbedding(t, 512)) };
    await build(root, 'foreign', samples.slice(0, 2), other);
    await assert.rejects(merge(root, { from: 'foreign' }), { code: 'DS_VALIDATION', message: /foreign was built by the openai embedder 'other', main by the hash embedder 'feature-hash-v1'/ });
  });

  test('a missing destination is "not found", an I/O error naming the path (exit 3)', async () => {
    for (const into of ['nowhere', 'nowhere/deeper']) {
      await assert.rejects(merge(root, { into }), (error: DistillError) => {
        assert.equal(error.code, 'DS_IO');
        assert.equal(EXIT_CODE[error.code], 3);
        assert.equal(error.message, `${into}: no vector index here (not found)`);
        assert.equal(error.path, into);
        return true;
      });
    }
    await mkdir(path.join(root, 'empty'));
    await assert.rejects(merge(root, { into: 'empty' }), { code: 'DS_IO', message: 'empty: no vector index here (not found)' });
    await assert.rejects(merge(root, { from: 'gone' }), { code: 'DS_IO', message: 'gone: no vector index here (not found)' });
    assert.equal((await info(root, 'fresh')).count, 10);
  });

  test('merging an index into itself is refused, however the path is spelled', async () => {
    await symlink(path.join(root, 'main'), path.join(root, 'main-link'));
    const before = await contents(root, 'main');
    for (const from of ['main', 'main/', './main', 'main/../main', path.join(root, 'main'), 'main-link']) {
      await assert.rejects(merge(root, { from, clearSource: true }), (error: DistillError) => {
        assert.equal(error.code, 'DS_USAGE');
        assert.match(error.message, /cannot merge an index into itself/);
        return true;
      }, from);
    }
    assert.deepEqual(await contents(root, 'main'), before);
  });

  test('a damaged or newer index is an I/O error naming the file, never a crash', async () => {
    const manifestOf = (name: string): string => path.join(root, name, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(manifestOf('main'), 'utf8')) as Record<string, unknown>;

    await writeFile(manifestOf('main'), '{"format": "distill-stream-vectors", ');
    await assert.rejects(merge(root), { code: 'DS_IO', message: `main/${MANIFEST_FILE}: damaged manifest (not JSON)` });
    await writeFile(manifestOf('main'), JSON.stringify({ ...manifest, format_version: 2 }));
    await assert.rejects(merge(root), { code: 'DS_IO', message: /format version 2 is newer than this build reads \(1\)/ });
    await writeFile(manifestOf('main'), JSON.stringify({ ...manifest, dimension: 'wide' }));
    await assert.rejects(merge(root), { code: 'DS_IO', message: /main\/distill-vectors\.json: damaged manifest: \/dimension must be integer/ });
    await writeFile(manifestOf('main'), JSON.stringify({ ...manifest, table_version: 999 }));
    await assert.rejects(merge(root), { code: 'DS_IO', message: 'main: damaged index: its table has no version 999' });
    await writeFile(manifestOf('main'), JSON.stringify({ something: 'else' }));
    await assert.rejects(info(root, 'main'), { code: 'DS_IO', message: /not a distill-stream vector index manifest/ });
    // Larger than any manifest (sparse: nothing is read), and a FIFO no one writes (a blocking read would hang).
    await truncate(manifestOf('main'), 2 << 20);
    await assert.rejects(info(root, 'main'), { code: 'DS_IO', message: `main/${MANIFEST_FILE}: damaged manifest (larger than 1048576 bytes)` });
    await rm(manifestOf('main'));
    execFileSync('mkfifo', [manifestOf('main')]);
    await assert.rejects(info(root, 'main'), { code: 'DS_IO', message: `main/${MANIFEST_FILE}: damaged manifest (not a regular file)` });
    assert.equal((await info(root, 'fresh')).count, 10, 'the source is untouched');
  });
});

describe('items without metadata', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempDir('distill-vectors-');
  });
  afterEach(() => removeDir(root));

  test('survive a save and reopen, count in the id set, are found by search, and survive a merge', async () => {
    const dimension = 512;
    const bare = ['bare-a', 'bare-b', 'bare-c'].map((id) => ({ id, vector: hashEmbedding(`${id} quiet words`, dimension), text_sha256: '0'.repeat(64), metadata: null }));
    const index = await VectorIndex.create(path.join(root, 'fresh'), 'fresh', { embedder: hash.identity, dimension });
    await index.insert(bare);
    await index.commit();
    await index.close();

    const reopened = await VectorIndex.open(path.join(root, 'fresh'), 'fresh');
    try {
      assert.deepEqual((await reopened.ids()).sort(), ['bare-a', 'bare-b', 'bare-c']);
      assert.deepEqual(await reopened.idSummary(), { count: 3, id_set_sha256: idSetHash(['bare-a', 'bare-b', 'bare-c']) });
      for await (const batch of reopened.items()) for (const item of batch) assert.equal(item.metadata, null);
    } finally {
      await reopened.close();
    }
    const [hit] = await vectorsSearch({ root, index: 'fresh', query: 'bare-b', k: 1 });
    assert.deepEqual({ ...hit, score: 0 }, { id: 'bare-b', score: 0, title: null, tags: null, source_run_id: null });

    const samples = await goldenSamples();
    await build(root, 'main', samples.slice(0, 2));
    await vectorsMerge({ root, from: 'fresh', into: 'main', clearSource: true, recordedAt: RECORDED_AT });
    const main = await VectorIndex.open(path.join(root, 'main'), 'main');
    try {
      assert.deepEqual((await main.ids()).sort(), ['bare-a', 'bare-b', 'bare-c', samples[0]!.id, samples[1]!.id].sort());
    } finally {
      await main.close();
    }
    assert.equal((await vectorsInfo({ root, index: 'main' })).count, 5);
  });
});

describe('format version 1 without the id-set fields (data-fixtures/vectors/v1-minimal)', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempDir('distill-vectors-');
    await cp(path.join(VECTORS_FIXTURES, 'v1-minimal'), path.join(root, 'old'), { recursive: true });
  });
  afterEach(() => removeDir(root));

  test('opens: info recomputes the count and id hash from the table, search and merge read it', async () => {
    const manifest = JSON.parse(await readFile(path.join(root, 'old', MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
    assert.ok(!('count' in manifest) && !('id_set_sha256' in manifest), 'the fixture is the minimal manifest');
    const samples = (await goldenSamples()).slice(0, 3);
    const ids = [...samples.map((s) => s.id), 'item-without-metadata'];
    const old = await info(root, 'old');
    assert.deepEqual([old.format_version, old.dimension, old.count, old.id_set_sha256], [1, 16, 4, idSetHash(ids)]);
    const hits = await vectorsSearch({ root, index: 'old', query: samples[1]!.embedding_text, k: 4 });
    assert.equal(hits[0]!.id, samples[1]!.id);
    assert.deepEqual(hits.map((h) => h.id).sort(), [...ids].sort());

    await build(root, 'main', (await goldenSamples()).slice(10, 12), createEmbedder({ kind: 'hash', dimension: 16 }));
    const merged = await vectorsMerge({ root, from: 'old', into: 'main', recordedAt: RECORDED_AT });
    assert.equal(merged.counts.out, 4);
  });

  test('a write commits the full manifest', async () => {
    const file = await writeJsonl(path.join(root, 'more.jsonl'), (await goldenSamples()).slice(3, 5));
    await vectorsAdd({ root, index: 'old', inputs: [file], embedder: createEmbedder({ kind: 'hash', dimension: 16 }), recordedAt: RECORDED_AT });
    const manifest = JSON.parse(await readFile(path.join(root, 'old', MANIFEST_FILE), 'utf8')) as { count: number; id_set_sha256: string };
    assert.equal(manifest.count, 6);
    assert.equal(manifest.id_set_sha256, (await info(root, 'old')).id_set_sha256);
  });
});

// Each case kills a child process: they run concurrently, each on indexes of its own.
describe('a killed merge', { concurrency: PROCESS_CONCURRENCY }, () => {

  const cases = [
    { point: 'merge-after-first-batch', destination: 'as before' },
    { point: 'merge-before-commit', destination: 'as before' },
    { point: 'merge-before-clear', destination: 'fully merged' },
    { point: 'merge-before-source-commit', destination: 'fully merged' },
  ] as const;
  for (const { point, destination } of cases) {
    test(`killed at ${point}: the destination is ${destination}, the source still full, and a rerun finishes`, async (t) => {
      const root = await tempDir('distill-vectors-');
      t.after(() => removeDir(root));
      const samples = await goldenSamples();
      await build(root, 'fresh', samples.slice(0, 10));
      await build(root, 'main', samples.slice(5, 15));
      const mainBefore = await contents(root, 'main');
      const freshBefore = await contents(root, 'fresh');
      const merged = { count: 15, ids: idSetHash(samples.slice(0, 15).map((s) => s.id)) };
      const killed = await runLibrary('vectorsMerge', { root, from: 'fresh', into: 'main', clearSource: true, recordedAt: RECORDED_AT, batchSize: 2 }, { killAt: point });
      assert.equal(killed.signal, 'SIGKILL', killed.stderr);

      assert.deepEqual(await contents(root, 'main'), destination === 'as before' ? mainBefore : merged);
      assert.deepEqual(await contents(root, 'fresh'), freshBefore);
      const hits = await vectorsSearch({ root, index: 'main', query: samples[0]!.embedding_text, k: 1 });
      assert.equal(hits[0]!.id === samples[0]!.id, destination === 'fully merged', 'readers see only committed items');

      const rerun = await merge(root, { clearSource: true, runId: 'merge-rerun' });
      assert.equal(rerun.counts.out, destination === 'as before' ? 5 : 0);
      assert.deepEqual(await contents(root, 'main'), merged);
      assert.deepEqual(await contents(root, 'fresh'), { count: 0, ids: idSetHash([]) });
    });
  }
});

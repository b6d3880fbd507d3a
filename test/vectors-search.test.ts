import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RagSample } from '../src/records.js';
import { vectorsAdd } from '../src/vectors/add.js';
import { createEmbedder, hashEmbedding } from '../src/vectors/embedders.js';
import { formatInfo, vectorsInfo } from '../src/vectors/info.js';
import { byScoreThenId, coversTopK, distanceMargin, dot, formatHits, rankCandidates, vectorsSearch, type SearchHit } from '../src/vectors/search.js';
import type { Candidate } from '../src/vectors/store.js';
import { removeDir, tempDir } from './helpers.js';
import { generatedSamples, goldenSamples, ragSample, RECORDED_AT, writeJsonl } from './vectors-helpers.js';

const DIMENSION = 512;

/** The reference: every sample embedded on its own and scored in float64 against the query, best first, ties by id. */
function bruteForce(samples: readonly RagSample[], query: string, k: number): Array<{ id: string; score: number }> {
  const q = hashEmbedding(query, DIMENSION);
  const latest = new Map<string, string>();
  for (const s of samples) latest.set(s.id, s.embedding_text);
  return [...latest]
    .map(([id, text]) => ({ id, score: dot(q, hashEmbedding(text, DIMENSION)) }))
    .sort(byScoreThenId)
    .slice(0, k);
}

const QUERIES = ['patch tests red', 'forensic audit of app.ts', 'flaky test', 'merge fresh into main', 'risk markers for the contractor permit', 'verdict', 'zeppelin'];

describe('vectors search returns the exact nearest neighbours', () => {
  let root: string;
  let samples: RagSample[];
  before(async () => {
    root = await tempDir('distill-vectors-');
    samples = [...(await goldenSamples()), ...generatedSamples(300)];
    const file = await writeJsonl(path.join(root, 'fixture.jsonl'), samples);
    await vectorsAdd({ root, index: 'idx', inputs: [file], embedder: createEmbedder({ kind: 'hash' }), recordedAt: RECORDED_AT, batchSize: 64 });
  });
  after(() => removeDir(root));

  for (const k of [1, 5, 40, 400]) {
    test(`the same ids and scores as a brute-force scan, k=${k}`, async () => {
      for (const query of QUERIES) {
        const hits = await vectorsSearch({ root, index: 'idx', query, k });
        const expected = bruteForce(samples, query, k);
        assert.deepEqual(hits.map((h) => ({ id: h.id, score: h.score })), expected, query);
      }
    });
  }

  test('ties are broken by id, and a tie group larger than the first scan widens it', async () => {
    // every fifth generated text repeats an earlier one; a query sharing no token scores 0 everywhere
    const hits = await vectorsSearch({ root, index: 'idx', query: 'zeppelin', k: 50 });
    assert.ok(hits.every((h) => h.score === 0));
    assert.deepEqual(hits.map((h) => h.id), [...new Set(samples.map((s) => s.id))].sort().slice(0, 50));
  });

  test('hits carry the stored title, tags and source run, best first', async () => {
    const golden = samples[1]!;
    const [hit] = await vectorsSearch({ root, index: 'idx', query: golden.embedding_text, k: 1 });
    assert.deepEqual(hit, { id: golden.id, score: hit!.score, title: golden.title, tags: golden.tags, source_run_id: golden.source_run_id });
    assert.ok(Math.abs(hit!.score - 1) < 1e-6);
    assert.match(formatHits([hit!]), new RegExp(`^1\\.0000  ${golden.id}  --- a/src/patch\\.ts  \\[task:patch, category:accepted, role:applier, file:src/patch\\.ts\\]\\n$`));
  });

  test('k, the query and the embedder are checked', async () => {
    for (const k of [0, -1, 2.5]) await assert.rejects(vectorsSearch({ root, index: 'idx', query: 'x', k }), { code: 'DS_USAGE' });
    await assert.rejects(vectorsSearch({ root, index: 'idx', query: '  ' }), { code: 'DS_USAGE', message: /query is empty/ });
    await assert.rejects(vectorsSearch({ root, index: 'idx', query: 'x', embedder: createEmbedder({ kind: 'hash', dimension: 64 }) }), { code: 'DS_VALIDATION', message: /dimension mismatch/ });
    await assert.rejects(vectorsSearch({ root, index: 'missing', query: 'x' }), { code: 'DS_IO', message: 'missing: no vector index here (not found)' });
    assert.equal((await vectorsSearch({ root, index: 'idx', query: 'patch' })).length, 5, 'k defaults to 5');
  });

  test('info: count, dimension and the id-set hash', async () => {
    const info = await vectorsInfo({ root, index: 'idx' });
    assert.deepEqual([info.count, info.dimension, info.embedder.model, info.format_version], [319, 512, 'feature-hash-v1', 1]);
    assert.match(formatInfo(info), /^index: idx\nformat: distill-stream-vectors v1\nembedder: hash feature-hash-v1\ndimension: 512\ndistance: cosine\ncount: 319\nid_set_sha256: [0-9a-f]{64}\ntable_version: \d+\n$/);
  });
});

describe('the exactness argument, on its own', () => {
  const candidate = (id: string, distance: number): Candidate => ({ id, vector: new Float32Array([1 - distance, 0]), distance, title: null, tags: null, source_run_id: null });

  test('a scan covers the top k when it saw every item or ends past the k-th by more than the float32 margin', () => {
    const margin = distanceMargin(512);
    assert.ok(margin > 512 * 2 ** -24 && margin < 1e-4);
    const near = [candidate('a', 0.1), candidate('b', 0.2), candidate('c', 0.2 + margin / 2)];
    assert.equal(coversTopK(near, 3, 2, margin), false, 'the last one may still tie the k-th');
    assert.equal(coversTopK(near, 4, 2, margin), true, 'fewer than asked: nothing left out');
    assert.equal(coversTopK([...near.slice(0, 2), candidate('c', 0.2 + 2 * margin)], 3, 2, margin), true);
  });

  test('candidates are rescored in float64 and ordered by score, then id', () => {
    const query = new Float32Array([1, 0]);
    const ranked: SearchHit[] = rankCandidates([candidate('b', 0.5), candidate('a', 0.5), candidate('c', 0.25)], query, 3);
    assert.deepEqual(ranked.map((h) => [h.id, h.score]), [['c', 0.75], ['a', 0.5], ['b', 0.5]]);
  });

  test('a vector for a text with no tokens scores 0 against everything and is still found', async () => {
    const root = await tempDir('distill-vectors-');
    try {
      const file = await writeJsonl(path.join(root, 'z.jsonl'), [ragSample('punct', '!!! ???'), ragSample('words', 'some words')]);
      await vectorsAdd({ root, index: 'idx', inputs: [file], embedder: createEmbedder({ kind: 'hash' }), recordedAt: RECORDED_AT });
      const [best, other] = await vectorsSearch({ root, index: 'idx', query: 'some words', k: 2 });
      assert.ok(Math.abs(best!.score - 1) < 1e-6);
      assert.deepEqual([other!.id, other!.score], [ragSample('punct', '').id, 0]);
    } finally {
      await removeDir(root);
    }
  });
});

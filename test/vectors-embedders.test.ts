import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DistillError } from '../src/errors.js';
import { createEmbedder, embeddingsEndpoint, fnv1a32, hashEmbedding } from '../src/vectors/embedders.js';
import { vectorsAdd } from '../src/vectors/add.js';
import { vectorsInfo } from '../src/vectors/info.js';
import { vectorsSearch } from '../src/vectors/search.js';
import { removeDir, tempDir } from './helpers.js';
import { fakeEmbeddings, GOLDEN_RAG, ragSample, RECORDED_AT, stubServer, writeJsonl, type StubServer } from './vectors-helpers.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const norm = (v: Float32Array): number => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

describe('the hash embedder', () => {
  test('FNV-1a of the UTF-8 bytes: the published test vectors, and any text as TextEncoder encodes it', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    const reference = (text: string): number => utf8(text).reduce((hash, b) => Math.imul(hash ^ b, 0x01000193) >>> 0, 0x811c9dc5);
    for (const text of ['sévérité', '修正', 'émoji😀', 'Ω\u0301', 'lone \ud800 high', 'lone \udc00 low', 'end \ud83d', '\u07ff\u0800\uffff']) {
      assert.equal(fnv1a32(text), reference(text), JSON.stringify(text));
    }
  });

  test('golden vectors for fixed texts', () => {
    const s = Math.fround(1 / Math.sqrt(8));
    const d = Math.fround(2 / Math.sqrt(8));
    assert.deepEqual(Array.from(hashEmbedding('Fix the flaky test in src/patch.ts', 16)), [-s, 0, 0, 0, 0, -s, 0, 0, s, -d, 0, 0, -s, 0, 0, 0]);
    const v = hashEmbedding('No findings. Applied, tests red; tests green.', 512);
    const nonZero = Array.from(v.entries()).filter(([, x]) => x !== 0);
    const third = Math.fround(1 / 3);
    assert.deepEqual(nonZero, [[188, -third], [202, third], [207, third], [220, third], [290, Math.fround(2 / 3)], [506, -third]]);
  });

  test('deterministic, unit length, blind to case, width and punctuation', () => {
    const a = hashEmbedding('Applied, tests red.', 512);
    assert.deepEqual(hashEmbedding('Applied, tests red.', 512), a);
    assert.ok(Math.abs(norm(a) - 1) < 1e-6);
    assert.deepEqual(hashEmbedding('ＡＰＰＬＩＥＤ tests—RED', 512), a, 'NFKC and lower case');
    assert.deepEqual(Array.from(hashEmbedding('!!! ...', 64)), new Array(64).fill(0), 'no tokens: the zero vector');
  });

  test('createEmbedder picks and checks once', async () => {
    const hash = createEmbedder({ kind: 'hash' });
    assert.deepEqual(hash.identity, { kind: 'hash', model: 'feature-hash-v1' });
    assert.equal(hash.dimension, 512);
    assert.equal(createEmbedder({ kind: 'hash', dimension: 64 }).dimension, 64);
    assert.deepEqual((await hash.embed(['a b'], undefined))[0], hashEmbedding('a b', 512));
    for (const bad of [0, 7, 8193, 1.5]) assert.throws(() => createEmbedder({ kind: 'hash', dimension: bad }), { code: 'DS_USAGE' });
    assert.throws(() => createEmbedder({ kind: 'hash', url: 'http://127.0.0.1:1' }), { code: 'DS_USAGE' });
    assert.throws(() => createEmbedder({ kind: 'openai', model: 'm' }), { code: 'DS_USAGE', message: /--embed-url/ });
    assert.throws(() => createEmbedder({ kind: 'openai', url: 'http://127.0.0.1:1' }), { code: 'DS_USAGE', message: /--embed-model/ });
    assert.throws(() => createEmbedder({ kind: 'openai', url: 'ftp://host', model: 'm' }), { code: 'DS_USAGE' });
  });
});

describe('--embed-batch', () => {
  /** The vectors of `texts`, and how many turns the event loop had while they were made. */
  async function embedCountingTurns(batchSize: number, texts: string[]): Promise<{ vectors: Float32Array[]; turns: number }> {
    let turns = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const vectors = await createEmbedder({ kind: 'hash', dimension: 16, batchSize }).embed(texts, undefined);
    done = true;
    return { vectors, turns };
  }

  test('the hash embedder hashes that many texts per call, the process getting a turn between calls; the vectors are the same', async () => {
    const texts = ['a', 'b c', 'd', 'e f g', 'h'];
    const expected = texts.map((text) => hashEmbedding(text, 16));
    const whole = await embedCountingTurns(64, texts);
    const sliced = await embedCountingTurns(2, texts);
    assert.deepEqual(whole.vectors, expected);
    assert.deepEqual(sliced.vectors, expected);
    assert.equal(whole.turns, 0, 'one call: no turn in between');
    assert.ok(sliced.turns >= 2, `three calls: a turn between each (${sliced.turns})`);
    assert.equal(createEmbedder({ kind: 'hash', batchSize: 2 }).batchSize, 2);
    for (const kind of ['hash', 'openai'] as const) {
      assert.throws(() => createEmbedder({ kind, url: kind === 'hash' ? undefined : 'http://127.0.0.1:1', model: kind === 'hash' ? undefined : 'm', batchSize: 0 }), { code: 'DS_USAGE', message: /--embed-batch must be a positive integer, not 0/ });
    }
  });
});

describe('the embeddings URL rule', () => {
  test('a base URL, one ending in /v1, or the full endpoint', () => {
    assert.equal(embeddingsEndpoint('http://localhost:11434'), 'http://localhost:11434/v1/embeddings');
    assert.equal(embeddingsEndpoint('http://localhost:11434/'), 'http://localhost:11434/v1/embeddings');
    assert.equal(embeddingsEndpoint('http://localhost:8080/v1'), 'http://localhost:8080/v1/embeddings');
    assert.equal(embeddingsEndpoint('http://localhost:8080/v1/'), 'http://localhost:8080/v1/embeddings');
    assert.equal(embeddingsEndpoint('https://host/api/v1/embeddings'), 'https://host/api/v1/embeddings');
    assert.throws(() => embeddingsEndpoint('not a url'), { code: 'DS_USAGE' });
  });
});

describe('the OpenAI-compatible embedder against a stub server on 127.0.0.1', () => {
  let server: StubServer;
  let answer: Parameters<typeof stubServer>[0];
  before(async () => {
    server = await stubServer((body, n) => answer(body, n));
  });
  after(() => server.close());
  const reset = (next: typeof answer): void => {
    server.requests.length = 0;
    answer = next;
  };
  const endpoint = (options: Partial<Parameters<typeof createEmbedder>[0]> = {}) =>
    createEmbedder({ kind: 'openai', url: `${server.url}/v1`, model: 'stub-embed', retryDelayMs: 1, ...options });

  test('batches the texts, sends the model and the key from the named variable, normalises the vectors', async () => {
    reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 4) }));
    process.env['VECTORS_TEST_KEY'] = 'sk-test';
    try {
      const embedder = endpoint({ batchSize: 2, apiKeyEnv: 'VECTORS_TEST_KEY' });
      const vectors = await embedder.embed(['a', 'bb', 'ccc', 'dddd', 'eeeee'], undefined);
      assert.equal(vectors.length, 5);
      assert.deepEqual(server.requests.map((r) => r.body.input), [['a', 'bb'], ['ccc', 'dddd'], ['eeeee']]);
      assert.ok(server.requests.every((r) => r.body.model === 'stub-embed' && r.authorization === 'Bearer sk-test'));
      for (const v of vectors) assert.ok(Math.abs(norm(v) - 1) < 1e-6);
      assert.equal(embedder.dimension, 4, 'learnt from the first answer');
    } finally {
      delete process.env['VECTORS_TEST_KEY'];
    }
    reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 4) }));
    await endpoint().embed(['x'], undefined);
    assert.equal(server.requests[0]!.authorization, undefined, 'no key, no Authorization header');
  });

  test('answers out of order are put back by index', async () => {
    reset((body) => ({ status: 200, json: { data: fakeEmbeddings(body.input, 3).data.reverse() } }));
    const [a, b] = await endpoint().embed(['a', 'bbbb'], undefined);
    reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 3) }));
    const [a2, b2] = await endpoint().embed(['a', 'bbbb'], undefined);
    assert.deepEqual([a, b], [a2, b2]);
  });

  test('a 500 then a success: retried, and the answer used', async () => {
    reset((body, n) => (n === 1 ? { status: 500, text: 'overloaded' } : { status: 200, json: fakeEmbeddings(body.input, 4) }));
    const vectors = await endpoint().embed(['a'], undefined);
    assert.equal(vectors.length, 1);
    assert.equal(server.requests.length, 2);
  });

  test('429 is retried too; attempts are bounded and the error names the URL', async () => {
    reset(() => ({ status: 429, text: 'slow down', headers: { 'retry-after': '0' } }));
    await assert.rejects(endpoint({ maxAttempts: 3 }).embed(['a'], undefined), (error: DistillError) => {
      assert.equal(error.code, 'DS_IO');
      assert.match(error.message, new RegExp(`${server.url}/v1/embeddings: HTTP 429: slow down \\(gave up after 3 attempts\\)`));
      return true;
    });
    assert.equal(server.requests.length, 3);
  });

  test('a client error (bad key) is not retried', async () => {
    reset(() => ({ status: 401, text: 'invalid api key' }));
    await assert.rejects(endpoint().embed(['a'], undefined), { code: 'DS_IO', message: /HTTP 401: invalid api key/ });
    assert.equal(server.requests.length, 1);
  });

  test('an unreachable server is a DS_IO error after the retries', async () => {
    const embedder = createEmbedder({ kind: 'openai', url: 'http://127.0.0.1:9', model: 'm', retryDelayMs: 1, maxAttempts: 2 });
    await assert.rejects(embedder.embed(['a'], undefined), { code: 'DS_IO', message: /^http:\/\/127\.0\.0\.1:9\/v1\/embeddings: .*gave up after 2 attempts/ });
  });

  test('a malformed answer is a DS_IO error', async () => {
    reset(() => ({ status: 200, json: { data: [{ index: 0, embedding: ['x'] }] } }));
    await assert.rejects(endpoint().embed(['a'], undefined), { code: 'DS_IO', message: /not an embeddings answer/ });
    reset(() => ({ status: 200, json: { data: [] } }));
    await assert.rejects(endpoint().embed(['a'], undefined), { code: 'DS_IO', message: /0 embeddings for 1 texts/ });
  });

  test('a wrong dimension is a DS_VALIDATION error naming the URL', async () => {
    reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 6) }));
    await assert.rejects(endpoint({ dimension: 8 }).embed(['a'], undefined), (error: DistillError) => {
      assert.equal(error.code, 'DS_VALIDATION');
      assert.match(error.message, /\/v1\/embeddings: model 'stub-embed' answered 6-dimensional embeddings, expected 8/);
      return true;
    });
    await assert.rejects(endpoint().embed(['a'], 8), { code: 'DS_VALIDATION' }, "the caller's index dimension counts too");
  });

  test('an index built through the endpoint: add, refuse a wrong dimension, search with the same endpoint only', async () => {
    const root = await tempDir('distill-vectors-');
    try {
      reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 8) }));
      const added = await vectorsAdd({ root, index: 'idx', inputs: [GOLDEN_RAG], embedder: endpoint({ batchSize: 8 }), recordedAt: RECORDED_AT, runId: 'r1' });
      assert.equal(added.counts.added, 19);
      assert.deepEqual(server.requests.map((r) => r.body.input.length), [8, 8, 3]);
      const info = await vectorsInfo({ root, index: 'idx' });
      assert.deepEqual([info.embedder, info.dimension, info.count], [{ kind: 'openai', model: 'stub-embed' }, 8, 19]);

      reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 12) }));
      const changed = path.join(root, 'one.jsonl');
      await writeJsonl(changed, [ragSample('new', 'a text the index has not seen')]);
      await assert.rejects(vectorsAdd({ root, index: 'idx', inputs: [changed], embedder: endpoint(), recordedAt: RECORDED_AT }), { code: 'DS_VALIDATION', message: /answered 12-dimensional embeddings, expected 8/ });
      assert.equal((await vectorsInfo({ root, index: 'idx' })).count, 19, 'nothing committed');

      await assert.rejects(vectorsSearch({ root, index: 'idx', query: 'patch' }), { code: 'DS_USAGE', message: /--embed-url/ });
      await assert.rejects(vectorsSearch({ root, index: 'idx', query: 'patch', embedder: createEmbedder({ kind: 'hash', dimension: 8 }) }), { code: 'DS_USAGE', message: /built by the openai embedder 'stub-embed'/ });
      reset((body) => ({ status: 200, json: fakeEmbeddings(body.input, 8) }));
      const hits = await vectorsSearch({ root, index: 'idx', query: 'patch', k: 3, embedder: endpoint() });
      assert.equal(hits.length, 3);
    } finally {
      await removeDir(root);
    }
  });
});

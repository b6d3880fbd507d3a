import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { QuarantineRecord, RagSample } from '../src/records.js';
import { combinedHash } from '../src/report/hashes.js';
import { vectorsAdd } from '../src/vectors/add.js';
import { createEmbedder } from '../src/vectors/embedders.js';
import { vectorsInfo } from '../src/vectors/info.js';
import { summaryLine, type VectorsReceipt } from '../src/vectors/receipt.js';
import { vectorsSearch } from '../src/vectors/search.js';
import { idSetHash, VectorIndex } from '../src/vectors/store.js';
import { runRag } from '../pipelines/stage.js';
import { fixtureCopy, PROCESS_CONCURRENCY, readText, removeDir, tempDir } from './helpers.js';
import { GOLDEN_RAG, goldenSamples, ragSample, RECORDED_AT, runLibrary, writeJsonl } from './vectors-helpers.js';

const hash = createEmbedder({ kind: 'hash' });
const add = (root: string, inputs: string[], extra: Partial<Parameters<typeof vectorsAdd>[0]> = {}) =>
  vectorsAdd({ root, index: 'idx', inputs, embedder: hash, recordedAt: RECORDED_AT, runId: 'run-1', ...extra });

/** Every stored item of the index's committed version, by id. */
async function storedItems(folder: string) {
  const index = await VectorIndex.open(folder, 'idx');
  try {
    const items = new Map<string, { text_sha256: string; title: string | null }>();
    for await (const batch of index.items()) for (const item of batch) items.set(item.id, { text_sha256: item.text_sha256, title: item.metadata?.title ?? null });
    return items;
  } finally {
    await index.close();
  }
}

/** A folder of the test's own for its indexes, removed when it ends: the tests run concurrently. */
async function ownRoot(t: TestContext): Promise<string> {
  const root = await tempDir('distill-vectors-');
  t.after(() => removeDir(root));
  return root;
}

// Four tests run the library in a child process (stdin, a kill): concurrently, they overlap the rest.
describe('vectors add', { concurrency: PROCESS_CONCURRENCY }, () => {

  test('stores every sample of the golden RAG export with its metadata, and info reports it', async (t) => {
    const root = await ownRoot(t);
    const result = await add(root, [GOLDEN_RAG]);
    const samples = await goldenSamples();
    assert.deepEqual(result.counts, { in: 19, out: 19, quarantined: 0, added: 19, replaced: 0, updated: 0, unchanged: 0, by_reason: {}, by_category: { accepted: 12, partially_accepted: 7 } });
    const info = await vectorsInfo({ root, index: 'idx' });
    assert.equal(info.count, 19);
    assert.equal(info.dimension, 512);
    assert.equal(info.id_set_sha256, idSetHash(samples.map((s) => s.id)));
    const index = await VectorIndex.open(path.join(root, 'idx'), 'idx');
    try {
      const first = samples[0]!;
      for await (const batch of index.items()) {
        const item = batch.find((i) => i.id === first.id);
        if (item === undefined) continue;
        assert.deepEqual(item.metadata, { title: first.title, tags: first.tags, source_run_id: first.source_run_id, provenance: first.provenance });
      }
    } finally {
      await index.close();
    }
  });

  test('re-adding the same samples is a no-op: nothing embedded or written, the table version unchanged', async (t) => {
    const root = await ownRoot(t);
    await add(root, [GOLDEN_RAG]);
    const before = await vectorsInfo({ root, index: 'idx' });
    const again = await add(root, [GOLDEN_RAG], { runId: 'run-2' });
    assert.deepEqual([again.counts.added, again.counts.replaced, again.counts.updated, again.counts.unchanged], [0, 0, 0, 19]);
    assert.deepEqual(await vectorsInfo({ root, index: 'idx' }), before);
  });

  test('a changed text for the same id replaces the stored item', async (t) => {
    const root = await ownRoot(t);
    await add(root, [GOLDEN_RAG]);
    const samples = await goldenSamples();
    const changed: RagSample = { ...samples[3]!, title: 'Rewritten', embedding_text: 'an entirely rewritten playbook about zeppelins' };
    const file = await writeJsonl(path.join(root, 'changed.jsonl'), [samples[0], changed]);
    const result = await add(root, [file], { runId: 'run-2' });
    assert.deepEqual([result.counts.added, result.counts.replaced, result.counts.updated, result.counts.unchanged], [0, 1, 0, 1]);
    const items = await storedItems(path.join(root, 'idx'));
    assert.equal(items.size, 19);
    assert.equal(items.get(changed.id)!.title, 'Rewritten');
    const [hit] = await vectorsSearch({ root, index: 'idx', query: 'zeppelins', k: 1 });
    assert.equal(hit!.id, changed.id);
  });

  test('the same text with another title and tags updates the stored row without embedding it again', async (t) => {
    const root = await ownRoot(t);
    const samples = await goldenSamples();
    const playbooks = await writeJsonl(path.join(root, 'playbooks.jsonl'), samples);
    await add(root, [playbooks]);
    const before = await storedItems(path.join(root, 'idx'));
    const edited: RagSample = { ...samples[3]!, title: 'Retitled playbook', tags: [...samples[3]!.tags, 'edited'], content: `${samples[3]!.content}\nEdited.` };
    await writeJsonl(playbooks, samples.map((s, n) => (n === 3 ? edited : s)));
    const texts: number[] = [];
    const counting = { ...hash, embed: (batch: readonly string[], dimension: number | undefined) => (texts.push(batch.length), hash.embed(batch, dimension)) };
    const again = await add(root, [playbooks], { runId: 'run-2', embedder: counting });
    assert.deepEqual([again.counts.added, again.counts.replaced, again.counts.updated, again.counts.unchanged], [0, 0, 1, 18]);
    assert.deepEqual(texts, [], 'nothing embedded: the text is the same');
    assert.equal(again.receipt.validation.passed, true);
    assert.match(summaryLine(again.receipt), / added=0 replaced=0 updated=1 unchanged=18 /);
    const after = await storedItems(path.join(root, 'idx'));
    assert.equal(after.get(edited.id)!.title, 'Retitled playbook');
    assert.equal(after.get(edited.id)!.text_sha256, before.get(edited.id)!.text_sha256);
    const [hit] = await vectorsSearch({ root, index: 'idx', query: edited.embedding_text, k: 1 });
    assert.deepEqual([hit!.id, hit!.title, hit!.tags], [edited.id, 'Retitled playbook', edited.tags]);
    const third = await add(root, [playbooks], { runId: 'run-3' });
    assert.deepEqual([third.counts.updated, third.counts.unchanged], [0, 19], 'once updated, the sample is unchanged');
  });

  test('the same id twice in one run: the later text wins, counted as a replacement', async (t) => {
    const root = await ownRoot(t);
    const a = ragSample('dup', 'first text');
    const b = { ...a, embedding_text: 'second text' };
    const file = await writeJsonl(path.join(root, 'dup.jsonl'), [a, b, a]);
    const result = await add(root, [file]);
    assert.deepEqual([result.counts.in, result.counts.added, result.counts.replaced, result.counts.unchanged], [3, 1, 2, 0]);
    assert.equal((await vectorsInfo({ root, index: 'idx' })).count, 1);
  });

  test('rows that are not RagSamples are quarantined with a reason, and the counts add up', async (t) => {
    const root = await ownRoot(t);
    const good = await goldenSamples();
    const { embedding_text: _dropped, ...missingField } = good[1]!;
    const lines = [
      JSON.stringify(good[0]),
      '{"truncated": ',
      '[1, 2, 3]',
      JSON.stringify(missingField),
      JSON.stringify({ ...good[2], success_score: 'rejected' }),
      JSON.stringify({ ...good[4], id: 'not-a-rag-id' }),
      '',
      JSON.stringify({ ...good[5], pad: 'x'.repeat(3000) }),
      JSON.stringify(good[6]),
    ];
    const file = path.join(root, 'mixed.jsonl');
    await writeFile(file, `${lines.join('\n')}\n`);
    const quarantine = path.join(root, 'q', 'vectors.jsonl');
    const result = await add(root, [file], { quarantine, maxLineBytes: 2048 });
    assert.deepEqual(result.counts, { in: 8, out: 2, quarantined: 6, added: 2, replaced: 0, updated: 0, unchanged: 0, by_reason: { line_too_long: 1, schema_violation: 5 }, by_category: { accepted: 1, partially_accepted: 1 } });
    assert.equal(result.counts.in, result.counts.out + result.counts.quarantined);
    const rows = (await readText(quarantine)).trim().split('\n').map((line) => JSON.parse(line) as QuarantineRecord);
    assert.deepEqual(rows.map((r) => [r.stage, r.reason, r.source_provenance.line_offset]), [
      ['vectors', 'schema_violation', 1],
      ['vectors', 'schema_violation', 2],
      ['vectors', 'schema_violation', 3],
      ['vectors', 'schema_violation', 4],
      ['vectors', 'schema_violation', 5],
      ['vectors', 'line_too_long', 7],
    ]);
    assert.ok(rows.every((r) => r.recorded_at === RECORDED_AT && r.source_provenance.source_file === 'mixed.jsonl' && r.errors.length > 0));
    assert.deepEqual(rows[0]!.source_record, { _raw: '{"truncated": ' });
    assert.equal(result.quarantinePath, 'q/vectors.jsonl');
    assert.deepEqual(result.receipt.validation.warnings, ['quarantined 1 row: line_too_long', 'quarantined 5 rows: schema_violation']);
    assert.equal(summaryLine(result.receipt), '[vectors-add] read=8 added=2 replaced=0 updated=0 unchanged=0 quarantined=6 count=2 {line_too_long: 1, schema_violation: 5}\n');
  });

  test('the receipt: inputs, outputs and counts hashed, written atomically into the index, identical across reruns but for timing', async (t) => {
    const root = await ownRoot(t);
    const first = await add(root, [GOLDEN_RAG]);
    assert.equal(first.receiptPath, 'idx/receipts/run-1.vectors-add.json');
    const written = JSON.parse(await readFile(path.join(root, 'idx', 'receipts', 'run-1.vectors-add.json'), 'utf8')) as VectorsReceipt;
    assert.deepEqual(written, first.receipt);
    const golden = await readFile(GOLDEN_RAG);
    assert.deepEqual(written.inputs, [{ path: path.relative(root, GOLDEN_RAG), bytes: golden.length, sha256: createHash('sha256').update(golden).digest('hex') }]);
    assert.deepEqual(written.outputs.map((o) => o.path), ['exports/quarantine/vectors.jsonl', 'idx/distill-vectors.json']);
    const manifest = await readFile(path.join(root, 'idx', 'distill-vectors.json'));
    assert.equal(written.outputs[1]!.sha256, createHash('sha256').update(manifest).digest('hex'));
    assert.equal(written.input_hash, combinedHash(written.inputs));
    assert.equal(written.output_hash, combinedHash(written.outputs));
    assert.equal(written.stage, 'vectors-add');
    assert.equal(written.validation.passed, true);
    assert.equal(written.index.count, 19);
    assert.deepEqual(await readdir(path.join(root, 'idx', 'receipts')), ['run-1.vectors-add.json']);

    const otherRoot = await tempDir('distill-vectors-');
    try {
      const second = await add(otherRoot, [GOLDEN_RAG]);
      const timeless = (r: VectorsReceipt) => ({ ...r, started_at: '', finished_at: '', duration_ms: 0 });
      assert.deepEqual(timeless(second.receipt), timeless(first.receipt));
    } finally {
      await removeDir(otherRoot);
    }
  });

  test('an index built by another embedder or dimension is refused before anything is read', async (t) => {
    const root = await ownRoot(t);
    await add(root, [GOLDEN_RAG], { embedder: createEmbedder({ kind: 'hash', dimension: 64 }) });
    await assert.rejects(add(root, [GOLDEN_RAG]), { code: 'DS_VALIDATION', message: /dimension mismatch: idx holds 64-dimensional vectors, the embedder makes 512/ });
    const other = { identity: { kind: 'openai' as const, model: 'm' }, dimension: 64, batchSize: 8, embed: () => Promise.reject(new Error('never called')) };
    await assert.rejects(add(root, [GOLDEN_RAG], { embedder: other }), { code: 'DS_USAGE', message: /built by the hash embedder 'feature-hash-v1'/ });
  });

  test('a folder that is not an index is left alone', async (t) => {
    const root = await ownRoot(t);
    await mkdir(path.join(root, 'idx'));
    await writeFile(path.join(root, 'idx', 'notes.txt'), 'mine');
    await assert.rejects(add(root, [GOLDEN_RAG]), { code: 'DS_IO', message: /idx: not a vector index and not empty/ });
    assert.equal(await readText(path.join(root, 'idx', 'notes.txt')), 'mine');
  });

  test('a missing input is an I/O error naming it, and no index is created', async (t) => {
    const root = await ownRoot(t);
    await assert.rejects(add(root, ['nope.jsonl']), { code: 'DS_IO', message: /nope\.jsonl/ });
    await assert.rejects(vectorsInfo({ root, index: 'idx' }), { code: 'DS_IO', message: 'idx: no vector index here (not found)' });
  });

  test('samples with an empty title and no tags survive a reopen, found by id and by search', async (t) => {
    const root = await ownRoot(t);
    const bare: RagSample = { ...ragSample('bare', 'quiet lonely words'), title: '', tags: [] };
    const file = await writeJsonl(path.join(root, 'bare.jsonl'), [bare]);
    await add(root, [file]);
    const items = await storedItems(path.join(root, 'idx'));
    assert.deepEqual([...items.keys()], [bare.id]);
    const [hit] = await vectorsSearch({ root, index: 'idx', query: 'lonely', k: 1 });
    assert.deepEqual(hit, { id: bare.id, score: hit!.score, title: '', tags: [], source_run_id: 'bare' });
  });

  test('no inputs: the samples are read from stdin, named "-" in the quarantine and the receipt', async (t) => {
    const root = await ownRoot(t);
    const stdin = Buffer.concat([await readFile(GOLDEN_RAG), Buffer.from('not json\n')]);
    const child = await runLibrary('vectorsAdd', { root, index: 'idx', inputs: [], embedder: { kind: 'hash' }, recordedAt: RECORDED_AT, runId: 'stdin' }, { stdin });
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout) as { counts: { added: number; quarantined: number }; receipt: VectorsReceipt };
    assert.deepEqual([result.counts.added, result.counts.quarantined], [19, 1]);
    assert.deepEqual(result.receipt.inputs.map((i) => [i.path, i.bytes]), [['-', stdin.length]]);
    const [row] = (await readText(path.join(root, 'exports', 'quarantine', 'vectors.jsonl'))).trim().split('\n').map((line) => JSON.parse(line) as QuarantineRecord);
    assert.deepEqual(row!.source_provenance, { source_file: '-', line_offset: 19 });
  });

  test('empty stdin makes an empty index (a destination to merge into); recorded_at defaults to the clock', async (t) => {
    const root = await ownRoot(t);
    const child = await runLibrary('vectorsAdd', { root, index: 'main', inputs: [], embedder: { kind: 'hash' } });
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout) as { receipt: VectorsReceipt };
    assert.ok(Math.abs(Date.parse(result.receipt.recorded_at) - Date.now()) < 60_000);
    assert.deepEqual([(await vectorsInfo({ root, index: 'main' })).count, result.receipt.record_counts.in], [0, 0]);
    await assert.rejects(add(root, [GOLDEN_RAG], { recordedAt: '2026-02-30T00:00:00Z' }), { code: 'DS_USAGE', message: /--recorded-at/ });
  });

  test('rag | vectors add: the export streamed straight into an index, then searched', async (t) => {
    const root = await ownRoot(t);
    const archive = await fixtureCopy();
    try {
      // The export in-process; its stdout through the CLI is checked in cli-commands.test.ts.
      const out = path.join(archive, 'playbooks.jsonl');
      await runRag({ inputs: [path.join(archive, 'data', 'scored-runs')], evidence: path.join(archive, 'data', 'evidence'), recordedAt: RECORDED_AT, out, quarantine: path.join(archive, 'q.jsonl') });
      const playbooks = await readFile(out);
      assert.equal(playbooks.toString('utf8'), await readText(GOLDEN_RAG));
      const child = await runLibrary('vectorsAdd', { root, index: 'playbooks', inputs: [], embedder: { kind: 'hash' }, recordedAt: RECORDED_AT }, { stdin: playbooks });
      assert.equal(child.code, 0, child.stderr);
      const [hit] = await vectorsSearch({ root, index: 'playbooks', query: 'tests red after applying the patch', k: 1 });
      assert.equal(hit!.title, 'Applied, tests red.');
    } finally {
      await removeDir(archive);
    }
  });

  test('a killed add leaves the index as it was; the next add rolls the uncommitted batches back', async (t) => {
    const root = await ownRoot(t);
    const samples = await goldenSamples();
    const firstHalf = await writeJsonl(path.join(root, 'first.jsonl'), samples.slice(0, 10));
    await add(root, [firstHalf]);
    const before = await vectorsInfo({ root, index: 'idx' });
    const killed = await runLibrary('vectorsAdd', { root, index: 'idx', inputs: [GOLDEN_RAG], embedder: { kind: 'hash' }, recordedAt: RECORDED_AT, batchSize: 4 }, { killAt: 'add-before-commit' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.deepEqual(await vectorsInfo({ root, index: 'idx' }), before);
    const resumed = await add(root, [GOLDEN_RAG], { runId: 'run-2' });
    assert.deepEqual([resumed.counts.added, resumed.counts.unchanged], [9, 10]);
    assert.equal((await vectorsInfo({ root, index: 'idx' })).count, 19);
  });
});

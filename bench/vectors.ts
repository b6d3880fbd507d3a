/**
 * The vector index at a few sizes (`npm run bench:vectors -- [--sizes 10000,50000]`): add of N
 * generated RAG samples (2,000-character texts over a 2,000-word vocabulary) with the hash
 * embedder at 512 dimensions, the same add again (every sample unchanged), a merge of N/10 new
 * items into it, and k=5 exact search (median of 20 queries) against the alternative of reading
 * every vector into memory and scanning them in JavaScript. Counts are checked before anything is
 * reported. Each step shows wall-clock time and the process's CPU time (all threads, LanceDB's
 * included): on a shared machine the CPU time is the steadier number.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../data-fixtures/prng.js';
import { shortId } from '../src/core/ids.js';
import type { RagSample } from '../src/records.js';
import { vectorsAdd } from '../src/vectors/add.js';
import { createEmbedder, hashEmbedding } from '../src/vectors/embedders.js';
import { vectorsMerge } from '../src/vectors/merge.js';
import { byScoreThenId, dot, vectorsSearch } from '../src/vectors/search.js';
import { VectorIndex } from '../src/vectors/store.js';

const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const QUERIES = 20;
const random = mulberry32(11);
const VOCABULARY = Array.from({ length: 2000 }, (_, n) => `w${n.toString(36)}${'abcdefghij'[n % 10]}`);

function text(): string {
  let out = '';
  while (out.length < 2000) out += `${VOCABULARY[Math.floor(random() * VOCABULARY.length)]} `;
  return out.slice(0, 2000);
}

function sample(key: string): RagSample {
  const body = text();
  return {
    schema_version: 1,
    id: shortId('rag-', key, 'bench'),
    title: body.slice(0, 120),
    content: body,
    tags: ['task:bench', 'category:accepted'],
    source_run_id: key,
    success_score: 'accepted',
    source_category: 'accepted',
    embedding_text: body,
    created_at: RECORDED_AT,
    provenance: { source_file: 'data/scored-runs/bench.jsonl', line_offset: 0, sig_hash: '0'.repeat(64), recorded_at: RECORDED_AT },
  };
}

async function writeSamples(file: string, keys: string[]): Promise<void> {
  await writeFile(file, keys.map((key) => `${JSON.stringify(sample(key))}\n`).join(''));
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const value = await work();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000, value };
}

const seconds = (t: { ms: number; cpuMs: number }): string => `${(t.ms / 1000).toFixed(2)} s / ${(t.cpuMs / 1000).toFixed(2)} s`;

async function bench(size: number): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distill-vectors-bench-'));
  try {
    const embedder = createEmbedder({ kind: 'hash' });
    const keys = Array.from({ length: size }, (_, n) => `s${n}`);
    await writeSamples(path.join(root, 'all.jsonl'), keys);
    await writeSamples(path.join(root, 'fresh.jsonl'), keys.slice(0, size / 10).map((k) => `fresh-${k}`));
    const add = (index: string, file: string) => vectorsAdd({ root, index, inputs: [file], embedder, recordedAt: RECORDED_AT });

    const first = await timed(() => add('main', 'all.jsonl'));
    if (first.value.counts.added !== size) throw new Error(`added ${first.value.counts.added} of ${size}`);
    const again = await timed(() => add('main', 'all.jsonl'));
    if (again.value.counts.unchanged !== size) throw new Error(`re-add: ${again.value.counts.unchanged} unchanged of ${size}`);
    await add('fresh', 'fresh.jsonl');
    const merge = await timed(() => vectorsMerge({ root, from: 'fresh', into: 'main', clearSource: true, recordedAt: RECORDED_AT }));
    if (merge.value.counts.out !== size / 10) throw new Error(`merged ${merge.value.counts.out} of ${size / 10}`);

    const queries = Array.from({ length: QUERIES }, () => text().slice(0, 200));
    const searches: Array<{ ms: number; cpuMs: number }> = [];
    for (const query of queries) searches.push(await timed(() => vectorsSearch({ root, index: 'main', query, k: 5 })));

    // The alternative to LanceDB's scan: every vector in memory, scanned in JavaScript.
    const load = await timed(async () => {
      const index = await VectorIndex.open(path.join(root, 'main'), 'main');
      const items: Array<{ id: string; vector: Float32Array }> = [];
      for await (const batch of index.items()) for (const item of batch) items.push({ id: item.id, vector: item.vector });
      await index.close();
      return items;
    });
    const scans: Array<{ ms: number; cpuMs: number }> = [];
    for (const query of queries) {
      const q = hashEmbedding(query, 512);
      scans.push(await timed(async () => load.value.map((item) => ({ id: item.id, score: dot(q, item.vector) })).sort(byScoreThenId).slice(0, 5)));
    }
    const ms = (ts: Array<{ ms: number; cpuMs: number }>): string => `${median(ts.map((t) => t.ms)).toFixed(0)} ms / ${median(ts.map((t) => t.cpuMs)).toFixed(0)} ms`;
    return `| ${size.toLocaleString('en-US')} | ${seconds(first)} | ${seconds(again)} | ${seconds(merge)} | ${ms(searches)} | ${seconds(load)} + ${ms(scans)} |`;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const sizesArg = process.argv.indexOf('--sizes');
const sizes = sizesArg === -1 ? [10_000, 50_000] : process.argv[sizesArg + 1]!.split(',').map(Number);
console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${os.loadavg()[0]!.toFixed(1)}`);
console.log('wall / CPU time of each step');
console.log('| items | add (new) | add again (unchanged) | merge N/10 new, clear source | search k=5, median | JS alternative: load all + scan (median) |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const size of sizes) console.log(await bench(size));

/**
 * Per-record cost of each step of the export hot path and of the scorer, in ns/record
 * (`npm run bench`). Every task runs over the same 1,000 generated records (2 KB texts with
 * non-ASCII) per call, so the time per call divided by 1,000 is the cost of one record, and nothing
 * is constant-folded. Outputs are checked before anything is timed. `--json` prints the results.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import split2 from 'split2';
import { Bench } from 'tinybench';
import { mulberry32 } from '../data-fixtures/prng.js';
import { toEvidenceRecord } from '../src/core/evidence.js';
import { admitScoredRun, sftFirewall } from '../src/core/gates.js';
import { Rejection } from '../src/core/rejection.js';
import { scoreEvidence, toScoredRun } from '../src/core/scorer.js';
import { contextFor, instructionFor, sftSynthesisCheck, sourceFileCheck } from '../src/core/synthesis.js';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { READ_CHUNK_BYTES } from '../src/io/line-source.js';
import { LineSplitter } from '../src/io/line-splitter.js';
import { evidenceText } from '../src/core/evidence-text.js';
import type { EvidenceRecord, JoinedEvidence, ScoredRun } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';
import { buildSftSample, serializeSftSample, sftRow } from '../src/stages/sft.js';

const RECORDS = 1000;
const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const WORDS = ['review', 'finding', 'sévérité', 'patch', '修正', 'grounded', 'émoji😀', 'citation', 'the', 'of'];

/** One source per scorer rule, with signals that reach a decision. */
const SOURCES: ReadonlyArray<[string, Record<string, unknown>]> = [
  ['scrum_reviews', { accepted_on_attempt: 1, max_attempts: 3 }],
  ['observer_reviews', { verdict: 'accept' }],
  ['audits', { max_severity: 'low' }],
  ['auto_apply', { apply_status: 'applied', tests_passed: true }],
  ['contract_analyses', { recommendation: 'approve', risk_markers: ['late'] }],
  ['outcomes', { outcome: 'success', citations: 2 }],
  ['mode_experiments', { grounded_fraction: 0.93 }],
  ['web_extractions', {}],
];

function evidenceRecords(source: string, signals: Record<string, unknown>): EvidenceRecord[] {
  const random = mulberry32(source.length);
  return Array.from({ length: RECORDS }, (_, n) => {
    let text = '';
    while (text.length < 2000) text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
    const raw = {
      run_id: `${source}-${n}`,
      task_id: `task:${n % 97}`,
      model_role: 'executor',
      model_name: 'model-x',
      text,
      source_files: [`src/file-${n % 13}.ts`],
      retrieved_context: { matrix_corpora: ['prd'], pathway_fingerprints_seen: n % 4 },
      signals,
      created_at: '2026-05-01T10:00:00Z',
    };
    const record = toEvidenceRecord(raw, { source_file: `data/_kb/${source}.jsonl`, line_offset: n }, RECORDED_AT);
    if (record instanceof Rejection) throw new Error(`bench input rejected: ${record.errors.join('; ')}`);
    return record;
  });
}

const toJoined = (e: EvidenceRecord): JoinedEvidence => ({
  task_id: e.task_id,
  model_role: e.model_role,
  model_name: e.model_name ?? '',
  source_files: e.source_files ?? [],
  matrix_corpora: e.retrieved_context?.matrix_corpora ?? [],
  pathway_fingerprints_seen: e.retrieved_context?.pathway_fingerprints_seen ?? 0,
  contractor: '',
  source_file: e.provenance.source_file,
  text: evidenceText(e.text),
});

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench input check failed: ${what}`);
}

async function main(json: boolean): Promise<void> {
  const evidence = evidenceRecords('scrum_reviews', { accepted_on_attempt: 1 });
  const scored: ScoredRun[] = evidence.map((e) => toScoredRun(e, RECORDED_AT));
  const scoredLines = scored.map((s) => JSON.stringify(s));
  const joined = new Map(evidence.map((e) => [e.run_id, toJoined(e)]));
  const joinedList = evidence.map((e) => joined.get(e.run_id)!);
  const samples = scored.map((s, n) => buildSftSample(s, joinedList[n]!, RECORDED_AT));

  // A real evidence index over the same evidence, in a temp folder.
  const folder = await mkdtemp(path.join(os.tmpdir(), 'distill-hot-path-'));
  await writeFile(path.join(folder, 'evidence.jsonl'), evidence.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const { index } = await EvidenceIndex.open(folder, { root: folder, maxLineBytes: 1 << 20 });
  const { sftSample } = validators();
  const firewall = sftFirewall({ includePartial: true });
  const synthesis = sftSynthesisCheck(sourceFileCheck({ inRepo: undefined }));
  const options = { recordedAt: RECORDED_AT, includePartial: true, inRepo: undefined };

  // Counts and bytes checked before timing.
  check(scored.every((s) => s.category === 'accepted'), 'every scored row is accepted');
  check(samples.every((s, n) => serializeSftSample(s, joinedList[n]!.text.json).toString() === `${JSON.stringify({ ...s, response: evidence[n]!.text })}\n`), 'template serializer = JSON.stringify');
  check(samples.every((s) => sftSample(s)), 'every sample validates');
  check(evidence.every((e) => Buffer.from(index.get(e.run_id)!.text.json).toString() === JSON.stringify(e.text)), 'the index join returns every text');
  const parsed = scoredLines.map((line) => JSON.parse(line) as unknown);
  const rowWithMap = sftRow(options, (id) => joined.get(id));
  check(parsed.every((value) => !(rowWithMap(value, { source_file: '-', line_offset: 0 }) instanceof Rejection)), 'sftRow writes every row');
  /** All 1,000 rows through one fresh row function: a reused one's duplicate-id set would reject the second pass. */
  const passThroughFreshRow = (lookup: (id: string) => JoinedEvidence | undefined): void => {
    const row = sftRow(options, lookup);
    for (const value of parsed) row(value, { source_file: '-', line_offset: 0 });
  };

  const bench = new Bench({ time: 400, warmupTime: 100 });
  bench
    .add('JSON.parse (scored line)', () => void scoredLines.forEach((line) => JSON.parse(line)))
    .add('provenance + schema gates', () => void parsed.forEach((value) => admitScoredRun(value)))
    .add('SFT firewall', () => void scored.forEach((s) => firewall(s.category)))
    .add('evidence join (index lookup + text read)', () => void scored.forEach((s) => index.get(s.evidence_run_id)))
    .add('synthesis (checks + instruction + context)', () => void joinedList.forEach((e) => (synthesis(e), instructionFor(e), contextFor(e))))
    .add('build SftSample', () => void scored.forEach((s, n) => buildSftSample(s, joinedList[n]!, RECORDED_AT)))
    .add('output validation (ajv)', () => void samples.forEach((s) => sftSample(s)))
    .add('serialize: template + the text\'s bytes', () => void samples.forEach((s, n) => serializeSftSample(s, joinedList[n]!.text.json)))
    .add('serialize: JSON.stringify', () => void samples.forEach((s, n) => JSON.stringify({ ...s, response: evidence[n]!.text })))
    .add('whole sftRow, Map lookup', () => passThroughFreshRow((id) => joined.get(id)))
    .add('whole sftRow, index lookup', () => passThroughFreshRow((id) => index.get(id)));
  for (const [source, signals] of SOURCES) {
    const records = evidenceRecords(source, signals);
    check(records.every((r) => scoreEvidence(r).reasons.length > 0), `scorer decides ${source}`);
    bench.add(`scorer: ${source}`, () => void records.forEach((r) => scoreEvidence(r)));
  }
  await bench.run();

  const { splitterMbPerS, split2MbPerS } = await splitterThroughput(scoredLines, evidence);
  await index.close();
  await rm(folder, { recursive: true, force: true });

  const rows = bench.tasks.map((task) => {
    const { latency, throughput } = task.result as unknown as { latency: { mean: number; rme: number; samplesCount: number }; throughput: { mean: number } };
    return { step: task.name, nsPerRecord: (latency.mean * 1e6) / RECORDS, rmePercent: latency.rme, recordsPerSecond: throughput.mean * RECORDS, samples: latency.samplesCount };
  });
  if (json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, rows, splitterMbPerS, split2MbPerS }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `distill-stream hot path, ${new Date().toISOString()}\n` +
      `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB; Node ${process.version}\n` +
      `${RECORDS} records per call, 2 KB texts; ns/record = mean time per call / ${RECORDS}\n\n` +
      `| step | ns/record | ±rme | records/s | samples |\n|---|---:|---:|---:|---:|\n` +
      rows.map((r) => `| ${r.step} | ${r.nsPerRecord.toFixed(0)} | ${r.rmePercent.toFixed(1)}% | ${Math.round(r.recordsPerSecond).toLocaleString('en-US')} | ${r.samples} |`).join('\n') +
      `\n\nOver 64 MB of scored + evidence lines: LineSplitter ${splitterMbPerS.toFixed(0)} MB/s (line numbers, byte cap, Buffers); split2 ${split2MbPerS.toFixed(0)} MB/s (strings only)\n`,
  );
}

/**
 * The splitter on 64 MB of realistic lines in chunks of the size files are read in, beside split2 on
 * the same chunks: the rival it has to stay ahead of, though split2 decodes every line to a string
 * and knows neither line numbers nor a cap on a line's bytes.
 */
async function splitterThroughput(scoredLines: string[], evidence: EvidenceRecord[]): Promise<{ splitterMbPerS: number; split2MbPerS: number }> {
  const block = Buffer.from(scoredLines.map((l, n) => `${l}\n${JSON.stringify(evidence[n])}\n`).join(''));
  const copies = Math.ceil((64 << 20) / block.length);
  const chunks: Buffer[] = [];
  const whole = Buffer.concat(Array.from({ length: copies }, () => block));
  for (let at = 0; at < whole.length; at += READ_CHUNK_BYTES) chunks.push(whole.subarray(at, at + READ_CHUNK_BYTES));
  const expected = copies * scoredLines.length * 2;
  const timed = async (splitter: () => NodeJS.ReadWriteStream, count: (chunk: unknown) => number): Promise<number> => {
    let lines = 0;
    const started = performance.now();
    await pipeline(Readable.from(chunks), splitter(), async (output: AsyncIterable<unknown>) => {
      for await (const chunk of output) lines += count(chunk);
    });
    const seconds = (performance.now() - started) / 1000;
    check(lines === expected, 'the splitter saw every line');
    return whole.length / 2 ** 20 / seconds;
  };
  return {
    splitterMbPerS: await timed(() => new LineSplitter(), (batch) => (batch as unknown[]).length),
    split2MbPerS: await timed(() => split2(), () => 1),
  };
}

await main(process.argv.includes('--json')).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

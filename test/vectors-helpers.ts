import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../data-fixtures/prng.js';
import { shortId } from '../src/core/ids.js';
import type { RagSample } from '../src/records.js';
import { GOLDEN, PACKAGE_ROOT, readText } from './helpers.js';

export const RECORDED_AT = '2026-05-02T00:00:00.000Z';
export const GOLDEN_RAG = path.join(GOLDEN, 'rag.jsonl');
export const VECTORS_FIXTURES = path.join(PACKAGE_ROOT, 'data-fixtures', 'vectors');

/** The golden RAG export's samples (19 rows). */
export async function goldenSamples(): Promise<RagSample[]> {
  return (await readText(GOLDEN_RAG))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as RagSample);
}

/** A valid RagSample for `text`, its id derived from `key`. */
export function ragSample(key: string, text: string): RagSample {
  return {
    schema_version: 1,
    id: shortId('rag-', key, 'vectors-test'),
    title: text.split('\n')[0]!.slice(0, 120),
    content: text,
    tags: [`task:${key}`, 'category:accepted'],
    source_run_id: key,
    success_score: 'accepted',
    source_category: 'accepted',
    embedding_text: text,
    created_at: RECORDED_AT,
    provenance: { source_file: 'data/scored-runs/2026/05/02/generated.jsonl', line_offset: 0, sig_hash: '0'.repeat(64), recorded_at: RECORDED_AT },
  };
}

const WORDS = ['patch', 'review', 'audit', 'finding', 'severity', 'test', 'flaky', 'red', 'green', 'apply', 'revert', 'file', 'app', 'server', 'index', 'query', 'vector', 'merge', 'fresh', 'main', 'permit', 'contractor', 'risk', 'scenario', 'outcome', 'citation', 'grounded', 'mode', 'runner', 'observer', 'verdict', 'cycle'];

/**
 * `n` samples with texts of 3–12 words from a 32-word vocabulary (seeded): many partial overlaps,
 * and every fifth text a copy of an earlier one, so exact ties in score are common.
 */
export function generatedSamples(n: number, seed = 7): RagSample[] {
  const random = mulberry32(seed);
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 5 === 4) texts.push(texts[Math.floor(random() * i)]!);
    else texts.push(Array.from({ length: 3 + Math.floor(random() * 10) }, () => WORDS[Math.floor(random() * WORDS.length)]!).join(' '));
  }
  return texts.map((text, i) => ragSample(`gen-${i}`, text));
}

export async function writeJsonl(file: string, rows: readonly unknown[]): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  return file;
}

/** A stub OpenAI-compatible server on 127.0.0.1: each request is answered by `answer`, which sees the parsed body. */
export interface StubServer {
  url: string;
  requests: Array<{ body: { model: string; input: string[] }; authorization: string | undefined }>;
  close(): Promise<void>;
}

export type StubAnswer = (body: { model: string; input: string[] }, n: number) => { status: number; json?: unknown; text?: string; headers?: Record<string, string> };

export async function stubServer(answer: StubAnswer): Promise<StubServer> {
  const requests: StubServer['requests'] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; input: string[] };
      requests.push({ body, authorization: request.headers.authorization });
      const reply = answer(body, requests.length);
      response.writeHead(reply.status, { 'content-type': reply.json === undefined ? 'text/plain' : 'application/json', ...reply.headers });
      response.end(reply.json === undefined ? (reply.text ?? '') : JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A deterministic fake embedding of `dimension` numbers per text, as a server would send it. */
export const fakeEmbeddings = (texts: readonly string[], dimension: number): { data: Array<{ index: number; embedding: number[] }> } => ({
  data: texts.map((text, index) => ({ index, embedding: Array.from({ length: dimension }, (_, j) => ((text.length * (j + 1)) % 7) - 3) })),
});

const VECTORS_MODULE = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'src', 'vectors', 'index.js')).href;

/**
 * Runs one library call in a child process: with `killAt`, DISTILL_STREAM_KILL_AT is set and the
 * child dies there (SIGKILL); `stdin` is piped in. The call's result is printed as JSON on stdout.
 */
export function runLibrary(
  call: 'vectorsMerge' | 'vectorsAdd',
  options: Record<string, unknown>,
  child: { killAt?: string; stdin?: Buffer } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const script =
    `import { ${call}, createEmbedder } from ${JSON.stringify(VECTORS_MODULE)};\n` +
    `const options = ${JSON.stringify(options)};\n` +
    `if (options.embedder) options.embedder = createEmbedder(options.embedder);\n` +
    `process.stdout.write(JSON.stringify(await ${call}(options)));\n`;
  const env = child.killAt === undefined ? process.env : { ...process.env, DISTILL_STREAM_KILL_AT: child.killAt };
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    proc.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    proc.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    proc.stdin.on('error', () => {}); // a child killed early never reads its stdin
    proc.stdin.end(child.stdin ?? '');
  });
}

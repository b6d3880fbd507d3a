import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { DistillError, usageError } from '../errors.js';

/** What built an index's vectors: vectors of two embedders are not comparable, even at one dimension. */
export interface EmbedderIdentity {
  kind: 'hash' | 'openai';
  model: string;
}

/** Turns texts into L2-normalised vectors (so a dot product is the cosine similarity). */
export interface Embedder {
  readonly identity: EmbedderIdentity;
  /** Known up front (the hash embedder, or a configured endpoint); otherwise learnt from the first answer. */
  readonly dimension: number | undefined;
  /** Texts per embedding call (`--embed-batch`): `embed` takes its texts in slices of this size. */
  readonly batchSize: number;
  /**
   * One vector per text, in order. `dimension` is what the caller's index holds: an answer of
   * another dimension is a DS_VALIDATION error, never stored.
   */
  embed(texts: readonly string[], dimension: number | undefined): Promise<Float32Array[]>;
}

export interface EmbedderOptions {
  kind: 'hash' | 'openai';
  /** openai: the server's base URL (see embeddingsEndpoint). */
  url?: string | undefined;
  /** openai: the model name sent with each request. */
  model?: string | undefined;
  /** openai: the environment variable holding the API key; default DISTILL_EMBED_API_KEY. No key, no Authorization header. */
  apiKeyEnv?: string | undefined;
  /** hash: the vector length (default 512); openai: the length the endpoint must answer with. */
  dimension?: number | undefined;
  /** Texts per embedding call, for either kind (default 64): an endpoint gets one request per slice. */
  batchSize?: number | undefined;
  /** openai: attempts per request, the first included (default 4). */
  maxAttempts?: number | undefined;
  /** openai: the wait before the first retry, doubled after each (default 500 ms). */
  retryDelayMs?: number | undefined;
  /** openai: one request's time limit (default 60 s). */
  timeoutMs?: number | undefined;
}

export const HASH_MODEL = 'feature-hash-v1';
export const DEFAULT_HASH_DIMENSION = 512;
export const MIN_DIMENSION = 8;
export const MAX_DIMENSION = 8192;
export const DEFAULT_API_KEY_ENV = 'DISTILL_EMBED_API_KEY';
export const DEFAULT_EMBED_BATCH = 64;
const DEFAULT_MAX_ATTEMPTS = 4;
const DEFAULT_RETRY_DELAY_MS = 500;
const DEFAULT_TIMEOUT_MS = 60_000;
/** A server's Retry-After is honoured up to this wait. */
const MAX_RETRY_AFTER_MS = 30_000;
/** Characters of an error answer quoted in the message. */
const ANSWER_EXCERPT = 200;

/** Picks and configures the embedder once, at start-up; nothing is decided per text. */
export function createEmbedder(options: EmbedderOptions): Embedder {
  if (options.kind === 'hash') {
    if (options.url !== undefined || options.model !== undefined) throw usageError('the hash embedder takes no --embed-url or --embed-model');
    return hashEmbedder(checkDimension(options.dimension ?? DEFAULT_HASH_DIMENSION), embedBatch(options.batchSize));
  }
  if (options.url === undefined || options.url === '') throw usageError('the openai embedder needs --embed-url');
  if (options.model === undefined || options.model === '') throw usageError('the openai embedder needs --embed-model');
  const endpoint = embeddingsEndpoint(options.url);
  const keyEnv = options.apiKeyEnv ?? DEFAULT_API_KEY_ENV;
  return openAiEmbedder({
    endpoint,
    model: options.model,
    apiKey: process.env[keyEnv],
    dimension: options.dimension === undefined ? undefined : checkDimension(options.dimension),
    batchSize: embedBatch(options.batchSize),
    maxAttempts: positiveInteger(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 'the attempts per request'),
    retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw usageError(`${what} must be a positive integer, not ${value}`);
  return value;
}

const embedBatch = (batchSize: number | undefined): number => positiveInteger(batchSize ?? DEFAULT_EMBED_BATCH, '--embed-batch');

/**
 * The vectors of `texts`, one call of `embedSlice` per `batchSize` of them, in order, with a turn
 * of the event loop between calls, so reading the next input overlaps with embedding.
 */
async function inSlices(texts: readonly string[], batchSize: number, embedSlice: (slice: readonly string[]) => Promise<Float32Array[]>): Promise<Float32Array[]> {
  const vectors: Float32Array[] = [];
  for (let start = 0; start < texts.length; start += batchSize) {
    if (start > 0) await setImmediate();
    vectors.push(...(await embedSlice(texts.slice(start, start + batchSize))));
  }
  return vectors;
}

function checkDimension(dimension: number): number {
  if (!Number.isInteger(dimension) || dimension < MIN_DIMENSION || dimension > MAX_DIMENSION) {
    throw usageError(`--embed-dimension must be an integer from ${MIN_DIMENSION} to ${MAX_DIMENSION}, not ${dimension}`);
  }
  return dimension;
}

/**
 * The embeddings URL of an OpenAI-compatible server: trailing slashes dropped; a URL ending in
 * `/embeddings` is taken as it is, one ending in `/v1` gets `/embeddings`, any other gets
 * `/v1/embeddings` (so `http://localhost:11434`, `…/v1` and `…/v1/embeddings` all work).
 */
export function embeddingsEndpoint(url: string): string {
  const base = url.replace(/\/+$/, '');
  const endpoint = base.endsWith('/embeddings') ? base : base.endsWith('/v1') ? `${base}/embeddings` : `${base}/v1/embeddings`;
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw usageError(`--embed-url '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`--embed-url '${url}' is not an http(s) URL`);
  return endpoint;
}

/** v / ‖v‖ as float32; the zero vector stays zero (it then scores 0 against everything). */
export function l2Normalise(values: ArrayLike<number>): Float32Array {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  const out = new Float32Array(values.length);
  if (sum === 0) return out;
  const norm = Math.sqrt(sum);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! / norm;
  return out;
}

// ---- the built-in lexical embedder -------------------------------------------------------------

/**
 * Tokens are the maximal runs of letters, combining marks and digits, found by splitting on what
 * lies between them: twice as fast as matchAll over the runs (41 against 88 µs for 300 tokens).
 */
const BETWEEN_TOKENS = /[^\p{L}\p{M}\p{N}]+/u;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a of the string's UTF-8 bytes (a lone surrogate counts as U+FFFD, as TextEncoder
 * writes it): the exact hash the stored vectors depend on. The bytes are made on the fly, because
 * TextEncoder.encode allocates per call: 5 µs a token, 1.5 ms for a 2,000-character text on Node 20.
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  const byte = (b: number): void => {
    hash = Math.imul(hash ^ b, FNV_PRIME);
  };
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      byte(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else c = 0xfffd;
    }
    if (c < 0x800) {
      byte(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 0x3f));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 0x3f));
      byte(0x80 | ((c >> 6) & 0x3f));
    }
    byte(0x80 | (c & 0x3f));
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finaliser: spreads the FNV hash so its top bit is a fair sign. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Feature hashing of tokens (the hashing trick with a sign bit): the text is NFKC-normalised and
 * lower-cased, each token adds ±1 at `fnv1a32(token) mod dimension` with the sign from the top bit
 * of `fmix32` of the same hash, and the counts are L2-normalised. A lexical baseline: texts that
 * share words score high, synonyms score nothing. Deterministic across machines and versions.
 */
export function hashEmbedding(text: string, dimension: number): Float32Array {
  const counts = new Float64Array(dimension);
  for (const token of text.normalize('NFKC').toLowerCase().split(BETWEEN_TOKENS)) {
    if (token === '') continue; // before a leading or after a trailing separator
    const hash = fnv1a32(token);
    counts[hash % dimension]! += fmix32(hash) >>> 31 === 1 ? -1 : 1;
  }
  return l2Normalise(counts);
}

/**
 * Sliced like an endpoint's requests: hashing a batch of 1,024 texts of 2,000 characters holds the
 * thread for 170–300 ms, a slice of 64 for 11–19 ms.
 */
function hashEmbedder(dimension: number, batchSize: number): Embedder {
  return {
    identity: { kind: 'hash', model: HASH_MODEL },
    dimension,
    batchSize,
    embed: (texts) => inSlices(texts, batchSize, async (slice) => slice.map((text) => hashEmbedding(text, dimension))),
  };
}

// ---- an OpenAI-compatible /v1/embeddings endpoint ----------------------------------------------

interface EndpointConfig {
  endpoint: string;
  model: string;
  apiKey: string | undefined;
  dimension: number | undefined;
  batchSize: number;
  maxAttempts: number;
  retryDelayMs: number;
  timeoutMs: number;
}

/** Rate limits and server errors pass; other answers (a bad key, an unknown model) do not. */
const isRetryable = (status: number): boolean => status === 429 || status >= 500;

function openAiEmbedder(config: EndpointConfig): Embedder {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.apiKey !== undefined && config.apiKey !== '') headers['authorization'] = `Bearer ${config.apiKey}`;
  let learnt = config.dimension;
  return {
    identity: { kind: 'openai', model: config.model },
    get dimension() {
      return learnt;
    },
    batchSize: config.batchSize,
    embed: (texts, dimension) =>
      inSlices(texts, config.batchSize, async (slice) => {
        const answer = await postWithRetries(config, headers, JSON.stringify({ model: config.model, input: slice }));
        const raw = embeddingsOf(answer, slice.length, config.endpoint);
        const expected = dimension ?? learnt;
        const got = raw[0]!.length;
        if (expected !== undefined && got !== expected) {
          throw new DistillError('DS_VALIDATION', `${config.endpoint}: model '${config.model}' answered ${got}-dimensional embeddings, expected ${expected}`, { path: config.endpoint });
        }
        learnt = got;
        return raw.map((values) => l2Normalise(values));
      }),
  };
}

async function postWithRetries(config: EndpointConfig, headers: Record<string, string>, body: string): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(config.endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(config.timeoutMs) });
      if (response.ok) {
        try {
          return await response.json();
        } catch (cause) {
          throw new DistillError('DS_IO', `${config.endpoint}: the answer is not JSON`, { path: config.endpoint, cause });
        }
      }
      const detail = (await response.text().catch(() => '')).slice(0, ANSWER_EXCERPT).trim();
      failure = `HTTP ${response.status}${detail === '' ? '' : `: ${detail}`}`;
      if (!isRetryable(response.status)) throw new DistillError('DS_IO', `${config.endpoint}: ${failure}`, { path: config.endpoint });
      retryAfterMs = retryAfter(response.headers.get('retry-after'));
    } catch (error) {
      if (error instanceof DistillError) throw error;
      failure = error instanceof Error ? (error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message) : String(error);
    }
    if (attempt >= config.maxAttempts) {
      throw new DistillError('DS_IO', `${config.endpoint}: ${failure} (gave up after ${attempt} ${attempt === 1 ? 'attempt' : 'attempts'})`, { path: config.endpoint });
    }
    await sleep(retryAfterMs ?? config.retryDelayMs * 2 ** (attempt - 1));
  }
}

/** Retry-After in seconds (the only form these servers send), capped; anything else is ignored. */
function retryAfter(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header.trim()) * 1000, MAX_RETRY_AFTER_MS);
}

/** The vectors of an embeddings answer, in input order (by `index` when the server gives it). */
function embeddingsOf(answer: unknown, expected: number, endpoint: string): number[][] {
  const malformed = (why: string): DistillError => new DistillError('DS_IO', `${endpoint}: not an embeddings answer: ${why}`, { path: endpoint });
  const data = typeof answer === 'object' && answer !== null ? (answer as { data?: unknown }).data : undefined;
  if (!Array.isArray(data)) throw malformed('no data array');
  if (data.length !== expected) throw malformed(`${data.length} embeddings for ${expected} texts`);
  const ordered: number[][] = new Array<number[]>(expected);
  data.forEach((item: unknown, position) => {
    const { embedding, index } = (typeof item === 'object' && item !== null ? item : {}) as { embedding?: unknown; index?: unknown };
    const slot = index === undefined ? position : index;
    if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot >= expected || ordered[slot] !== undefined) throw malformed(`bad index ${String(index)}`);
    if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw malformed(`embedding ${slot} is not a list of numbers`);
    }
    ordered[slot] = embedding as number[];
  });
  const dimension = ordered[0]!.length;
  if (ordered.some((values) => values.length !== dimension)) throw malformed('embeddings of different lengths in one answer');
  return ordered;
}

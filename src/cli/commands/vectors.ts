import path from 'node:path';
import { EXIT_CODE, usageError } from '../../errors.js';
import { flag, option, type OptionTable } from '../../options.js';
import { createEmbedder, type Embedder } from '../../vectors/embedders.js';
import { vectorsAdd } from '../../vectors/add.js';
import { formatInfo, vectorsInfo } from '../../vectors/info.js';
import { vectorsMerge } from '../../vectors/merge.js';
import { summaryLine } from '../../vectors/receipt.js';
import { DEFAULT_K, formatHits, vectorsSearch } from '../../vectors/search.js';
import { HELP, MAX_LINE_BYTES, RECORDED_AT } from '../common-options.js';
import type { Command, Session } from '../command.js';

const INDEX = { index: option('path', 'DIR', 'the vector index folder') };
const EMBEDDER: OptionTable = {
  'embed-url': option('string', 'URL', 'embed with an OpenAI-compatible /v1/embeddings endpoint (default: the built-in hash embedder)'),
  'embed-model': option('string', 'NAME', 'the endpoint\'s model (needed with --embed-url)'),
  'embed-key-env': option('string', 'VAR', 'environment variable holding the endpoint\'s key (default: DISTILL_EMBED_API_KEY)'),
  'embed-dimension': option('count', 'N', 'the embedding dimension (the hash embedder\'s default: 512)'),
};
/** Only where many texts are embedded: a search embeds its one query. */
const EMBED_BATCH = { 'embed-batch': option('count', 'N', 'texts per embedding call, one request to an endpoint (default: 64)') };
const RUN_ID = { 'run-id': option('string', 'ID', 'the receipt\'s run id (default: a new UUID)') };
const JSON_OUT = { json: flag('print JSON') };

/** Every path a vectors command is given is resolved against the root (the library does it); the root against the working folder. */
const ROOT = { root: option('path', 'DIR', 'paths are resolved against it and named relative to it (default: the current folder)') };
const rootOf = ({ args, cwd }: Session): string => path.resolve(cwd, (args.values['root'] as string | undefined) ?? '.');
const value = <T>(session: Session, name: string): T | undefined => session.args.values[name] as T | undefined;

/** The embedder the flags name: an endpoint with --embed-url, else the built-in hash embedder; undefined when none was asked for and `optional`. */
function embedderOf(session: Session, optional: boolean): Embedder | undefined {
  const url = value<string>(session, 'embedUrl');
  const asked = url !== undefined || value(session, 'embedModel') !== undefined || value(session, 'embedDimension') !== undefined || value(session, 'embedKeyEnv') !== undefined;
  if (optional && !asked) return undefined;
  const common = {
    ...(value<number>(session, 'embedDimension') === undefined ? {} : { dimension: value<number>(session, 'embedDimension')! }),
    ...(value<number>(session, 'embedBatch') === undefined ? {} : { batchSize: value<number>(session, 'embedBatch')! }),
  };
  if (url === undefined) {
    if (value(session, 'embedModel') !== undefined || value(session, 'embedKeyEnv') !== undefined) throw usageError('--embed-model and --embed-key-env need --embed-url');
    return createEmbedder({ kind: 'hash', ...common });
  }
  const model = value<string>(session, 'embedModel');
  if (model === undefined) throw usageError('--embed-url needs --embed-model');
  const keyEnv = value<string>(session, 'embedKeyEnv');
  return createEmbedder({ kind: 'openai', url, model, ...(keyEnv === undefined ? {} : { apiKeyEnv: keyEnv }), ...common });
}

const requireIndex = (session: Session): string => {
  const index = value<string>(session, 'index');
  if (index === undefined) throw usageError('--index DIR is needed');
  return index;
};

/** A vectors write's receipt told on the terminal (its counts as JSON with --json, else its summary line); the exit status it means. */
function toldReceipt(session: Session, receipt: Parameters<typeof summaryLine>[0]): number {
  session.terminal.line(value(session, 'json') === true ? JSON.stringify(receipt.record_counts) : summaryLine(receipt).trimEnd());
  return receipt.validation.passed ? 0 : EXIT_CODE.DS_VALIDATION;
}

const addCommand: Command = {
  name: 'vectors add',
  group: 'Vectors',
  summary: 'embed RAG playbooks into a vector index',
  operands: '[playbooks…]',
  description: [
    'Reads RagSamples (files, folders, - or stdin) and stores each id with its vector, title, tags, source run and',
    'provenance. The same sample again is a no-op; a changed text is embedded again and replaces it; the same text',
    'with other metadata updates it without embedding; rows that are not RagSamples are quarantined. Creates the',
    'index on first use; writes a receipt into <index>/receipts/.',
  ],
  options: {
    ...ROOT,
    ...INDEX,
    quarantine: option('path', 'FILE', 'rows that are not RagSamples (default: <root>/exports/quarantine/vectors.jsonl)'),
    'batch-size': option('count', 'N', 'samples per index commit (default: 1024)'),
    ...EMBEDDER,
    ...EMBED_BATCH,
    ...RUN_ID,
    ...RECORDED_AT,
    ...MAX_LINE_BYTES,
    json: flag('print the summary as JSON on stderr'),
    ...HELP,
  },
  examples: [
    'distill-stream rag --root . --out - | distill-stream vectors add --index data/vectors/fresh',
    'distill-stream vectors add --index data/vectors/main exports/rag/playbooks.jsonl --embed-url http://127.0.0.1:11434 --embed-model nomic-embed-text',
  ],
  takesOperands: true,
  run: async (session) => {
    const result = await vectorsAdd({
      root: rootOf(session),
      index: requireIndex(session),
      inputs: session.args.positionals,
      embedder: embedderOf(session, false)!,
      recordedAt: value(session, 'recordedAt'),
      runId: value(session, 'runId'),
      quarantine: value(session, 'quarantine'),
      batchSize: value(session, 'batchSize'),
      maxLineBytes: value(session, 'maxLineBytes'),
      toolVersion: session.toolVersion,
      onBytes: session.terminal.bytes,
    });
    return toldReceipt(session, result.receipt);
  },
};

const mergeCommand: Command = {
  name: 'vectors merge',
  group: 'Vectors',
  summary: 'merge one vector index into another (fresh → main)',
  operands: '',
  description: [
    'Adds the source\'s items the destination does not hold (items already there are skipped, so a rerun is a',
    'no-op); refuses a dimension or embedder mismatch and merging an index into itself; a missing destination is',
    'not found (exit 3). Atomic: a killed merge leaves the destination as it was or fully merged, and the source is',
    'cleared only after the destination committed.',
  ],
  options: {
    ...ROOT,
    from: option('path', 'DIR', 'the source index'),
    into: option('path', 'DIR', 'the destination index (must exist)'),
    'clear-source': flag('empty the source once the destination committed'),
    'batch-size': option('count', 'N', 'items per destination commit (default: 1024)'),
    ...RUN_ID,
    ...RECORDED_AT,
    json: flag('print the summary as JSON on stderr'),
    ...HELP,
  },
  examples: ['distill-stream vectors merge --from data/vectors/fresh --into data/vectors/main --clear-source'],
  takesOperands: false,
  run: async (session) => {
    const from = value<string>(session, 'from');
    const into = value<string>(session, 'into');
    if (from === undefined || into === undefined) throw usageError('vectors merge needs --from DIR and --into DIR');
    const result = await vectorsMerge({
      root: rootOf(session),
      from,
      into,
      clearSource: value(session, 'clearSource') === true,
      recordedAt: value(session, 'recordedAt'),
      runId: value(session, 'runId'),
      batchSize: value(session, 'batchSize'),
      toolVersion: session.toolVersion,
    });
    return toldReceipt(session, result.receipt);
  },
};

const searchCommand: Command = {
  name: 'vectors search',
  group: 'Vectors',
  summary: 'the nearest playbooks to a query, best first',
  operands: '"query"',
  description: ['Exact search (an exhaustive scan, ties broken by id) with the embedder that built the index.'],
  options: { ...ROOT, ...INDEX, k: option('count', 'N', `hits to return (default: ${DEFAULT_K})`, { short: 'k' }), ...EMBEDDER, ...JSON_OUT, ...HELP },
  examples: ['distill-stream vectors search --index data/vectors/main "tests red after the patch" -k 3', 'distill-stream vectors search --index data/vectors/main "flaky test" --json'],
  takesOperands: true,
  run: async (session) => {
    const [query, ...extra] = session.args.positionals;
    if (query === undefined || extra.length > 0) throw usageError('vectors search takes one query (quote it)');
    const embedder = embedderOf(session, true);
    const hits = await vectorsSearch({
      root: rootOf(session),
      index: requireIndex(session),
      query,
      ...(value<number>(session, 'k') === undefined ? {} : { k: value<number>(session, 'k')! }),
      ...(embedder === undefined ? {} : { embedder }),
    });
    session.stdout.write(value(session, 'json') === true ? `${JSON.stringify(hits)}\n` : formatHits(hits));
    return 0;
  },
};

const infoCommand: Command = {
  name: 'vectors info',
  group: 'Vectors',
  summary: 'what a vector index holds',
  operands: '',
  description: ['Count, dimension, embedder, format version and the sha256 of the id set.'],
  options: { ...ROOT, ...INDEX, ...JSON_OUT, ...HELP },
  examples: ['distill-stream vectors info --index data/vectors/main', 'distill-stream vectors info --index data/vectors/main --json'],
  takesOperands: false,
  run: async (session) => {
    const info = await vectorsInfo({ root: rootOf(session), index: requireIndex(session) });
    session.stdout.write(value(session, 'json') === true ? `${JSON.stringify(info)}\n` : formatInfo(info));
    return 0;
  },
};

export const VECTORS_COMMANDS: readonly Command[] = [addCommand, mergeCommand, searchCommand, infoCommand];

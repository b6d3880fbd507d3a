import { createHash } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { open, TransactionFlags, type Database } from 'lmdb';
import { sha256Hex } from '../core/canonical.js';
import type { ProgressSink } from '../progress.js';
import { ioError } from '../errors.js';
import type { EvidenceRecord, JoinedEvidence } from '../records.js';
import { validators } from '../schemas/validators.js';
import { openLines } from './line-source.js';
import { displayPath } from './paths.js';
import { walkInputFiles, type InputFile } from './walk.js';
import { ensureFolder } from './folders.js';

export interface IndexReport {
  indexPath: string;
  files: number;
  /** Files read this time; the others were unchanged since the last build. */
  filesRead: number;
  rows: number;
  /** Rows that do not parse or fail the EvidenceRecord schema: they can never be joined. */
  unjoinable: number;
  durationMs: number;
}

/** Per-file fingerprint kept in the manifest; a file is re-read only when it changes. */
interface IndexedFile {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
  rows: number;
  unjoinable: number;
}

interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** False while a refresh is under way: entries past `files` may be left from a killed build. */
  clean: boolean;
  files: IndexedFile[];
}

const MANIFEST_FORMAT = 1;
const MANIFEST_NAME = 'manifest.json';
/** The LMDB file inside the index folder (a name with an extension: LMDB then keeps it as one file). */
const STORE_FILE = 'evidence.mdb';
const INDEX_DIR_NAME = '.distill-index';
/** Rows written per write transaction: one commit per 4 MB keeps the pending rows small. */
const COMMIT_BYTES = 4 << 20;
/**
 * Batches commit without waiting for the disk (an fsync per batch took 18% of a build); the build
 * awaits `flushed` once before the manifest marks the index clean, so a crash never leaves a
 * clean manifest over unflushed pages.
 */
const COMMIT_WITHOUT_FLUSH = TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH;
const DELETE_CHUNK = 10_000;
/** Keys past this length are hashed: LMDB keys are limited to ~2 KB. */
const MAX_PLAIN_KEY_BYTES = 1024;
/** Hashed keys are a tag byte plus a 32-byte digest: odd length, so never equal to a UTF-16LE key. */
const HASHED_KEY_TAG = 0xff;
const ORDINAL_BYTES = 4;
const NEWLINE = 0x0a;

/**
 * The evidence join: an LMDB store keyed by run_id beside the evidence, so memory does not grow with
 * the evidence set. The first row for a run_id in walk order wins; rows that do not parse or fail the
 * schema are counted, never joinable. Refreshing re-reads only files changed or added since the
 * last build (from the first changed file in walk order on, which keeps first-wins exact).
 */
export class EvidenceIndex {
  private constructor(private readonly db: Database<Buffer, Buffer>) {}

  static async open(evidencePath: string, options: { root: string; maxLineBytes: number; progress?: ProgressSink | undefined }): Promise<{ index: EvidenceIndex; report: IndexReport }> {
    const started = performance.now();
    const layout = await indexLayout(evidencePath, options.root);
    const indexPath = await indexLocation(layout.evidenceRoot, layout.isFolder);
    const db = open<Buffer, Buffer>({ path: path.join(indexPath, STORE_FILE), encoding: 'binary', keyEncoding: 'binary', compression: false });
    const index = new EvidenceIndex(db);
    const manifestPath = path.join(indexPath, MANIFEST_NAME);
    const previous = await readManifest(manifestPath);
    const files = await layout.files();
    const unchanged = unchangedPrefix(previous, files, layout.relative);
    let filesRead = 0;
    if (!(previous.clean && unchanged === previous.files.length && unchanged === files.length)) {
      await writeManifest(manifestPath, { format: MANIFEST_FORMAT, clean: false, files: previous.files.slice(0, unchanged) });
      if (unchanged < previous.files.length || !previous.clean) await index.removeFrom(unchanged);
      const refreshed = previous.files.slice(0, unchanged);
      options.progress?.begin('index', files.slice(unchanged).reduce((sum, file) => sum + file.size, 0));
      for (let ordinal = unchanged; ordinal < files.length; ordinal++) {
        const file = files[ordinal]!;
        refreshed.push(await index.indexFile(file, ordinal, layout.relative(file), displayPath(options.root, file.absolute), options.maxLineBytes, options.progress));
        filesRead++;
      }
      await db.flushed;
      await writeManifest(manifestPath, { format: MANIFEST_FORMAT, clean: true, files: refreshed });
      previous.files = refreshed;
    }
    const report: IndexReport = {
      indexPath,
      files: files.length,
      filesRead,
      rows: previous.files.reduce((sum, f) => sum + f.rows, 0),
      unjoinable: previous.files.reduce((sum, f) => sum + f.unjoinable, 0),
      durationMs: performance.now() - started,
    };
    return { index, report };
  }

  /**
   * Whether the index beside the evidence matches it, without building anything: the number of
   * evidence files a refresh would read (0 when fresh), or undefined when there is no index yet.
   */
  static async staleFiles(evidencePath: string, root: string): Promise<number | undefined> {
    const layout = await indexLayout(evidencePath, root);
    const manifest = await readManifest(path.join(await indexLocation(layout.evidenceRoot, layout.isFolder), MANIFEST_NAME));
    if (manifest.files.length === 0 && !manifest.clean) return undefined;
    const files = await layout.files();
    const unchanged = unchangedPrefix(manifest, files, layout.relative);
    return manifest.clean ? files.length - unchanged + (manifest.files.length - unchanged) : files.length;
  }

  /** The evidence for a run_id, or undefined when no joinable row has it. */
  get(runId: string): JoinedEvidence | undefined {
    const value = this.db.getBinaryFast(keyOf(runId));
    return value === undefined ? undefined : decodeEvidence(value);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private async indexFile(file: InputFile, ordinal: number, relativePath: string, display: string, maxLineBytes: number, progress: ProgressSink | undefined): Promise<IndexedFile> {
    const { evidenceRecord } = validators();
    const hash = createHash('sha256');
    const entry: IndexedFile = { path: relativePath, size: file.size, mtimeMs: file.mtimeMs, ino: file.ino, sha256: '', rows: 0, unjoinable: 0 };
    let pending: Array<[Buffer, Buffer]> = [];
    let pendingBytes = 0;
    const commit = (): void => {
      const batch = pending;
      this.db.transactionSync(() => {
        for (const [key, value] of batch) if (this.db.getBinaryFast(key) === undefined) this.db.put(key, value);
      }, COMMIT_WITHOUT_FLUSH);
      pending = [];
      pendingBytes = 0;
    };
    const onRawChunk = (chunk: Buffer): void => {
      hash.update(chunk);
      progress?.bytes(chunk.length);
    };
    const lines = await openLines({ display, absolute: file.absolute }, { maxLineBytes, onRawChunk });
    for await (const batch of lines) {
      for (const line of batch) {
        entry.rows++;
        const record = line.tooLong ? undefined : parseOrUndefined(line.text);
        if (record === undefined || !evidenceRecord(record)) {
          entry.unjoinable++;
          continue;
        }
        const value = encodeEvidence(record, ordinal);
        pending.push([keyOf(record.run_id), value]);
        pendingBytes += value.length;
      }
      if (pendingBytes >= COMMIT_BYTES) commit();
    }
    if (pending.length > 0) commit();
    entry.sha256 = hash.digest('hex');
    return entry;
  }

  /** Drops the entries of files at walk position `ordinal` and later, in bounded chunks. */
  private async removeFrom(ordinal: number): Promise<void> {
    if (ordinal === 0) {
      await this.db.clearAsync();
      return;
    }
    for (;;) {
      const doomed: Buffer[] = [];
      for (const { key, value } of this.db.getRange()) {
        if (value.readUInt32LE(0) >= ordinal) doomed.push(Buffer.from(key));
        if (doomed.length === DELETE_CHUNK) break;
      }
      if (doomed.length === 0) return;
      this.db.transactionSync(() => {
        for (const key of doomed) this.db.remove(key);
      });
    }
  }
}

/** Where the evidence is, how its files are named in the manifest, and its files in walk order. */
async function indexLayout(evidencePath: string, root: string): Promise<{ evidenceRoot: string; isFolder: boolean; relative: (file: InputFile) => string; files: () => Promise<InputFile[]> }> {
  const evidenceRoot = path.resolve(evidencePath);
  const info = await stat(evidenceRoot).catch((cause: unknown) => {
    throw ioError(displayPath(root, evidenceRoot) || evidencePath, cause);
  });
  const base = info.isDirectory() ? evidenceRoot : path.dirname(evidenceRoot);
  return {
    evidenceRoot,
    isFolder: info.isDirectory(),
    relative: (file) => path.relative(base, file.absolute),
    files: async () => {
      const files: InputFile[] = [];
      for await (const file of walkInputFiles(evidenceRoot)) files.push(file); // file stats only: a few hundred bytes each
      return files;
    },
  };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // counted as unjoinable by the caller
  }
}

/** run_id as UTF-16LE bytes: lossless for any JavaScript string, lone surrogates included. */
function keyOf(runId: string): Buffer {
  const key = Buffer.from(runId, 'utf16le');
  if (key.length <= MAX_PLAIN_KEY_BYTES) return key;
  const digest = createHash('sha256').update(key).digest();
  return Buffer.concat([Buffer.of(HASHED_KEY_TAG), digest]);
}

/**
 * Value layout: u32 walk ordinal of the file, JSON of the projected fields, "\n", JSON of the text.
 * JSON escapes lone surrogates, so the UTF-8 round trip is lossless; the "\n" cannot occur inside
 * either JSON (JSON.stringify escapes it).
 */
function encodeEvidence(record: EvidenceRecord, ordinal: number): Buffer {
  const contractor = record.metadata !== undefined && Object.hasOwn(record.metadata, 'contractor') ? record.metadata['contractor'] : undefined;
  const meta = JSON.stringify([
    record.task_id,
    record.model_role,
    record.model_name ?? '',
    record.source_files ?? [],
    record.retrieved_context?.matrix_corpora ?? [],
    record.retrieved_context?.pathway_fingerprints_seen ?? 0,
    typeof contractor === 'string' ? contractor : '',
    record.provenance.source_file,
  ]);
  const body = `${meta}\n${JSON.stringify(record.text)}`;
  const value = Buffer.allocUnsafe(ORDINAL_BYTES + Buffer.byteLength(body));
  value.writeUInt32LE(ordinal, 0);
  value.write(body, ORDINAL_BYTES);
  return value;
}

type StoredMeta = [string, string, string, string[], string[], number, string, string];

function decodeEvidence(value: Buffer): JoinedEvidence {
  const split = value.indexOf(NEWLINE, ORDINAL_BYTES);
  const [task_id, model_role, model_name, source_files, matrix_corpora, pathway_fingerprints_seen, contractor, source_file] = JSON.parse(
    value.toString('utf8', ORDINAL_BYTES, split),
  ) as StoredMeta;
  const textJson = value.toString('utf8', split + 1);
  const text = JSON.parse(textJson) as string;
  return { task_id, model_role, model_name, source_files, matrix_corpora, pathway_fingerprints_seen, contractor, source_file, text, textJson };
}

function unchangedPrefix(previous: Manifest, files: InputFile[], relative: (file: InputFile) => string): number {
  let n = 0;
  while (n < previous.files.length && n < files.length) {
    const before = previous.files[n]!;
    const now = files[n]!;
    if (before.path !== relative(now) || before.size !== now.size || before.mtimeMs !== now.mtimeMs || before.ino !== now.ino) break;
    n++;
  }
  return n;
}

async function readManifest(manifestPath: string): Promise<Manifest> {
  const empty: Manifest = { format: MANIFEST_FORMAT, clean: false, files: [] };
  const text = await readFile(manifestPath, 'utf8').catch(() => undefined); // no manifest: build from scratch
  if (text === undefined) return empty;
  try {
    const manifest = JSON.parse(text) as Manifest;
    return manifest.format === MANIFEST_FORMAT && Array.isArray(manifest.files) ? manifest : empty;
  } catch {
    return empty; // a damaged manifest only costs a rebuild
  }
}

async function writeManifest(manifestPath: string, manifest: Manifest): Promise<void> {
  const temp = `${manifestPath}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(manifest));
  await rename(temp, manifestPath);
}

/** Beside the evidence when it is writable, else in the temp folder under a name derived from its path. */
async function indexLocation(evidenceRoot: string, isFolder: boolean): Promise<string> {
  const beside = isFolder ? path.join(evidenceRoot, INDEX_DIR_NAME) : path.join(path.dirname(evidenceRoot), `.${path.basename(evidenceRoot)}${INDEX_DIR_NAME}`);
  try {
    await ensureFolder(beside);
    return beside;
  } catch {
    const fallback = path.join(os.tmpdir(), 'distill-stream-index', sha256Hex(evidenceRoot).slice(0, 16));
    await ensureFolder(fallback);
    return fallback;
  }
}

import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Connection, Table } from '@lancedb/lancedb';
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import { DistillError, ioError } from '../errors.js';
import { readWritten, writeWhole } from '../io/small-file.js';
import { sha256Hex } from '../core/canonical.js';
import type { RecordProvenance } from '../records.js';
import type { FileDigest } from '../receipts.js';
import type { EmbedderIdentity } from './embedders.js';
import { acquireLock } from '../io/lock.js';

type LanceDb = typeof import('@lancedb/lancedb');
type Arrow = typeof import('apache-arrow');

let lance: Promise<LanceDb> | undefined;
let arrow: Arrow | undefined;

/**
 * LanceDB is loaded by the first index opened (it costs ~0.3 s and 25 MB a process), so importing
 * distill-stream, or running a command that never touches an index, does not pay for it.
 */
const loadLance = (): Promise<LanceDb> => (lance ??= import('@lancedb/lancedb'));

/**
 * apache-arrow as LanceDB (a CommonJS package) loads it: the ESM build would be a second copy of
 * the library, whose classes LanceDB's `instanceof` checks do not recognise.
 */
const loadArrow = (): Arrow => (arrow ??= createRequire(import.meta.url)('apache-arrow') as Arrow);

/** The on-disk format this build writes, and the newest it reads. */
export const FORMAT = 'distill-stream-vectors';
export const FORMAT_VERSION = 1;
/** The commit point of an index: replaced by one rename, it names the table version readers see. */
export const MANIFEST_FILE = 'distill-vectors.json';
export const TABLE = 'items';
/** LanceDB keeps a table `items` of a database folder in `items.lance/`. */
const TABLE_FOLDER = `${TABLE}.lance`;
/** What LanceDB makes in a database folder: the table and its namespace catalogue. */
const LANCEDB_ENTRIES = [TABLE_FOLDER, '__manifest'];

export interface IndexManifest {
  format: typeof FORMAT;
  format_version: number;
  embedder: EmbedderIdentity;
  dimension: number;
  /** Cosine similarity, computed as the dot product of L2-normalised vectors. */
  distance: 'cosine';
  table: typeof TABLE;
  /** The LanceDB table version this manifest commits; later versions are a killed writer's and are never read. */
  table_version: number;
  /** Optional in format 1: a manifest without them is read, and they are recomputed from the table. */
  count?: number;
  id_set_sha256?: string;
}

/** The description of an item. An item without one keeps its id and vector, and is found by search like any other. */
export interface ItemMetadata {
  title: string;
  tags: string[];
  source_run_id: string;
  provenance: RecordProvenance;
}

export interface VectorItem {
  id: string;
  vector: Float32Array;
  /** sha256 of the text the vector was made from: the same text again is a no-op. */
  text_sha256: string;
  metadata: ItemMetadata | null;
}

/** A row of a nearest-neighbour scan: LanceDB's distance (1 − dot, in float32) and the stored vector. */
export interface Candidate {
  id: string;
  vector: Float32Array;
  distance: number;
  title: string | null;
  tags: string[] | null;
  source_run_id: string | null;
}

/**
 * sha256 of the index's id set: each id followed by "\n", ids in JavaScript string order (UTF-16
 * code units). Equal for equal sets whatever the insertion order; sha256("") for an empty index.
 */
export function idSetHash(ids: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of [...ids].sort()) hash.update(`${id}\n`);
  return hash.digest('hex');
}

let manifestValidator: ValidateFunction<IndexManifest> | undefined;

/** The manifest's JSON Schema, compiled once per process. */
function validateManifest(): ValidateFunction<IndexManifest> {
  manifestValidator ??= new Ajv({ allErrors: false, strict: true }).compile<IndexManifest>(
    createRequire(import.meta.url)('../schemas/vector-index-manifest.schema.json') as AnySchemaObject,
  );
  return manifestValidator;
}

/** A manifest is a few hundred bytes: a larger file is not one. */
const MAX_MANIFEST_BYTES = 1 << 20;

const notFound = (display: string): DistillError => new DistillError('DS_IO', `${display}: no vector index here (not found)`, { path: display });

/**
 * Reads and checks an index's manifest: a missing folder or manifest is "not found"; a manifest of
 * another format, of a newer format version, or not matching the schema is refused, naming the file.
 */
export async function readManifest(folder: string, display: string): Promise<{ manifest: IndexManifest; digest: FileDigest }> {
  const file = path.join(folder, MANIFEST_FILE);
  const where = `${display}/${MANIFEST_FILE}`;
  const bytes = await readWritten(file, MAX_MANIFEST_BYTES, (why) => new DistillError('DS_IO', `${where}: damaged manifest (${why})`, { path: where }), where);
  if (bytes === undefined) throw notFound(display);
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DistillError('DS_IO', `${where}: damaged manifest (not JSON)`, { path: where, cause });
  }
  const marker = (typeof value === 'object' && value !== null ? value : {}) as { format?: unknown; format_version?: unknown };
  if (marker.format !== FORMAT) throw new DistillError('DS_IO', `${where}: not a distill-stream vector index manifest`, { path: where });
  if (typeof marker.format_version === 'number' && marker.format_version > FORMAT_VERSION) {
    throw new DistillError('DS_IO', `${where}: format version ${marker.format_version} is newer than this build reads (${FORMAT_VERSION})`, { path: where });
  }
  const validate = validateManifest();
  if (!validate(value)) {
    const detail = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
    throw new DistillError('DS_IO', `${where}: damaged manifest: ${detail}`, { path: where });
  }
  return { manifest: value, digest: textDigest(where, text) };
}

/** bytes and sha256 of a small file's text, as receipts list files. */
const textDigest = (display: string, text: string): FileDigest => ({ path: display, bytes: Buffer.byteLength(text), sha256: sha256Hex(text) });

/** The manifest replaced in one rename, its bytes flushed first: a killed writer leaves the old one or the new one. */
async function writeManifest(folder: string, manifest: IndexManifest, display: string): Promise<FileDigest> {
  const file = path.join(folder, MANIFEST_FILE);
  const shown = `${display}/${MANIFEST_FILE}`;
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeWhole(file, text, shown);
  return textDigest(shown, text);
}

/** The table's Arrow schema: metadata columns are nullable, the id, vector and text hash never are. */
function tableSchema(dimension: number): import('apache-arrow').Schema {
  const { Field, FixedSizeList, Float32, List, Schema, Utf8 } = loadArrow();
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('vector', new FixedSizeList(dimension, new Field('item', new Float32(), true)), false),
    new Field('text_sha256', new Utf8(), false),
    new Field('title', new Utf8(), true),
    new Field('tags', new List(new Field('item', new Utf8(), true)), true),
    new Field('source_run_id', new Utf8(), true),
    /** The sample's provenance object as JSON text, fields in its own order. */
    new Field('provenance', new Utf8(), true),
  ]);
}

const ITEM_COLUMNS = ['id', 'vector', 'text_sha256', 'title', 'tags', 'source_run_id', 'provenance'];

interface StoredRow {
  id: string;
  vector: { toArray(): Float32Array };
  text_sha256: string;
  title: string | null;
  tags: Iterable<string> | null;
  source_run_id: string | null;
  provenance: string | null;
  _distance?: number;
}

function toRow(item: VectorItem): Record<string, unknown> {
  const meta = item.metadata;
  return {
    id: item.id,
    vector: item.vector,
    text_sha256: item.text_sha256,
    title: meta?.title ?? null,
    tags: meta?.tags ?? null,
    source_run_id: meta?.source_run_id ?? null,
    provenance: meta === null ? null : JSON.stringify(meta.provenance),
  };
}

/** A stored row's metadata; null only when the row has none at all. */
function metadataOf(row: Omit<StoredRow, 'vector'>): ItemMetadata | null {
  const hasMetadata = row.title !== null && row.tags !== null && row.source_run_id !== null && row.provenance !== null;
  return hasMetadata ? { title: row.title!, tags: Array.from(row.tags!), source_run_id: row.source_run_id!, provenance: JSON.parse(row.provenance!) as RecordProvenance } : null;
}

/** A string as the table gives it back: its columns hold UTF-8, in which a lone surrogate is U+FFFD. */
const asStored = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

/**
 * Whether storing `given` would leave `stored` as it is. The provenance column holds JSON text,
 * whose escapes keep every string exactly, so it is compared as JSON; the other strings as stored.
 */
export function storesAs(stored: ItemMetadata | null, given: ItemMetadata): boolean {
  return (
    stored !== null &&
    stored.title === asStored(given.title) &&
    stored.source_run_id === asStored(given.source_run_id) &&
    stored.tags.length === given.tags.length &&
    stored.tags.every((tag, n) => tag === asStored(given.tags[n]!)) &&
    JSON.stringify(stored.provenance) === JSON.stringify(given.provenance)
  );
}

/** A stored row back as an item. */
function fromRow(row: StoredRow): VectorItem {
  return { id: row.id, vector: Float32Array.from(row.vector.toArray()), text_sha256: row.text_sha256, metadata: metadataOf(row) };
}

/** SQL string literal for a LanceDB filter. */
const sqlString = (value: string): string => `'${value.replaceAll("'", "''")}'`;


/** The writer lock's file inside an index folder. */
const LOCK_FILE = '.writer.lock';

/**
 * One writer per index at a time: a writer that found the table ahead of the manifest rolls it back,
 * which would undo a concurrent writer's batches. Readers take no lock: they read the version the
 * manifest names. A lock left by a killed writer is taken over.
 */
async function writerLock(folder: string, display: string): Promise<() => Promise<void>> {
  const lock = await acquireLock(path.join(folder, LOCK_FILE), { purpose: 'writing the vector index', wait: false, label: display });
  return () => lock.release();
}

/**
 * A vector index: a LanceDB table plus the manifest that commits one of its versions.
 *
 * Reads check out the version the manifest names, so a writer's uncommitted batches are never
 * seen. A writer holds the folder's lock; on opening it rolls the table back to the committed
 * version if a killed writer left later ones, writes its batches (each a LanceDB commit), and
 * makes them visible only by `commit`, which replaces the manifest in one rename.
 */
export class VectorIndex {
  private constructor(
    readonly folder: string,
    readonly display: string,
    private readonly db: Connection,
    private readonly table: Table,
    private current: IndexManifest,
    private currentDigest: FileDigest | undefined,
    private readonly unlock: (() => Promise<void>) | undefined,
  ) {}

  get manifest(): IndexManifest {
    return this.current;
  }

  /** The manifest file as last read or committed (path, bytes, sha256), for receipts; undefined for an index not committed yet. */
  get digest(): FileDigest | undefined {
    return this.currentDigest;
  }

  get writable(): boolean {
    return this.unlock !== undefined;
  }

  /** Runs a LanceDB call, turning its failures into DS_IO errors naming the index. */
  private async io<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (cause) {
      throw ioError(this.display, cause);
    }
  }

  /** Opens an index to read the version its manifest commits. */
  static async open(folder: string, display: string): Promise<VectorIndex> {
    const { manifest, digest } = await readManifest(folder, display);
    const { db, table } = await openTable(folder, display, manifest);
    return new VectorIndex(folder, display, db, table, manifest, digest, undefined);
  }

  /**
   * Opens an existing index for writing: takes the lock and rolls back versions a killed writer
   * left past the committed one (LanceDB's restore writes the committed version again as the latest).
   */
  static async openWriter(folder: string, display: string): Promise<VectorIndex> {
    await readManifest(folder, display); // "not found" before any lock file is made
    const unlock = await writerLock(folder, display);
    let index: VectorIndex | undefined;
    try {
      const { manifest, digest } = await readManifest(folder, display); // the one committed before the lock was ours
      const { db, table } = await openTable(folder, display, manifest);
      index = new VectorIndex(folder, display, db, table, manifest, digest, unlock);
      await index.io(async () => {
        await table.checkoutLatest();
        if ((await table.version()) !== manifest.table_version) {
          await table.checkout(manifest.table_version);
          await table.restore();
        }
      });
      return index;
    } catch (error) {
      await (index === undefined ? unlock() : index.close());
      throw error;
    }
  }

  /**
   * Starts a new, empty index in `folder` (made when missing), for writing; it exists for readers
   * from its first commit on. A folder without a manifest that holds only a table, a lock or a
   * manifest's temp file is a creation that never committed, and is started over; any other
   * non-empty folder is refused.
   */
  static async create(folder: string, display: string, spec: { embedder: EmbedderIdentity; dimension: number }): Promise<VectorIndex> {
    try {
      await mkdir(folder, { recursive: true });
    } catch (cause) {
      throw ioError(display, cause);
    }
    const unlock = await writerLock(folder, display);
    try {
      const entries = await readdir(folder).catch((cause: unknown) => {
        throw ioError(display, cause);
      });
      if (entries.includes(MANIFEST_FILE)) throw new DistillError('DS_IO', `${display}: a vector index already exists here`, { path: display });
      const leftOver = (name: string): boolean => LANCEDB_ENTRIES.includes(name) || name === LOCK_FILE || name.startsWith(`.${LOCK_FILE}.stale.`) || name.startsWith(`.${MANIFEST_FILE}.`);
      const foreign = entries.filter((name) => !leftOver(name));
      if (foreign.length > 0) throw new DistillError('DS_IO', `${display}: not a vector index and not empty (${foreign.slice(0, 3).join(', ')})`, { path: display });
      const db = await (async () => {
        for (const name of LANCEDB_ENTRIES) await rm(path.join(folder, name), { recursive: true, force: true });
        return (await loadLance()).connect(folder);
      })().catch((cause: unknown) => {
        throw ioError(display, cause);
      });
      const table = await db.createEmptyTable(TABLE, tableSchema(spec.dimension)).catch((cause: unknown) => {
        db.close();
        throw ioError(display, cause);
      });
      const manifest: IndexManifest = {
        format: FORMAT,
        format_version: FORMAT_VERSION,
        embedder: { kind: spec.embedder.kind, model: spec.embedder.model },
        dimension: spec.dimension,
        distance: 'cosine',
        table: TABLE,
        table_version: await table.version(),
      };
      return new VectorIndex(folder, display, db, table, manifest, undefined, unlock);
    } catch (error) {
      await unlock();
      throw error;
    }
  }

  private requireWriter(): void {
    if (!this.writable) throw new DistillError('DS_INTERNAL', `${this.display}: opened read-only`, { path: this.display });
  }

  /** The stored rows of those of `ids` the index holds, with the given columns only. */
  private async rowsOf<Row extends { id: string }>(ids: readonly string[], columns: readonly string[]): Promise<Row[]> {
    if (ids.length === 0) return [];
    return (await this.io(() => this.table.query().where(`id IN (${ids.map(sqlString).join(', ')})`).select([...columns]).toArray())) as Row[];
  }

  /** The stored text hash of each of `ids` that the index holds. */
  async storedTextHashes(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.rowsOf<{ id: string; text_sha256: string }>(ids, ['id', 'text_sha256']);
    return new Map(rows.map((row) => [row.id, row.text_sha256]));
  }

  /**
   * The stored text hash and metadata of each of `ids` that the index holds, without the vectors:
   * reading them too took 75 ms of CPU instead of 45 for 1,024 ids of a 20,000-item table, and a
   * rerun looks up every id it reads.
   */
  async storedDescriptions(ids: readonly string[]): Promise<Map<string, Omit<VectorItem, 'vector'>>> {
    const rows = await this.rowsOf<Omit<StoredRow, 'vector'>>(ids, ITEM_COLUMNS.filter((column) => column !== 'vector'));
    return new Map(rows.map((row) => [row.id, { id: row.id, text_sha256: row.text_sha256, metadata: metadataOf(row) }]));
  }

  /** The stored vector of each of `ids` that the index holds. */
  async storedVectors(ids: readonly string[]): Promise<Map<string, Float32Array>> {
    const rows = await this.rowsOf<Pick<StoredRow, 'id' | 'vector'>>(ids, ['id', 'vector']);
    return new Map(rows.map((row) => [row.id, Float32Array.from(row.vector.toArray())]));
  }

  /**
   * Appends items whose ids the index does not hold (the caller has looked them up), in one LanceDB
   * commit. An append, not a merge-insert: 1,024 rows take ~90 ms, against ~700 ms for a
   * merge-insert of the same rows, which joins them with the table.
   */
  async insert(items: readonly VectorItem[]): Promise<void> {
    this.requireWriter();
    if (items.length === 0) return;
    const data = (await loadLance()).makeArrowTable(items.map(toRow), { schema: tableSchema(this.current.dimension) });
    await this.io(() => this.table.add(data));
  }

  /** Replaces stored items by id (inserting any that are missing), in one LanceDB commit. */
  async replace(items: readonly VectorItem[]): Promise<void> {
    this.requireWriter();
    if (items.length === 0) return;
    const data = (await loadLance()).makeArrowTable(items.map(toRow), { schema: tableSchema(this.current.dimension) });
    await this.io(() => this.table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(data));
  }

  /** Every item of the version this index reads, a batch at a time as LanceDB streams them. */
  async *items(): AsyncGenerator<VectorItem[]> {
    const batches = this.table.query().select(ITEM_COLUMNS)[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.io(() => batches.next());
      if (next.done === true) return;
      yield next.value.toArray().map((row) => fromRow(row as unknown as StoredRow));
    }
  }

  /** The `limit` items of smallest LanceDB distance (1 − dot product), by an exhaustive scan. */
  async nearest(vector: Float32Array, limit: number): Promise<Candidate[]> {
    const rows = await this.io(() =>
      this.table
        .vectorSearch(vector)
        .distanceType('dot')
        .bypassVectorIndex() // exhaustive: no index is ever built, and none may answer approximately
        .limit(limit)
        .select(['id', 'vector', 'title', 'tags', 'source_run_id', '_distance'])
        .toArray(),
    );
    return (rows as StoredRow[]).map((row) => ({
      id: row.id,
      vector: Float32Array.from(row.vector.toArray()),
      distance: row._distance!,
      title: row.title,
      tags: row.tags === null ? null : Array.from(row.tags),
      source_run_id: row.source_run_id,
    }));
  }

  /** Deletes every item (one LanceDB commit); visible once committed. */
  async clear(): Promise<void> {
    this.requireWriter();
    await this.io(() => this.table.delete('true'));
  }

  /** The ids of the version this index reads, streamed from the id column. */
  async ids(): Promise<string[]> {
    const ids: string[] = [];
    const batches = this.table.query().select(['id'])[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.io(() => batches.next());
      if (next.done === true) return ids;
      const column = next.value.getChild('id')!;
      for (let i = 0; i < column.length; i++) ids.push(column.get(i) as string);
    }
  }

  /** count and id_set_sha256 of this version: from the manifest, or recomputed when it lacks them. */
  async idSummary(): Promise<{ count: number; id_set_sha256: string }> {
    if (this.current.count !== undefined && this.current.id_set_sha256 !== undefined) return { count: this.current.count, id_set_sha256: this.current.id_set_sha256 };
    const ids = await this.ids();
    return { count: ids.length, id_set_sha256: idSetHash(ids) };
  }

  /**
   * Makes the writes so far visible: a manifest naming the table's latest version, with its count
   * and id-set hash taken from the table's id column (never from the metadata), replaced in one rename.
   */
  async commit(): Promise<{ manifest: IndexManifest; digest: FileDigest }> {
    this.requireWriter();
    const version = await this.io(() => this.table.version());
    const ids = await this.ids();
    const manifest: IndexManifest = {
      format: FORMAT,
      format_version: FORMAT_VERSION,
      embedder: this.current.embedder,
      dimension: this.current.dimension,
      distance: 'cosine',
      table: TABLE,
      table_version: version,
      count: ids.length,
      id_set_sha256: idSetHash(ids),
    };
    const digest = await writeManifest(this.folder, manifest, this.display);
    this.current = manifest;
    this.currentDigest = digest;
    return { manifest, digest };
  }

  /** Closes LanceDB's handles and releases the lock; uncommitted writes stay invisible. */
  async close(): Promise<void> {
    this.table.close();
    this.db.close();
    await this.unlock?.();
  }
}

/** Connects to the folder and checks out the manifest's table version. */
async function openTable(folder: string, display: string, manifest: IndexManifest): Promise<{ db: Connection; table: Table }> {
  let db: Connection | undefined;
  try {
    db = await (await loadLance()).connect(folder);
    const table = await db.openTable(manifest.table);
    try {
      await table.checkout(manifest.table_version);
    } catch (cause) {
      table.close();
      throw new DistillError('DS_IO', `${display}: damaged index: its table has no version ${manifest.table_version}`, { path: display, cause });
    }
    const field = (await table.schema()).fields.find((f) => f.name === 'vector');
    const width = (field?.type as { listSize?: number } | undefined)?.listSize;
    if (width !== manifest.dimension) {
      table.close();
      throw new DistillError('DS_IO', `${display}: damaged index: the manifest says dimension ${manifest.dimension}, the table holds ${String(width)}`, { path: display });
    }
    return { db, table };
  } catch (error) {
    db?.close();
    throw error instanceof DistillError ? error : ioError(display, error);
  }
}

/** Whether `folder` holds a committed index (its manifest exists, whatever it says). */
export async function hasManifest(folder: string): Promise<boolean> {
  return stat(path.join(folder, MANIFEST_FILE)).then(
    () => true,
    () => false,
  );
}

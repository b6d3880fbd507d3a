import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import { isIsoTimestamp } from '../timestamp.js';
import { DistillError, ioError, usageError } from '../errors.js';
import { writeWhole } from '../io/small-file.js';
import { combinedHash } from '../report/hashes.js';
import type { FileDigest, RecordCounts, StageReceipt, StageValidation } from '../receipts.js';
import type { EmbedderIdentity } from './embedders.js';
import type { VectorIndex } from './store.js';

export type VectorsStage = 'vectors-add' | 'vectors-merge';

/** An index as a receipt records it, after the run. */
export interface IndexState {
  path: string;
  format_version: number;
  embedder: EmbedderIdentity;
  dimension: number;
  count: number;
  id_set_sha256: string;
  table_version: number;
}

/**
 * add: in = out + quarantined, out = added + replaced + updated + unchanged.
 * merge: in (items of the source) = out (inserted) + skipped (already in the destination).
 */
export interface VectorsRecordCounts extends Omit<RecordCounts, 'unpaired'> {
  added?: number;
  replaced?: number;
  /** add: the same text with other metadata, rewritten without embedding. */
  updated?: number;
  unchanged?: number;
  skipped?: number;
}

/**
 * A StageReceipt (docs/receipts.md) of a vectors stage, field for field in the same order, with the
 * index's state after it (and the source's, for merge).
 */
export interface VectorsReceipt extends Omit<StageReceipt, 'stage' | 'record_counts'> {
  stage: VectorsStage;
  record_counts: VectorsRecordCounts;
  index: IndexState;
  source?: IndexState;
}

/** Where an index keeps its receipts: `<index>/receipts/<run_id>.<stage>.json`. */
export const RECEIPTS_FOLDER = 'receipts';

const { version: PACKAGE_VERSION } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Options every writing command shares, checked once at start. */
export interface ReceiptOptions {
  recordedAt: string;
  runId: string;
  toolVersion: string;
  gitSha: string | null;
}

/** recorded_at is one value per run (docs/records.md): the caller's, or the clock's at start. */
export function receiptOptions(options: { recordedAt?: string | undefined; runId?: string | undefined; toolVersion?: string | undefined; gitSha?: string | null | undefined }): ReceiptOptions {
  const recordedAt = options.recordedAt ?? new Date().toISOString();
  if (!isIsoTimestamp(recordedAt)) throw usageError(`--recorded-at '${recordedAt}' is not an ISO-8601 timestamp`);
  const runId = options.runId ?? randomUUID();
  if (runId === '' || /[/\\]/.test(runId) || runId.startsWith('.')) throw usageError(`--run-id '${runId}' cannot name a file`);
  return { recordedAt, runId, toolVersion: options.toolVersion ?? PACKAGE_VERSION, gitSha: options.gitSha ?? null };
}

export async function indexState(index: VectorIndex): Promise<IndexState> {
  const { manifest } = index;
  const { count, id_set_sha256 } = await index.idSummary();
  return {
    path: index.display,
    format_version: manifest.format_version,
    embedder: { kind: manifest.embedder.kind, model: manifest.embedder.model },
    dimension: manifest.dimension,
    count,
    id_set_sha256,
    table_version: manifest.table_version,
  };
}

/** The run's own promises: counts that add up. Quarantined rows are warnings, never failures (docs/receipts.md). */
export function validateCounts(counts: VectorsRecordCounts): StageValidation {
  const errors: string[] = [];
  if (counts.in !== counts.out + counts.quarantined + (counts.skipped ?? 0)) {
    errors.push(`counts do not add up: in=${counts.in} but out + quarantined + skipped = ${counts.out + counts.quarantined + (counts.skipped ?? 0)}`);
  }
  if (counts.added !== undefined) {
    const written = counts.added + (counts.replaced ?? 0) + (counts.updated ?? 0) + (counts.unchanged ?? 0);
    if (written !== counts.out) errors.push(`counts do not add up: out=${counts.out} but added + replaced + updated + unchanged = ${written}`);
  }
  const warnings = Object.entries(counts.by_reason).map(([reason, n]) => `quarantined ${n} ${n === 1 ? 'row' : 'rows'}: ${reason}`);
  return { passed: errors.length === 0, errors, warnings };
}

const byPath = (a: FileDigest, b: FileDigest): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

export function buildReceipt(
  stage: VectorsStage,
  options: ReceiptOptions,
  run: { started: Date; startedMs: number; inputs: readonly FileDigest[]; outputs: readonly FileDigest[]; counts: VectorsRecordCounts; samples: Record<string, number[]>; index: IndexState; source?: IndexState },
): VectorsReceipt {
  const inputs = [...run.inputs].sort(byPath);
  const outputs = [...run.outputs].sort(byPath);
  return {
    schema_version: 1,
    run_id: options.runId,
    stage,
    tool_version: options.toolVersion,
    git_sha: options.gitSha,
    recorded_at: options.recordedAt,
    started_at: run.started.toISOString(),
    finished_at: new Date().toISOString(),
    duration_ms: Math.round(performance.now() - run.startedMs),
    inputs,
    outputs,
    input_hash: combinedHash(inputs),
    output_hash: combinedHash(outputs),
    record_counts: run.counts,
    validation: validateCounts(run.counts),
    samples: run.samples,
    index: run.index,
    ...(run.source === undefined ? {} : { source: run.source }),
  };
}

let receiptValidator: ValidateFunction<VectorsReceipt> | undefined;

function validateReceipt(): ValidateFunction<VectorsReceipt> {
  if (receiptValidator === undefined) {
    const ajv = new Ajv({ allErrors: false, strict: true });
    ajv.addFormat('iso-timestamp', { type: 'string', validate: isIsoTimestamp });
    receiptValidator = ajv.compile<VectorsReceipt>(createRequire(import.meta.url)('../schemas/vectors-receipt.schema.json') as AnySchemaObject);
  }
  return receiptValidator;
}

/**
 * Checks the receipt against its schema, then writes it to `<index>/receipts/<run_id>.<stage>.json`
 * atomically (temp file, then rename). Returns its path as receipts name files.
 */
export async function writeReceipt(folder: string, display: string, receipt: VectorsReceipt): Promise<string> {
  const validate = validateReceipt();
  const name = `${receipt.run_id}.${receipt.stage}.json`;
  const shown = `${display}/${RECEIPTS_FOLDER}/${name}`;
  if (!validate(receipt)) throw new DistillError('DS_VALIDATION', `${shown} would not match its schema: ${JSON.stringify(validate.errors)}`, { path: shown });
  const file = path.join(folder, RECEIPTS_FOLDER, name);
  await mkdir(path.dirname(file), { recursive: true }).catch((cause: unknown) => {
    throw ioError(shown, cause);
  });
  await writeWhole(file, `${JSON.stringify(receipt, null, 2)}\n`, shown);
  return shown;
}

/**
 * The one-line summary of a run for stderr, like every stage's:
 * `[vectors-add] read=19 added=19 replaced=0 updated=0 unchanged=0 quarantined=0 count=19 {}` or
 * `[vectors-merge] read=10 inserted=5 skipped=5 count=15 source_count=0 {}`.
 */
export function summaryLine(receipt: VectorsReceipt): string {
  const c = receipt.record_counts;
  const reasons = Object.entries(c.by_reason).map(([reason, n]) => `${reason}: ${n}`).join(', ');
  const counts =
    receipt.stage === 'vectors-add'
      ? `added=${c.added ?? 0} replaced=${c.replaced ?? 0} updated=${c.updated ?? 0} unchanged=${c.unchanged ?? 0} quarantined=${c.quarantined} count=${receipt.index.count}`
      : `inserted=${c.out} skipped=${c.skipped ?? 0} count=${receipt.index.count} source_count=${receipt.source?.count ?? 0}`;
  return `[${receipt.stage}] read=${c.in} ${counts} {${reasons}}\n`;
}

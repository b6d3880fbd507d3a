import type { ColumnType } from '../io/parquet.js';
import type { RecordProvenance, ScoredRun } from '../records.js';

/** RecordProvenance as a Parquet struct column. */
export const PROVENANCE_COLUMNS: ColumnType = { source_file: 'string', line_offset: 'int64', sig_hash: 'string', recorded_at: 'string' };
/** A chat turn (`{"role","content"}`) as a Parquet struct. */
export const TURN_COLUMNS: ColumnType = { role: 'string', content: 'text' };

/** An export's provenance: the scored row's location and sig_hash, stamped with this export's recorded_at. */
export function exportProvenance(run: ScoredRun, recordedAt: string): RecordProvenance {
  return {
    source_file: run.provenance.source_file,
    line_offset: run.provenance.line_offset,
    sig_hash: run.provenance.sig_hash,
    recorded_at: recordedAt,
  };
}

/**
 * `"created_at":…,"provenance":{…}}` + "\n": the tail every export sample ends with, as
 * JSON.stringify writes it. sig_hash and line_offset are schema-checked, so they need no escaping.
 */
export function serializeTail(createdAt: string, p: RecordProvenance): string {
  return (
    `"created_at":${JSON.stringify(createdAt)},"provenance":{"source_file":${JSON.stringify(p.source_file)},` +
    `"line_offset":${p.line_offset},"sig_hash":"${p.sig_hash}","recorded_at":${JSON.stringify(p.recorded_at)}}}\n`
  );
}

/**
 * One output line from its parts: strings encoded as UTF-8, byte parts (texts read from the
 * evidence as they stand) copied in — the long texts are never decoded or re-escaped.
 */
export function assemble(parts: ReadonlyArray<string | Uint8Array>): Buffer {
  let length = 0;
  for (const part of parts) length += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const part of parts) {
    if (typeof part === 'string') at += out.write(part, at);
    else {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

/** The hex tail of a short id (what IdSet stores). */
export const idDigits = (id: string): string => id.slice(id.indexOf('-') + 1);

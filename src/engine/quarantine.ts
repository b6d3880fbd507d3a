import type { Writable } from 'node:stream';
import { jsonText } from '../core/canonical.js';
import { cutCodePoints } from '../core/text.js';
import { drained } from '../io/drain.js';
import type { QuarantineReason, SourceLocation, StageName } from '../records.js';

/** Code points of an unparsable line kept in its quarantine row. */
export const RAW_EXCERPT_CODE_POINTS = 200;

/** source_record for a line that never parsed (docs/records.md, QuarantineRecord). */
export const rawExcerpt = (text: string): { _raw: string } => ({ _raw: cutCodePoints(text, RAW_EXCERPT_CODE_POINTS) });

/** The parsed row as JSON.stringify writes it, even when it is nested too deep for JSON.stringify. */
function recordJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof RangeError) return jsonText(value); // bad input never crashes a run
    throw error;
  }
}

/** One quarantine row as written, "\n" included. */
export function quarantineRow(prefix: string, recordedAtJson: string, reason: QuarantineReason, errors: readonly string[], sourceRecord: unknown, location: SourceLocation): string {
  return (
    `${prefix}"${reason}","errors":${JSON.stringify(errors)},"recorded_at":${recordedAtJson},` +
    `"source_provenance":{"source_file":${JSON.stringify(location.source_file)},"line_offset":${location.line_offset}},` +
    `"source_record":${recordJson(sourceRecord)}}\n`
  );
}

/** The fixed start of a stage's quarantine rows and its recorded_at as JSON. */
export const quarantineParts = (stage: StageName, recordedAt: string): [prefix: string, recordedAtJson: string] => [
  `{"schema_version":1,"stage":${JSON.stringify(stage)},"reason":`,
  JSON.stringify(recordedAt),
];

/**
 * Serialises quarantine rows in input order and writes them a batch at a time with the same
 * backpressure as the main output: `flush` calls back only once the sink can take more. It writes;
 * the engine that routes a rejection here counts it.
 */
export class QuarantineWriter {
  private pending = '';
  private readonly prefix: string;
  private readonly recordedAtJson: string;

  constructor(
    private readonly sink: Writable,
    stage: StageName,
    recordedAt: string,
  ) {
    [this.prefix, this.recordedAtJson] = quarantineParts(stage, recordedAt);
  }

  /** Queues one row; returns it (its bytes are what a shard's position record counts). */
  add(reason: QuarantineReason, errors: readonly string[], sourceRecord: unknown, location: SourceLocation): string {
    const row = quarantineRow(this.prefix, this.recordedAtJson, reason, errors, sourceRecord, location);
    this.pending += row;
    return row;
  }

  flushed(): Promise<void> {
    return new Promise((resolve, reject) => this.flush((error) => (error ? reject(error) : resolve())));
  }

  flush(callback: (error?: Error | null) => void): void {
    if (this.pending === '') return callback();
    const chunk = this.pending;
    this.pending = '';
    if (this.sink.write(chunk)) callback();
    else drained(this.sink).then(() => callback(), callback);
  }
}

import { Transform, type TransformCallback } from 'node:stream';
import { parseJson } from '../core/gates.js';
import { Rejection } from '../core/rejection.js';
import type { LineBatch } from '../io/inputs.js';
import { rawExcerpt, type QuarantineWriter } from '../io/quarantine.js';
import type { SourceLocation } from '../records.js';
import type { StageStats } from './stats.js';

/** A stage's whole per-record work after parsing: its output (e.g. a serialised line) or a Rejection. */
export type RowFunction<T = string> = (value: unknown, location: SourceLocation) => T | Rejection;

/** One output chunk for a batch of lines (most stages). */
export const joinLines = (lines: string[]): string => lines.join('');

/** Object-mode buffering between stages: batches of ~1 MB of lines, so a few in flight. */
export const BATCH_HIGH_WATER_MARK = 4;

/**
 * The fused hot path of a one-row-in, at-most-one-row-out stage: parse, then the stage's gate chain,
 * inside one Transform (a stream boundary per gate would cost a callback and a buffer each).
 * Output rows of a batch leave as one chunk; rejections go to the quarantine writer, whose
 * backpressure holds this stage back too.
 */
export class RowStage<T = string> extends Transform {
  constructor(
    private readonly row: RowFunction<T>,
    private readonly quarantine: QuarantineWriter,
    private readonly stats: StageStats,
    /** Turns a batch's outputs into the one chunk pushed downstream. */
    private readonly combine: (outputs: T[]) => unknown,
  ) {
    super({ objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK });
  }

  override _transform(batch: LineBatch, _encoding: BufferEncoding, callback: TransformCallback): void {
    const outputs: T[] = [];
    for (const line of batch.lines) {
      this.stats.in++;
      const location: SourceLocation = { source_file: batch.source, line_offset: line.line };
      if (line.tooLong) {
        this.quarantine.addRow('line_too_long', ['line is longer than --max-line-bytes'], rawExcerpt(line.text), location);
        continue;
      }
      const parsed = parseJson(line.text);
      if (parsed === undefined) {
        this.quarantine.addRow('schema_violation', ['line is not valid JSON'], rawExcerpt(line.text), location);
        continue;
      }
      const result = this.row(parsed.value, location);
      if (result instanceof Rejection) this.quarantine.add(result, parsed.value, location);
      else {
        outputs.push(result);
        this.stats.out++;
      }
    }
    if (outputs.length > 0) this.push(this.combine(outputs));
    this.quarantine.flush(callback);
  }
}

import { Transform, Writable, type TransformCallback } from 'node:stream';
import { parseJson } from '../core/gates.js';
import { Rejection } from '../core/rejection.js';
import type { LineBatch } from '../io/inputs.js';
import { rawExcerpt, type QuarantineWriter } from '../io/quarantine.js';
import type { SourceLocation } from '../records.js';
import type { StageStats } from './stats.js';

/** A stage's whole per-record work after parsing: its output (e.g. a serialised line) or a Rejection. */
export type RowFunction<T = string> = (value: unknown, location: SourceLocation) => T | Rejection;

/** One consumer of parsed rows: its gate chain, its quarantine and its counters. */
export interface RowBranch<T> {
  row: RowFunction<T>;
  quarantine: QuarantineWriter;
  stats: StageStats;
}

/** One output chunk for a batch of lines (most stages). */
export const joinLines = (lines: string[]): string => lines.join('');

/** Object-mode buffering between stages: a batch is one read chunk of lines (64 KiB), a few in flight. */
export const BATCH_HIGH_WATER_MARK = 2;

/**
 * Runs a batch of lines through every branch, parsing each line once: too-long and unparsable lines
 * are quarantined by every branch (each stage accounts for every row it read), parsed values go
 * through each branch's gate chain. Returns each branch's outputs in input order.
 */
export function routeBatch(batch: LineBatch, branches: ReadonlyArray<RowBranch<unknown>>): unknown[][] {
  const outputs: unknown[][] = branches.map(() => []);
  for (const line of batch.lines) {
    const location: SourceLocation = { source_file: batch.source, line_offset: line.line };
    for (const branch of branches) branch.stats.in++;
    if (line.tooLong) {
      for (const { quarantine } of branches) quarantine.addRow('line_too_long', ['line is longer than --max-line-bytes'], rawExcerpt(line.text), location);
      continue;
    }
    const parsed = parseJson(line.text);
    if (parsed === undefined) {
      for (const { quarantine } of branches) quarantine.addRow('schema_violation', ['line is not valid JSON'], rawExcerpt(line.text), location);
      continue;
    }
    branches.forEach((branch, n) => {
      const result = branch.row(parsed.value, location);
      if (result instanceof Rejection) branch.quarantine.add(result, parsed.value, location);
      else {
        outputs[n]!.push(result);
        branch.stats.out++;
      }
    });
  }
  return outputs;
}

/**
 * The fused hot path of a one-row-in, at-most-one-row-out stage: parse, then the stage's gate chain,
 * inside one Transform (a stream boundary per gate would cost a callback and a buffer each).
 * Output rows of a batch leave as one chunk; rejections go to the quarantine writer, whose
 * backpressure holds this stage back too.
 */
export class RowStage<T = string> extends Transform {
  private readonly branches: ReadonlyArray<RowBranch<unknown>>;

  constructor(
    row: RowFunction<T>,
    private readonly quarantine: QuarantineWriter,
    stats: StageStats,
    /** Turns a batch's outputs into the one chunk pushed downstream. */
    private readonly combine: (outputs: T[]) => unknown,
  ) {
    super({ objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK });
    this.branches = [{ row, quarantine, stats }];
  }

  override _transform(batch: LineBatch, _encoding: BufferEncoding, callback: TransformCallback): void {
    const [outputs] = routeBatch(batch, this.branches) as [T[]];
    if (outputs.length > 0) this.push(this.combine(outputs));
    this.quarantine.flush(callback);
  }
}

/** A branch of a fan-out: where its outputs go, with backpressure (resolves when they may continue). */
export interface FanOutBranch<T> extends RowBranch<T> {
  accept: (outputs: T[]) => Promise<void>;
}

/**
 * One pass over the input feeding several stages (export-all): each line is split and parsed once,
 * then run through every branch; the slowest branch's sink sets the pace.
 */
export class FanOutStage extends Writable {
  constructor(private readonly branches: ReadonlyArray<FanOutBranch<unknown>>) {
    super({ objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK });
  }

  override _write(batch: LineBatch, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const outputs = routeBatch(batch, this.branches);
    const pending = this.branches.map(async (branch, n) => {
      if (outputs[n]!.length > 0) await branch.accept(outputs[n]!);
      await branch.quarantine.flushed();
    });
    Promise.all(pending).then(() => callback(), callback);
  }
}

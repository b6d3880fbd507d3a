import { Transform, Writable, type TransformCallback } from 'node:stream';
import { parseJson } from '../core/gates.js';
import { Rejection } from '../core/rejection.js';
import type { LineBatch } from '../io/inputs.js';
import type { SourceLocation } from '../records.js';
import { SHAPE_HEAD, SHAPE_KEYS, type RejectedShape, type StageCounts } from './counts.js';
import { rawExcerpt, type QuarantineWriter } from './quarantine.js';
import type { Kept, RowFunction } from './row.js';

/**
 * What a shard keeps of each row it decided, besides the rows themselves: enough for the merge to
 * settle what only the whole input can decide (a duplicate across shards) in input order.
 */
export interface RowRecorder {
  kept(location: SourceLocation, kept: Kept<unknown>, bytes: number): void;
  quarantined(location: SourceLocation, bytes: number): void;
}

/** One consumer of parsed rows: its gate chain, its quarantine, its counters and the metric it samples. */
export interface RowBranch<T> {
  row: RowFunction<T>;
  quarantine: QuarantineWriter;
  counts: StageCounts;
  /** The receipt metric a kept row's sample value goes to. */
  sampleMetric: string | undefined;
  /** A shard's recorder of what it decided (none in one process). */
  recorder?: RowRecorder | undefined;
}

/** Bytes of a kept value as it is written: a line, its bytes, or a partitioned line's line; a pairing entry writes none. */
function bytesOf(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value instanceof Uint8Array) return value.length;
  const line = typeof value === 'object' && value !== null ? (value as { line?: unknown }).line : undefined;
  if (typeof line === 'string') return Buffer.byteLength(line);
  return line instanceof Uint8Array ? line.length : 0;
}

/** One output chunk for a batch of lines (most stages): a stage's lines are all strings, or all bytes. */
export const joinLines = (lines: ReadonlyArray<string | Uint8Array>): string | Buffer =>
  typeof lines[0] === 'string' ? (lines as string[]).join('') : Buffer.concat(lines as Uint8Array[]);

/** Object-mode buffering between stages: a batch is one read chunk of lines (64 KiB), a few in flight. */
export const BATCH_HIGH_WATER_MARK = 2;

const TOO_LONG = ['line is longer than --max-line-bytes'];
const NOT_JSON = ['line is not valid JSON'];

/**
 * Runs a batch of lines through every branch, parsing each line once, and counts what happened:
 * every line read is `in`; too-long and unparsable lines are quarantined by every branch (each
 * stage accounts for every row it read); a parsed value goes through each branch's gate chain and is
 * kept (`out`, its category and sample) or quarantined with the gate's reason. The only place rows
 * are counted. Returns each branch's kept values in input order.
 */
export function routeBatch(batch: LineBatch, branches: ReadonlyArray<RowBranch<unknown>>): unknown[][] {
  const outputs: unknown[][] = branches.map(() => []);
  for (const line of batch.lines) {
    const location: SourceLocation = { source_file: batch.source, line_offset: line.line };
    for (const branch of branches) branch.counts.in++;
    if (line.tooLong) {
      for (const branch of branches) quarantineRow(branch, 'line_too_long', TOO_LONG, rawExcerpt(line.text), location, line.text);
      continue;
    }
    const parsed = line.unreadable === undefined ? parseJson(line.text) : undefined;
    if (parsed === undefined) {
      const errors = line.unreadable === undefined ? NOT_JSON : [line.unreadable];
      for (const branch of branches) quarantineRow(branch, 'schema_violation', errors, rawExcerpt(line.text), location, line.text);
      continue;
    }
    branches.forEach((branch, n) => {
      const result = branch.row(parsed.value, location, line.bytes);
      if (result instanceof Rejection) {
        quarantineRow(branch, result.reason, result.errors, parsed.value, location);
        return;
      }
      const counts = branch.counts;
      counts.out++;
      if (result.category !== undefined) counts.countCategory(result.category);
      if (result.sampleKey !== undefined) counts.sample(branch.sampleMetric!, result.sampleKey, result.sampleValue);
      if (result.unruled !== undefined) counts.countUnruled(result.unruled);
      branch.recorder?.kept(location, result, bytesOf(result.value));
      outputs[n]!.push(result.value);
    });
  }
  return outputs;
}

/** The shape of a rejected row: the parsed value's, or the start of the line that never parsed (`raw`). */
function shapeOf(reason: Rejection['reason'], record: unknown, raw: string | undefined, location: SourceLocation): RejectedShape {
  const at = { reason, source: location.source_file, line: location.line_offset };
  if (raw !== undefined) return { ...at, kind: 'text', head: raw.slice(0, SHAPE_HEAD) };
  if (record === null) return { ...at, kind: 'null' };
  if (Array.isArray(record)) return { ...at, kind: 'array' };
  if (typeof record === 'object') return { ...at, kind: 'object', keys: Object.keys(record).slice(0, SHAPE_KEYS) };
  return { ...at, kind: typeof record as 'string' | 'number' | 'boolean' };
}

function quarantineRow(branch: RowBranch<unknown>, reason: Rejection['reason'], errors: readonly string[], record: unknown, location: SourceLocation, raw?: string): void {
  branch.counts.quarantined++;
  branch.counts.countReason(reason);
  // Only the first few of a reason: a shape costs an allocation (and an object's keys) per row.
  if (branch.counts.keepsShapeOf(reason)) branch.counts.rejectedShapes.push(shapeOf(reason, record, raw, location));
  const row = branch.quarantine.add(reason, errors, record, location);
  branch.recorder?.quarantined(location, Buffer.byteLength(row));
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
    branch: RowBranch<T>,
    /** Turns a batch's outputs into the one chunk pushed downstream. */
    private readonly combine: (outputs: T[]) => unknown,
  ) {
    super({ objectMode: true, highWaterMark: BATCH_HIGH_WATER_MARK });
    this.branches = [branch];
  }

  override _transform(batch: LineBatch, _encoding: BufferEncoding, callback: TransformCallback): void {
    const [outputs] = routeBatch(batch, this.branches) as [T[]];
    if (outputs.length > 0) this.push(this.combine(outputs));
    this.branches[0]!.quarantine.flush(callback);
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

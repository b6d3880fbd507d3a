import path from 'node:path';
import type { Duplex, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { usageError } from '../errors.js';
import type { ColumnShape } from './parquet.js';
import { zstdEncoder } from './zstd.js';

/** How an output file's rows are written, chosen once from its name when the run is planned. */
export type OutputFormat = { kind: 'jsonl' } | { kind: 'gzip' } | { kind: 'zstd' } | { kind: 'parquet'; columns: ColumnShape };

export type FormatName = OutputFormat['kind'];

/** The names that choose a format other than plain JSONL, longest first. */
const EXTENSIONS: ReadonlyArray<readonly [string, FormatName]> = [
  ['.jsonl.gz', 'gzip'],
  ['.jsonl.zst', 'zstd'],
  ['.parquet', 'parquet'],
];

/** The format a file name asks for: `.jsonl.gz`, `.jsonl.zst`, `.parquet`; anything else is JSONL. */
export function formatNameOf(file: string): FormatName {
  return EXTENSIONS.find(([extension]) => file.endsWith(extension))?.[1] ?? 'jsonl';
}

/**
 * What part and split names keep at the end of `file`: its format's extension (`.jsonl.gz`), else
 * its last one (`.jsonl`, `.txt`), else none.
 */
export function extensionOf(file: string): string {
  return EXTENSIONS.find(([extension]) => file.endsWith(extension))?.[0] ?? path.extname(file);
}

/**
 * The format of an output named `file` (`label` is how the user named it). Parquet needs the
 * columns of the view written, and is refused where there are none (the quarantine, whose
 * source_record can be anything).
 */
export function outputFormatOf(file: string, label: string, columns: ColumnShape | undefined): OutputFormat {
  const kind = formatNameOf(file);
  if (kind !== 'parquet') return { kind };
  if (columns === undefined) throw usageError(`${label}: Parquet is for datasets; write this one as .jsonl, .jsonl.gz or .jsonl.zst`);
  return { kind, columns };
}

/**
 * The stream that turns the rows written (JSONL text) into the format's bytes, or undefined for
 * plain JSONL. gzip runs on libuv's thread pool and zstd in its own process, so on two cores the
 * compression overlaps the stage's work.
 */
export async function openEncoder(format: OutputFormat | undefined, label: string): Promise<Duplex | Transform | undefined> {
  if (format === undefined || format.kind === 'jsonl') return undefined;
  if (format.kind === 'gzip') return createGzip();
  if (format.kind === 'parquet') return new (await import('./parquet.js')).ParquetEncoder(format.columns, label); // the writer loads only for Parquet
  const { stream, started } = zstdEncoder(label);
  await started;
  return stream;
}

import { spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from './helpers.js';

export const PINNED = ['--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536'];
export const GOLDEN_INPUTS = path.join(PACKAGE_ROOT, 'data-fixtures', 'golden', 'inputs');

/** Whether the zstd command runs here; .ci/run installs it (apt-get install zstd). */
export const HAS_ZSTD = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
/** Given to tests that need zstd, so a machine without it says why they did not run. */
export const NEEDS_ZSTD = HAS_ZSTD ? {} : { skip: 'SKIPPED: the zstd command is not installed (apt-get install -y zstd); .ci/run installs it' };

/** Decompresses a file with the command a user would run (`gzip -dc`, `zstd -dc`). */
export function decompress(command: 'gzip' | 'zstd', file: string): string {
  const result = spawnSync(command, ['-d', '-c', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`${command} -d ${file}: ${result.stderr}`);
  return result.stdout;
}

/** Compresses bytes with the command a user would run. */
export function compress(command: 'gzip' | 'zstd', input: Buffer | string): Buffer {
  const result = spawnSync(command, ['-c', '-q'], { input, maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`${command}: ${String(result.stderr)}`);
  return result.stdout;
}

/** Hidden temps, journals and other dot-files left in a folder. */
export async function leftovers(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.startsWith('.'));
}

/** The rows DuckDB's answer to `sql` holds, from an in-memory instance opened and closed around it. */
async function duckdb(sql: string): Promise<Array<Record<string, unknown>>> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjects() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const quoted = (file: string): string => `'${file.replace(/'/g, "''")}'`;

/** Every row of a Parquet file as DuckDB reads it, each row as the JSON object DuckDB makes of it. */
export async function duckdbRows(file: string): Promise<unknown[]> {
  return (await duckdb(`SELECT to_json(t)::VARCHAR AS row FROM read_parquet(${quoted(file)}) t`)).map((row) => JSON.parse(row['row'] as string) as unknown);
}

/** Row groups of a Parquet file, as DuckDB's metadata lists them. */
export async function duckdbRowGroups(file: string): Promise<number> {
  return Number((await duckdb(`SELECT count(DISTINCT row_group_id) AS groups FROM parquet_metadata(${quoted(file)})`))[0]!['groups']);
}

/** JSONL text as parsed rows; a null-valued field read back from Parquet equals an absent one. */
export const jsonlRows = (text: string): unknown[] => text.trimEnd().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown);

export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null).map(([key, field]) => [key, withoutNulls(field)]));
}

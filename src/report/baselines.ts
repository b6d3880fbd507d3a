import { appendFile, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DistillError, ioError } from '../errors.js';
import { describeErrors, validators } from '../schemas/validators.js';
import type { BaselineEntry, MetricFlag, RunSummary } from '../receipts.js';
import { ensureFolder } from '../io/folders.js';
import { byCodeUnits } from '../core/text.js';

/**
 * The audit metrics of a run (docs/receipts.md): the summary's counts as `<stage>.in|out|quarantined`,
 * `dataset.<name>`, `total.in|out|quarantined`, keys in string order so the line is deterministic.
 */
export function baselineMetrics(summary: RunSummary): Record<string, number> {
  const metrics = new Map<string, number>();
  for (const stage of summary.stages) {
    metrics.set(`${stage.stage}.in`, stage.in);
    metrics.set(`${stage.stage}.out`, stage.out);
    metrics.set(`${stage.stage}.quarantined`, stage.quarantined);
  }
  for (const [dataset, n] of Object.entries(summary.datasets)) metrics.set(`dataset.${dataset}`, n);
  metrics.set('total.in', summary.total_records_in);
  metrics.set('total.out', summary.total_records_out);
  metrics.set('total.quarantined', summary.total_quarantined);
  const result: Record<string, number> = {};
  for (const name of [...metrics.keys()].sort(byCodeUnits)) result[name] = metrics.get(name)!;
  return result;
}

/** Read size when walking the file backwards: one read covers the usual last line. */
const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;
const BLANK_LINE = /^[ \t\r]*$/;

/**
 * The last entry of the audit baselines file, reading backwards from the end in chunks so the
 * cost does not grow with the file's history. Missing or empty file (or only blank lines) →
 * undefined, a first run. A last line without its terminating "\n" (an append cut short), one that
 * is not JSON or not a baseline entry → DS_IO naming the file: a broken audit trail is an error,
 * not silence. Blank lines are not entries (docs/records.md) and are stepped over.
 */
export async function readLastBaseline(file: string): Promise<BaselineEntry | undefined> {
  const line = await lastLine(file);
  if (line === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new DistillError('DS_IO', `${file}: the last baseline line is not JSON (${(error as Error).message})`, { path: file, cause: error });
  }
  const { baselineEntry } = validators();
  if (!baselineEntry(value)) throw new DistillError('DS_IO', `${file}: the last baseline line is not a baseline entry: ${describeErrors(baselineEntry.errors).join('; ')}`, { path: file });
  return value;
}

/** The last non-blank "\n"-terminated line of `file`, or undefined when it has none. */
async function lastLine(file: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(file, error);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return undefined;
    const readAt = async (position: number, bytes: number): Promise<Buffer> => {
      const chunk = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(chunk, 0, bytes, position);
      if (bytesRead !== bytes) throw new DistillError('DS_IO', `${file}: changed while it was read`, { path: file });
      return chunk;
    };
    const final = await readAt(size - 1, 1);
    if (final[0] !== NEWLINE) throw new DistillError('DS_IO', `${file}: the last baseline line is truncated (no terminating newline)`, { path: file });
    // `tail` holds the bytes [start, size - 1): what precedes the final "\n", loaded from the end.
    let start = size - 1;
    let tail = Buffer.alloc(0);
    for (;;) {
      const cut = tail.lastIndexOf(NEWLINE);
      if (cut >= 0 || start === 0) {
        const text = tail.subarray(cut + 1).toString('utf8');
        if (!BLANK_LINE.test(text)) return text;
        if (cut < 0) return undefined;
        tail = tail.subarray(0, cut);
        continue;
      }
      const bytes = Math.min(CHUNK_BYTES, start);
      start -= bytes;
      tail = Buffer.concat([await readAt(start, bytes), tail]);
    }
  } catch (error) {
    throw error instanceof DistillError ? error : ioError(file, error);
  } finally {
    await handle.close();
  }
}

/** Appends one entry line, fields in the documented order, creating the file and its folder when missing. */
export async function appendBaseline(file: string, entry: BaselineEntry): Promise<void> {
  const line = `${JSON.stringify({ run_id: entry.run_id, recorded_at: entry.recorded_at, metrics: entry.metrics })}\n`;
  try {
    await ensureFolder(path.dirname(file));
    await appendFile(file, line);
  } catch (error) {
    throw ioError(file, error);
  }
}

const COLUMNS = ['metric', 'prior', 'current', 'pct_change', 'flag'] as const;
/** Numbers and percentages line up on the right, names and flags on the left. */
const RIGHT_ALIGNED = [false, true, true, true, false];

/** `+30.0%`, `-12.5%`, `0.0%` for no change; the sign follows the change even when it rounds to 0.0. */
function formatPct(prior: number, current: number): string {
  const sign = current > prior ? '+' : current < prior ? '-' : '';
  return `${sign}${((Math.abs(current - prior) / prior) * 100).toFixed(1)}%`;
}

/**
 * The audit table printed after each run-all (docs/receipts.md): `metric  prior  current  pct_change  flag`,
 * one row per current metric sorted by name, columns two spaces apart, no trailing spaces, each
 * line "\n"-terminated. Flags: `first_run` when the prior lacks the metric (prior and pct shown as
 * `-`), `warn` when |pct_change| > threshold or the prior is 0 and the current is not, else `ok`.
 * pct_change is shown only when the prior is above 0 (it is undefined otherwise), as `-` else.
 */
export function baselineTable(prior: Readonly<Record<string, number>> | undefined, current: Readonly<Record<string, number>>, threshold: number): string {
  const rows: string[][] = [[...COLUMNS]];
  for (const metric of Object.keys(current).sort(byCodeUnits)) {
    const now = current[metric]!;
    const before = prior !== undefined && Object.hasOwn(prior, metric) ? prior[metric]! : undefined;
    let flag: MetricFlag;
    let pct = '-';
    if (before === undefined) flag = 'first_run';
    else if (before === 0) flag = now > 0 ? 'warn' : 'ok';
    else {
      pct = formatPct(before, now);
      flag = Math.abs((now - before) / before) > threshold ? 'warn' : 'ok';
    }
    rows.push([metric, before === undefined ? '-' : String(before), String(now), pct, flag]);
  }
  const widths = COLUMNS.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const format = (row: string[]): string =>
    row
      .map((cell, column) => (RIGHT_ALIGNED[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return rows.map((row) => `${format(row)}\n`).join('');
}

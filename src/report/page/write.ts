import path from 'node:path';
import { AtomicFile } from '../../io/atomic-file.js';
import { commitTogether } from '../../io/commit.js';
import { loadRun, type LoadReportOptions } from './load.js';
import { renderReportHtml } from './render.js';

/** The page's name beside summary.md in reports/distillation/<run_id>/. */
export const REPORT_FILE = 'report.html';

export type WriteReportOptions = LoadReportOptions & {
  /** Where to write the page; default `reports/distillation/<run_id>/report.html` under the root. */
  out?: string;
};

export interface WrittenReport {
  run_id: string;
  /** The path written, as given (`out`) or under the root. */
  file: string;
  bytes: number;
}

/**
 * Loads a run's data, renders its page and writes it atomically (hidden temp file beside the
 * target, then rename): a reader never sees half a page, and a failed render leaves the old one.
 */
export async function writeRunReport(options: WriteReportOptions): Promise<WrittenReport> {
  const { data, dir } = await loadRun(options);
  const page = await renderReportHtml(data);
  const file = options.out ?? path.join(dir, REPORT_FILE);
  const target = await AtomicFile.create(path.resolve(file), file);
  target.stream.write(page);
  await commitTogether([await target.finish()]);
  return { run_id: data.summary.run_id, file, bytes: Buffer.byteLength(page) };
}

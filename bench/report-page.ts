/**
 * Size and render time of the run report page (`npm run build && node dist/bench/report-page.js`).
 * Two pinned run-alls of the fixture archive in a temp folder (the second has the first as its
 * prior), then the second run's page: bytes, loadReportData time, and renderReportHtml time cold
 * (first render in the process: Vega's code is compiled then) and warm (median of 10). The same
 * again with 200 entries in the baseline history, the most the page keeps.
 */
import { spawnSync } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadReportData } from '../src/report/page/load.js';
import { renderReportHtml } from '../src/report/page/render.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
const RECORDED_AT = '2026-05-01T00:00:00.000Z';
const WARM_RENDERS = 10;

function runAll(root: string, runId: string): void {
  const result = spawnSync(process.execPath, [CLI, 'run-all', '--root', root, '--run-id', runId, '--recorded-at', RECORDED_AT, '--max-line-bytes', '65536'], { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`run-all ${runId} exited with ${result.status}`);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function measure(root: string, label: string): Promise<void> {
  let t0 = performance.now();
  const data = await loadReportData({ root, runId: 'second' });
  const loadMs = performance.now() - t0;
  t0 = performance.now();
  const page = await renderReportHtml(data);
  const coldMs = performance.now() - t0;
  const warm: number[] = [];
  for (let i = 0; i < WARM_RENDERS; i++) {
    t0 = performance.now();
    if ((await renderReportHtml(data)) !== page) throw new Error('two renders of the same data differ');
    warm.push(performance.now() - t0);
  }
  const charts = page.split('<svg ').length - 1;
  process.stdout.write(
    `| ${label} | ${data.baselines.entries.length} | ${Buffer.byteLength(page).toLocaleString('en-US')} | ${charts} | ${loadMs.toFixed(0)} | ${coldMs.toFixed(0)} | ${median(warm).toFixed(0)} |\n`,
  );
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distill-report-bench-'));
  try {
    await cp(path.join(PACKAGE_ROOT, 'data-fixtures', 'archive', 'data', '_kb'), path.join(root, 'data', '_kb'), { recursive: true });
    runAll(root, 'first');
    runAll(root, 'second');
    process.stdout.write(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}\n\n`);
    process.stdout.write('| page | history entries | bytes | charts | load ms | render ms (cold) | render ms (warm, median) |\n|---|---:|---:|---:|---:|---:|---:|\n');
    await measure(root, 'fixture run');
    // A project with a long history: 198 older runs' entries before the two real ones.
    const baselines = path.join(root, 'data', '_kb', 'audit_baselines.jsonl');
    const lines = (await readFile(baselines, 'utf8')).trimEnd().split('\n');
    const older = JSON.parse(lines[0]!) as { metrics: Record<string, number> };
    const filler = Array.from({ length: 198 }, (_, i) => JSON.stringify({ run_id: `older-${i}`, recorded_at: RECORDED_AT, metrics: older.metrics }));
    await rm(baselines);
    await appendFile(baselines, `${[...filler, ...lines].join('\n')}\n`);
    await measure(root, 'fixture run, 200-run history');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../src/errors.js';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { LAYOUT } from '../src/layout.js';
import type { DriftReport, RunSummary } from '../src/report/types.js';

/** The summary of a run by id, or of the run that finished last (`read --latest`). */
export async function readRunSummary(root: string, runId: string | 'latest'): Promise<{ summary: RunSummary; markdown: string; dir: string }> {
  const reports = path.join(root, LAYOUT.reports);
  const dir = runId === 'latest' ? await latestRunDir(reports) : path.join(reports, runId);
  if (dir === undefined) throw ioError(LAYOUT.reports, new Error('no run has finished yet'));
  const summaryPath = path.join(dir, 'summary.json');
  const summary = JSON.parse(await readFile(summaryPath, 'utf8').catch((cause: unknown) => {
    throw ioError(path.relative(root, summaryPath), cause);
  })) as RunSummary;
  const markdown = await readFile(path.join(dir, 'summary.md'), 'utf8').catch(() => '');
  return { summary, markdown, dir };
}

/** The run folder whose summary has the latest finished_at (run ids are not ordered). */
async function latestRunDir(reports: string): Promise<string | undefined> {
  const names = await readdir(reports).catch(() => [] as string[]);
  let latest: { dir: string; finishedAt: string } | undefined;
  for (const name of names.sort()) {
    const dir = path.join(reports, name);
    const text = await readFile(path.join(dir, 'summary.json'), 'utf8').catch(() => undefined);
    if (text === undefined) continue; // a run still going, or a stray folder
    const finishedAt = (JSON.parse(text) as RunSummary).finished_at;
    if (latest === undefined || finishedAt > latest.finishedAt) latest = { dir, finishedAt };
  }
  return latest?.dir;
}

export interface HealthCheck {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

/**
 * What needs a person (`health`): the standard layout, the evidence index's freshness, and the last
 * run's status and drift severity. Any `fail` makes the command exit non-zero.
 */
export async function checkHealth(root: string): Promise<HealthCheck[]> {
  const checks: HealthCheck[] = [];
  for (const folder of [LAYOUT.kb, LAYOUT.evidence, LAYOUT.scoredRuns]) {
    const isFolder = await stat(path.join(root, folder)).then((info) => info.isDirectory(), () => false);
    checks.push({ check: `layout ${folder}`, status: isFolder ? 'ok' : 'fail', detail: isFolder ? 'present' : 'missing' });
  }
  const stale = await EvidenceIndex.staleFiles(path.join(root, LAYOUT.evidence), root).catch(() => undefined);
  checks.push(
    stale === undefined
      ? { check: 'evidence index', status: 'warn', detail: 'not built yet (the next export builds it)' }
      : stale === 0
        ? { check: 'evidence index', status: 'ok', detail: 'fresh' }
        : { check: 'evidence index', status: 'warn', detail: `${stale} evidence files changed since the last build (the next export refreshes it)` },
  );
  const last = await readRunSummary(root, 'latest').catch(() => undefined);
  if (last === undefined) {
    checks.push({ check: 'last run', status: 'warn', detail: 'no run-all has finished yet' });
    return checks;
  }
  const { summary, dir } = last;
  checks.push({ check: 'last run', status: summary.overall_passed ? 'ok' : 'fail', detail: `${summary.run_id} ${summary.overall_passed ? 'passed' : 'FAILED'} at ${summary.finished_at}` });
  const drift = await readFile(path.join(dir, 'drift.json'), 'utf8').then((text) => JSON.parse(text) as DriftReport, () => undefined);
  if (drift === undefined) checks.push({ check: 'drift', status: 'warn', detail: 'no drift report' });
  else {
    const status = drift.severity === 'alert' ? 'fail' : drift.severity === 'warn' ? 'warn' : 'ok';
    checks.push({ check: 'drift', status, detail: `${drift.severity}${drift.flags.length > 0 ? `: ${drift.flags.join(', ')}` : ''}` });
  }
  return checks;
}

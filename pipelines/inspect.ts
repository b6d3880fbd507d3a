import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../src/errors.js';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { LAYOUT } from '../src/layout.js';
import { latestRun, readReport } from '../src/report/drift.js';
import type { RunSummary } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';

/** The summary of a run by id, or of the run that finished last (`read --latest`). */
export async function readRunSummary(root: string, runId: string | 'latest'): Promise<{ summary: RunSummary; markdown: string; dir: string }> {
  const reports = path.join(root, LAYOUT.reports);
  const run = runId === 'latest' ? await latestRun(reports) : await runById(reports, runId);
  if (run === undefined) {
    throw runId === 'latest' ? ioError(LAYOUT.reports, new Error('no run has finished yet')) : ioError(`${LAYOUT.reports}/${runId}`, new Error('no summary.json'));
  }
  const markdown = await readFile(path.join(run.dir, 'summary.md'), 'utf8').catch(() => '');
  return { ...run, markdown };
}

async function runById(reports: string, runId: string): Promise<{ dir: string; summary: RunSummary } | undefined> {
  const dir = path.join(reports, runId);
  const summary = await readReport(path.join(dir, 'summary.json'), validators().runSummary);
  return summary === undefined ? undefined : { dir, summary };
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
  // A report that does not parse or validate is a failed check, never a crash or "no run".
  const last = await latestRun(path.join(root, LAYOUT.reports)).catch((error: unknown) => failedCheck(checks, 'last run', error));
  if (last === null) return checks;
  if (last === undefined) {
    checks.push({ check: 'last run', status: 'warn', detail: 'no run-all has finished yet' });
    return checks;
  }
  const { summary, dir } = last;
  checks.push({ check: 'last run', status: summary.overall_passed ? 'ok' : 'fail', detail: `${summary.run_id} ${summary.overall_passed ? 'passed' : 'FAILED'} at ${summary.finished_at}` });
  const drift = await readReport(path.join(dir, 'drift.json'), validators().driftReport).catch((error: unknown) => failedCheck(checks, 'drift', error));
  if (drift === undefined) checks.push({ check: 'drift', status: 'warn', detail: 'no drift report' });
  else if (drift !== null) {
    const status = drift.severity === 'alert' ? 'fail' : drift.severity === 'warn' ? 'warn' : 'ok';
    checks.push({ check: 'drift', status, detail: `${drift.severity}${drift.flags.length > 0 ? `: ${drift.flags.join(', ')}` : ''}` });
  }
  return checks;
}

/** Records `error` as a failed check; null tells the caller the check is done. */
function failedCheck(checks: HealthCheck[], check: string, error: unknown): null {
  checks.push({ check, status: 'fail', detail: error instanceof Error ? error.message : String(error) });
  return null;
}

import { stat } from 'node:fs/promises';
import { kbSourceFiles } from '../src/io/kb.js';
import { walkInputFiles } from '../src/io/walk.js';
import path from 'node:path';
import { ioError, usageError } from '../src/errors.js';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { isRunId, LAYOUT, RUN_ID_RULE } from '../src/layout.js';
import { EXPORT_STAGES } from '../src/stages/registry.js';
import { latestRun, readReport, readReportText } from '../src/report/drift.js';
import { fileSha256, fileState } from '../src/io/digest.js';
import { isInsideRootPath } from '../src/io/paths.js';
import type { FileDigest, RunSummary } from '../src/receipts.js';
import { validators } from '../src/schemas/validators.js';
import { listRuns, mismatchLine, readRunFolder, type RunFolder, type RunState } from './runs.js';

/**
 * The summary of a run by id, or of the run that finished last (`read --latest`), with what its
 * folder says of it: a summary whose receipts are missing or of another run is no passed run,
 * whatever it says (see RunFolder).
 */
export async function readRunSummary(root: string, runId: string | 'latest'): Promise<{ summary: RunSummary; markdown: string; dir: string; state: RunState; problems: string[] }> {
  const reports = path.join(root, LAYOUT.reports);
  if (runId !== 'latest' && !isRunId(runId)) throw usageError(`--run-id ${JSON.stringify(runId)} is not a run id (${RUN_ID_RULE})`);
  const run = runId === 'latest' ? await latestRun(reports) : await runById(reports, runId);
  if (run === undefined) {
    throw runId === 'latest' ? ioError(LAYOUT.reports, new Error('no run has finished yet')) : ioError(`${LAYOUT.reports}/${runId}`, new Error('no summary.json'));
  }
  const folder = await readRunFolder(root, path.basename(run.dir));
  const markdown = (await readReportText(path.join(run.dir, 'summary.md'))) ?? '';
  return { ...run, markdown, state: folder.state, problems: [...folder.unreadable.map((error) => error.message), ...folder.problems.map(mismatchLine)] };
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
 * What needs a person (`health`): the standard layout, the evidence index's freshness, the last
 * run's status (a newer run without a summary too) and drift severity, and whether the files on
 * disk are still those the last run's receipts list. Any `fail` makes the command exit non-zero.
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
  checks.push(await nextStep(root, stale));
  // A report that does not parse or validate is a failed check, never a crash or "no run".
  const last = await latestRun(path.join(root, LAYOUT.reports)).catch((error: unknown) => failedCheck(checks, 'last run', error));
  if (last === null) return checks;
  if (last === undefined) {
    checks.push({ check: 'last run', status: 'warn', detail: 'no run-all has finished yet' });
    return checks;
  }
  const { summary, dir } = last;
  const folder = await readRunFolder(root, path.basename(dir));
  checks.push(lastRunCheck(summary, folder));
  const unfinished = await newerUnfinished(root, folder.runId).catch((error: unknown) => failedCheck(checks, 'unfinished run', error));
  if (unfinished) checks.push({ check: 'unfinished run', status: 'warn', detail: `${unfinished} is newer and has no summary.json (killed, or still running)` });
  const drift = await readReport(path.join(dir, 'drift.json'), validators().driftReport).catch((error: unknown) => failedCheck(checks, 'drift', error));
  if (drift === undefined) checks.push({ check: 'drift', status: 'warn', detail: 'no drift report' });
  else if (drift !== null) {
    const status = drift.severity === 'alert' ? 'fail' : drift.severity === 'warn' ? 'warn' : 'ok';
    checks.push({ check: 'drift', status, detail: `${drift.severity}${drift.flags.length > 0 ? `: ${drift.flags.join(', ')}` : ''}` });
  }
  if (folder.receipts.length > 0) {
    const exportsMatch = await exportsCheck(root, folder).catch((error: unknown) => failedCheck(checks, 'exports', error));
    if (exportsMatch !== null) checks.push(exportsMatch);
  }
  return checks;
}

/** The newest modification time of the files `files` yields, or undefined when it yields none (or the folder is missing). */
async function newest(files: () => AsyncIterable<{ mtimeMs: number }>): Promise<number | undefined> {
  let latest: number | undefined;
  try {
    for await (const file of files()) latest = Math.max(latest ?? 0, file.mtimeMs);
  } catch {
    return undefined; // a folder that cannot be walked is a missing step; the layout checks name it
  }
  return latest;
}

async function* statted(files: readonly string[]): AsyncGenerator<{ mtimeMs: number }> {
  for (const file of files) {
    const info = await stat(file).catch(() => undefined);
    if (info !== undefined) yield info;
  }
}

/** The exports' datasets on the layout. */
const EXPORT_FILES = EXPORT_STAGES.map((stage) => stage.writes);

/**
 * What to run next: the first step of the pipeline whose output is missing or older than its input
 * (by modification time: each stage rewrites all it writes, so its newest file is when it last ran),
 * then a stale index; running that step (or run-all) brings the later ones up to date too.
 */
async function nextStep(root: string, staleIndex: number | undefined): Promise<HealthCheck> {
  const next = (command: string, why: string): HealthCheck => ({
    check: 'next step',
    status: 'warn',
    detail: `${why}: run distill-stream ${command} --root ${root}${command === 'export-all' ? ` (or run-all --root ${root}, which writes receipts too)` : ''}`,
  });
  const kb = await newest(async function* () {
    yield* statted(await kbSourceFiles(root));
  });
  if (kb === undefined) return { check: 'next step', status: 'warn', detail: `${LAYOUT.kb} holds no agent logs: write them as ${LAYOUT.kb}/NAME.jsonl (see docs/raw-logs.md), then run distill-stream run-all --root ${root}` };
  const evidence = await newest(() => walkInputFiles(path.join(root, LAYOUT.evidence)));
  if (evidence === undefined) return next('collect', `no evidence in ${LAYOUT.evidence}`);
  if (kb > evidence) return next('collect', `${LAYOUT.kb} changed after the last collect`);
  const scored = await newest(() => walkInputFiles(path.join(root, LAYOUT.scoredRuns)));
  if (scored === undefined) return next('score', `no scored runs in ${LAYOUT.scoredRuns}`);
  if (evidence > scored) return next('score', 'the scored runs are older than the evidence');
  const exportTimes = await Promise.all(EXPORT_FILES.map((file) => stat(path.join(root, file)).then((info) => info.mtimeMs, () => undefined)));
  const missing = EXPORT_FILES.filter((_, n) => exportTimes[n] === undefined);
  if (missing.length > 0) return next('export-all', `${missing.join(', ')} not exported yet`);
  const older = EXPORT_FILES.filter((_, n) => exportTimes[n]! < scored);
  if (older.length > 0) return next('export-all', `${older.join(', ')} older than the scored runs`);
  if (staleIndex !== undefined && staleIndex > 0) return next('index', 'the evidence index is stale');
  return { check: 'next step', status: 'ok', detail: 'nothing: the evidence, scored runs and exports are up to date' };
}

/** The last finished run: passed or failed as its summary says, unless its folder is incomplete or inconsistent. */
function lastRunCheck(summary: RunSummary, folder: RunFolder): HealthCheck {
  const said = `${summary.run_id} ${summary.overall_passed ? 'passed' : 'FAILED'} at ${summary.finished_at}`;
  if (folder.state === 'passed' || folder.state === 'failed') return { check: 'last run', status: folder.state === 'passed' ? 'ok' : 'fail', detail: said };
  const first = folder.unreadable[0]?.message ?? mismatchLine(folder.problems[0]!);
  return { check: 'last run', status: 'fail', detail: `${summary.run_id} ${folder.state} (its summary says ${summary.overall_passed ? 'passed' : 'FAILED'} at ${summary.finished_at}): ${first}` };
}

/** A run newer than the last finished one that has no summary (killed, or still going), if any. */
async function newerUnfinished(root: string, lastRunId: string): Promise<string | undefined> {
  for (const run of await listRuns({ root })) {
    if (run.run_id === lastRunId) return undefined;
    if (run.finished_at === null) return run.run_id;
  }
  return undefined;
}

/**
 * Whether the files the last run wrote are still the ones its receipts list: sizes first (a stat
 * each, and a rewrite nearly always changes a size), then sha256 streamed for the files whose size
 * holds. Warns naming the first file that differs; `verify` lists every difference.
 */
async function exportsCheck(root: string, folder: RunFolder): Promise<HealthCheck> {
  const advice = `run distill-stream verify --root ${root} --latest, or run-all again`;
  const listed = new Map<string, { digest: FileDigest; receipt: string }>();
  for (const { file, receipt } of folder.receipts) {
    for (const digest of receipt.outputs) if (isInsideRootPath(digest.path) && !listed.has(digest.path)) listed.set(digest.path, { digest, receipt: path.posix.basename(file) });
  }
  const warn = (detail: string): HealthCheck => ({ check: 'exports', status: 'warn', detail: `${detail}; ${advice}` });
  for (const { digest, receipt } of listed.values()) {
    const state = await fileState(path.join(root, digest.path), digest.path);
    if (state.kind !== 'file') return warn(`${digest.path} is missing, but run ${folder.runId}'s ${receipt} lists it`);
    if (state.bytes !== digest.bytes) return warn(`${digest.path} has ${state.bytes} bytes, run ${folder.runId}'s ${receipt} says ${digest.bytes}`);
  }
  for (const { digest, receipt } of listed.values()) {
    if ((await fileSha256(path.join(root, digest.path), digest.path)) !== digest.sha256) return warn(`${digest.path} no longer has the sha256 run ${folder.runId}'s ${receipt} lists`);
  }
  return { check: 'exports', status: 'ok', detail: `match the latest run ${folder.runId} (${listed.size} files)` };
}

/** Records `error` as a failed check; null tells the caller the check is done. */
function failedCheck(checks: HealthCheck[], check: string, error: unknown): null {
  checks.push({ check, status: 'fail', detail: error instanceof Error ? error.message : String(error) });
  return null;
}

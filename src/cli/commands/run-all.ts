import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { runAll, type RunAllOptions, type RunAllResult, type StageRecord } from '../../../pipelines/run-all.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { flag, option, type OptionTable } from '../../options.js';
import { STAGES } from '../../stages/registry.js';
import { FAIL_IF_EMPTY, HELP, JOBS, jobsOf, JSON_SUMMARY, MAX_LINE_BYTES, RECORDED_AT, ROOT, RULES } from '../common-options.js';
import type { Command, Session } from '../command.js';
import type { Terminal } from '../terminal.js';
import { notesJson, notesLines } from '../../../pipelines/hints.js';

/** Every stage's gate flags, but those that only apply to a stage run as a filter. */
const GATE_FLAGS: OptionTable = Object.assign(
  {},
  ...STAGES.map((stage) => Object.fromEntries(Object.entries(stage.flags).filter(([name]) => !(stage.kind === 'tree' && stage.filterOnly.includes(name))))),
) as OptionTable;

/** DISTILL_DRIFT_THRESHOLD when --drift-threshold is not given. */
function thresholdFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const value = env['DISTILL_DRIFT_THRESHOLD'];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw usageError(`DISTILL_DRIFT_THRESHOLD '${value}' is not a non-negative number`);
  return n;
}

/** Test seam: DISTILL_STREAM_FAIL_VALIDATION=<receipt stage> makes that stage fail its validation. */
function failValidationSeam(env: NodeJS.ProcessEnv): string | undefined {
  const stage = env['DISTILL_STREAM_FAIL_VALIDATION'];
  if (stage === undefined || stage === '') return undefined;
  if (!STAGES.some((s) => s.receipt === stage)) throw usageError(`DISTILL_STREAM_FAIL_VALIDATION '${stage}' is not a run-all stage`);
  return stage;
}

export const runAllCommand: Command = {
  name: 'run-all',
  group: 'Pipeline',
  summary: `${STAGES.map((stage) => stage.name).join(' → ')} with receipts, summary and drift`,
  operands: '',
  description: [
    'Runs every stage on the standard layout under --root, one receipt per stage, then summary.json,',
    'summary.md and drift.json in <root>/reports/distillation/<run_id>/, and appends the run\'s counts',
    'to data/_kb/audit_baselines.jsonl. A stage that breaks its own promises fails the run (exit 1)',
    'and skips the later stages unless --continue-on-failure.',
  ],
  options: {
    ...ROOT,
    'run-id': option('string', 'ID', 'the run\'s id (default: a new UUID)'),
    ...RECORDED_AT,
    ...MAX_LINE_BYTES,
    'drift-threshold': option('number', 'X', 'relative count change that warns (default: 0.20, or DISTILL_DRIFT_THRESHOLD)'),
    'continue-on-failure': flag('run the later stages after a stage failed'),
    ...FAIL_IF_EMPTY,
    ...RULES,
    ...JOBS,
    ...GATE_FLAGS,
    ...JSON_SUMMARY,
    ...HELP,
  },
  examples: ['distill-stream run-all --root .', 'distill-stream run-all --root . --run-id nightly-42 --recorded-at 2026-05-01T00:00:00Z'],
  takesOperands: false,
  run: async (session) => {
    const result = await runAll({ ...runAllOptionsOf(session.args.values, session), progress: session.terminal });
    printRunAll(session.terminal, result, session.args.values['json'] === true);
    return result.summary.overall_passed ? 0 : EXIT_CODE.DS_VALIDATION;
  },
};

/** run-all's options from its parsed flags: paths against the session's folder, the run id and recorded_at made now when not given. */
export function runAllOptionsOf(values: Readonly<Record<string, unknown>>, { cwd, env, toolVersion }: Pick<Session, 'cwd' | 'env' | 'toolVersion'>): RunAllOptions {
  return {
    root: path.resolve(cwd, (values['root'] as string | undefined) ?? '.'),
    runId: (values['runId'] as string | undefined) ?? randomUUID(),
    recordedAt: (values['recordedAt'] as string | undefined) ?? new Date().toISOString(),
    toolVersion,
    maxLineBytes: values['maxLineBytes'] as number | undefined,
    flags: { ...values, jobs: jobsOf(values) },
    rules: values['rules'] === undefined ? undefined : path.resolve(cwd, values['rules'] as string),
    typed: { root: values['root'] as string | undefined, rules: values['rules'] as string | undefined },
    continueOnFailure: values['continueOnFailure'] === true,
    failIfEmpty: values['failIfEmpty'] === true,
    driftThreshold: (values['driftThreshold'] as number | undefined) ?? thresholdFromEnv(env),
    failValidation: failValidationSeam(env),
  };
}

/** A stage's line as run-all prints it — passed, FAILED or skipped, with its counts — then its errors and notes. */
export function printStageRecord(terminal: Terminal, record: StageRecord): void {
  const stage = record.stage.receipt;
  const counts = record.receipt?.record_counts;
  const result = record.skipped ? 'skipped' : record.receipt!.validation.passed ? 'passed' : 'FAILED';
  terminal.line(`[run-all] ${stage} ${result} in=${counts?.in ?? 0} out=${counts?.out ?? 0} quarantined=${counts?.quarantined ?? 0}`);
  for (const error of record.receipt?.validation.errors ?? []) terminal.line(`[run-all]   ${stage}: ${error}`);
  for (const line of notesLines(stage, record.notes)) terminal.line(line);
}

/** What run-all prints when the run has finished: each stage, the baseline table, the verdict and drift, and with --json the summary. */
export function printRunAll(terminal: Terminal, { summary, drift, baselineTable, stages }: RunAllResult, json: boolean): void {
  for (const record of stages) printStageRecord(terminal, record);
  terminal.line(baselineTable.trimEnd());
  terminal.line(`[run-all] ${summary.run_id} ${summary.overall_passed ? 'passed' : 'FAILED'}; drift ${drift.severity}${drift.flags.length > 0 ? ` (${drift.flags.join(', ')})` : ''}`);
  // Each stage's notes ride along under stage_notes, only when a stage has some: the summary is otherwise as written.
  const stageNotes = Object.fromEntries(stages.map((record) => [record.stage.receipt, notesJson(record.notes)]).filter(([, notes]) => Object.keys(notes as object).length > 0));
  if (json) terminal.line(JSON.stringify(Object.keys(stageNotes).length > 0 ? { ...summary, stage_notes: stageNotes } : summary));
}

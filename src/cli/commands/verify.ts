import { listRuns, mismatchLine, type RunListing } from '../../../pipelines/runs.js';
import { verifyDataset, verifyRun, type VerifyResult } from '../../../pipelines/verify.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { LAYOUT } from '../../layout.js';
import { flag, option } from '../../options.js';
import { HELP, ROOT } from '../common-options.js';
import type { Command } from '../command.js';

/** The last line of `verify`: what was verified, and whether it holds. */
function verdictLine(result: VerifyResult, what: string): string {
  const scope = `${result.receipts} ${result.receipts === 1 ? 'receipt' : 'receipts'}, ${result.files} ${result.files === 1 ? 'file' : 'files'}, ${result.rows} rows`;
  if (!result.passed) return `verify: ${what} does not hold: ${result.mismatches.length} ${result.mismatches.length === 1 ? 'mismatch' : 'mismatches'} (${scope})`;
  const failed = result.state === 'failed' ? `; the run itself FAILED (distill-stream read --run-id ${result.run_id})` : '';
  return `verify: ${what} holds: ${scope}${failed}`;
}

export const verifyCommand: Command = {
  name: 'verify',
  group: 'Runs',
  summary: 'check a run\'s files against its receipts, or one dataset against its receipt',
  operands: '',
  description: [
    'Re-hashes, streaming, every file the run\'s receipts name and compares bytes and sha256; recomputes',
    'input_hash, output_hash and run_hash; re-checks every written row against its schema and the stage\'s',
    'promises, and the counts. One line per mismatch on stdout (file, expected, found), then a verdict line.',
    'With --dataset and --receipt, checks one dataset file shipped alone with its stage\'s receipt.',
    'Exits 0 when everything holds, 1 when something does not.',
  ],
  options: {
    ...ROOT,
    'run-id': option('string', 'ID', 'the run to verify'),
    latest: flag('the run that finished last'),
    dataset: option('path', 'FILE', 'a dataset file shipped alone (with --receipt)'),
    receipt: option('path', 'FILE', 'the receipt of the stage that wrote --dataset'),
    quarantine: option('path', 'FILE', 'with --dataset: the stage\'s quarantine file, when it was shipped too'),
    'max-line-bytes': option('size', 'SIZE', 'longest row checked, e.g. 64MiB (default: 64MiB); a longer one is a mismatch'),
    json: flag('print the result as one JSON object on stdout'),
    ...HELP,
  },
  examples: [
    'distill-stream verify --root . --latest',
    'distill-stream verify --root /mnt/copy --run-id nightly-42 --json',
    'distill-stream verify --dataset sft.jsonl --receipt export-sft.json',
  ],
  takesOperands: false,
  run: async ({ args, cwd, stdout, terminal }) => {
    const values = args.values;
    const runId = values['runId'] as string | undefined;
    const latest = values['latest'] === true;
    const dataset = values['dataset'] as string | undefined;
    const receipt = values['receipt'] as string | undefined;
    const quarantine = values['quarantine'] as string | undefined;
    const maxLineBytes = values['maxLineBytes'] as number | undefined;
    const common = { cwd, progress: terminal, ...(maxLineBytes === undefined ? {} : { maxLineBytes }) };
    let result: VerifyResult;
    let what: string;
    if (dataset !== undefined || receipt !== undefined) {
      if (dataset === undefined || receipt === undefined) throw usageError('verify --dataset FILE and --receipt FILE go together');
      if (runId !== undefined || latest || values['root'] !== undefined) throw usageError('verify takes either --dataset and --receipt, or --root with --run-id or --latest');
      result = await verifyDataset({ ...common, dataset, receipt, ...(quarantine === undefined ? {} : { quarantine }) });
      what = `${dataset} against ${receipt} (run ${result.run_id})`;
    } else {
      if (quarantine !== undefined) throw usageError('verify --quarantine goes with --dataset and --receipt');
      if ((runId === undefined) === !latest) throw usageError('verify needs exactly one of --run-id ID and --latest (or --dataset and --receipt)');
      result = await verifyRun({ ...common, root: (values['root'] as string | undefined) ?? '.', ...(runId === undefined ? { latest: true } : { runId }) });
      what = `run ${result.run_id}`;
    }
    terminal.clear();
    if (values['json'] === true) stdout.write(`${JSON.stringify(result)}\n`);
    else {
      for (const found of result.mismatches) stdout.write(`${mismatchLine(found)}\n`);
      for (const note of result.not_checked) stdout.write(`not checked: ${note}\n`);
      stdout.write(`${verdictLine(result, what)}\n`);
    }
    return result.passed ? 0 : EXIT_CODE.DS_VALIDATION;
  },
};

/** Problem lines shown under a run in the table; `verify` lists them all. */
const LISTED_PROBLEMS = 3;

/** The runs as a table, newest first, each incomplete or inconsistent one followed by its first problems. */
function runsTable(runs: readonly RunListing[]): string {
  const datasets = runs[0] === undefined ? [] : Object.keys(runs[0].datasets);
  const rows = runs.map((run) => [run.run_id, run.state, run.recorded_at ?? '-', run.finished_at ?? '-', ...datasets.map((name) => String(run.datasets[name] ?? '-')), run.drift ?? '-']);
  const header = ['run_id', 'state', 'recorded_at', 'finished_at', ...datasets, 'drift'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ');
  const out = [line(header)];
  runs.forEach((run, i) => {
    out.push(line(rows[i]!));
    for (const problem of run.problems.slice(0, LISTED_PROBLEMS)) out.push(`    ${problem}`);
    if (run.problems.length > LISTED_PROBLEMS) out.push(`    … and ${run.problems.length - LISTED_PROBLEMS} more (distill-stream verify --run-id ${run.run_id})`);
  });
  return `${out.join('\n')}\n`;
}

export const runsCommand: Command = {
  name: 'runs',
  group: 'Runs',
  summary: 'list the runs under reports/distillation, newest first',
  operands: '',
  description: [
    `One line per run under <root>/${LAYOUT.reports}, newest first: id, state (passed, failed, incomplete,`,
    'inconsistent), recorded_at, finished_at, rows per dataset and drift severity. A run killed before its',
    'summary, or whose receipts are missing or of another run, is incomplete or inconsistent, never passed.',
  ],
  options: { ...ROOT, json: flag('print the runs as a JSON array, newest first'), ...HELP },
  examples: ['distill-stream runs --root .', 'distill-stream runs --root . --json'],
  takesOperands: false,
  run: async ({ args, cwd, stdout }) => {
    const runs = await listRuns({ cwd, root: (args.values['root'] as string | undefined) ?? '.' });
    if (args.values['json'] === true) stdout.write(`${JSON.stringify(runs)}\n`);
    else stdout.write(runs.length === 0 ? `no run under ${LAYOUT.reports} yet\n` : runsTable(runs));
    return 0;
  },
};

import path from 'node:path';
import { checkHealth, readRunSummary } from '../../../pipelines/inspect.js';
import { buildIndex } from '../../../pipelines/evidence.js';
import { evidenceLabel } from '../../../pipelines/plan.js';
import { writeRunReport } from '../../report/page/write.js';
import { EXIT_CODE, usageError } from '../../errors.js';
import { DEFAULT_MAX_LINE_BYTES } from '../../io/line-splitter.js';
import { LAYOUT } from '../../layout.js';
import { flag, option } from '../../options.js';
import { EVIDENCE, HELP, JSON_SUMMARY, MAX_LINE_BYTES, ROOT } from '../common-options.js';
import type { Command } from '../command.js';
import { printIndexLine } from '../summary.js';

const rootOf = (cwd: string, values: Record<string, unknown>): string => path.resolve(cwd, (values['root'] as string | undefined) ?? '.');

export const readCommand: Command = {
  name: 'read',
  group: 'Runs',
  summary: 'print a run\'s summary',
  operands: '',
  description: [
    'Prints summary.md of a run under <root>/reports/distillation (or summary.json with --json). Exits 1,',
    'with a line on stderr, when the run is incomplete or inconsistent (see distill-stream runs).',
  ],
  options: { ...ROOT, 'run-id': option('string', 'ID', 'the run to print'), latest: flag('the run that finished last'), json: flag('print summary.json instead'), ...HELP },
  examples: ['distill-stream read --root . --latest', 'distill-stream read --root . --run-id nightly-42 --json'],
  takesOperands: false,
  run: async ({ args, cwd, stdout, terminal }) => {
    const runId = args.values['runId'] as string | undefined;
    if ((runId === undefined) === (args.values['latest'] !== true)) throw usageError('read needs exactly one of --run-id ID and --latest');
    const { summary, markdown, state, problems } = await readRunSummary(rootOf(cwd, args.values), runId ?? 'latest');
    stdout.write(args.values['json'] === true ? `${JSON.stringify(summary, null, 2)}\n` : markdown);
    if (state === 'passed' || state === 'failed') return 0;
    // The summary is printed as written, but it does not describe the run's reports: never a pass.
    terminal.line(`distill-stream: run ${summary.run_id} is ${state}, whatever its summary says: ${problems[0]}`);
    return EXIT_CODE.DS_VALIDATION;
  },
};

export const healthCommand: Command = {
  name: 'health',
  group: 'Runs',
  summary: 'check the layout, the evidence index, the last run and its files',
  operands: '',
  description: ['One line per check on stdout: ok, warn or fail. Exits 1 when a check fails (a person is needed).'],
  options: { ...ROOT, json: flag('print the checks as a JSON array'), ...HELP },
  examples: ['distill-stream health --root .', 'distill-stream health --root . --json'],
  takesOperands: false,
  run: async ({ args, cwd, stdout }) => {
    const checks = await checkHealth(rootOf(cwd, args.values));
    if (args.values['json'] === true) stdout.write(`${JSON.stringify(checks)}\n`);
    else for (const check of checks) stdout.write(`${check.status.padEnd(4)}  ${check.check}: ${check.detail}\n`);
    return checks.some((check) => check.status === 'fail') ? EXIT_CODE.DS_VALIDATION : 0;
  },
};

export const indexCommand: Command = {
  name: 'index',
  group: 'Tools',
  summary: 'build or refresh the evidence index',
  operands: '',
  description: ['The exports build it when they need it; run it ahead of a cluster run or to see what it holds.'],
  options: { ...ROOT, ...EVIDENCE, ...MAX_LINE_BYTES, ...JSON_SUMMARY, ...HELP },
  examples: ['distill-stream index --root .', 'distill-stream index --evidence /data/evidence --json'],
  takesOperands: false,
  run: async ({ args, cwd, terminal }) => {
    const root = rootOf(cwd, args.values);
    const evidence = args.values['evidence'] as string | undefined;
    const report = await buildIndex({
      evidence: evidence === undefined ? path.join(root, LAYOUT.evidence) : path.resolve(cwd, evidence),
      root,
      label: evidenceLabel(evidence),
      maxLineBytes: (args.values['maxLineBytes'] as number | undefined) ?? DEFAULT_MAX_LINE_BYTES,
      progress: terminal,
    });
    if (args.values['json'] === true) terminal.line(JSON.stringify(report));
    else printIndexLine(terminal, false, report);
    return 0;
  },
};

export const reportCommand: Command = {
  name: 'report',
  group: 'Runs',
  summary: 'write a run\'s report: one self-contained HTML page',
  operands: '',
  description: [
    'Writes report.html for a run under <root>/reports/distillation (run-all writes it too): the verdict,',
    'the funnel, quarantine by reason with examples, category mix and the SFT firewall, text-length',
    'histograms against the prior run with PSI, count drift and the audit-baseline history. No script, no',
    'network: it opens from file:// and reads with JavaScript off.',
  ],
  options: {
    ...ROOT,
    'run-id': option('string', 'ID', 'the run to report'),
    latest: flag('the run that finished last'),
    out: option('path', 'FILE', 'where to write the page (default: reports/distillation/<run_id>/report.html)'),
    ...HELP,
  },
  examples: ['distill-stream report --root . --latest', 'distill-stream report --root . --run-id nightly-42 --out /tmp/nightly-42.html'],
  takesOperands: false,
  run: async ({ args, cwd, stdout }) => {
    const runId = args.values['runId'] as string | undefined;
    if ((runId === undefined) === (args.values['latest'] !== true)) throw usageError('report needs exactly one of --run-id ID and --latest');
    const out = args.values['out'] as string | undefined;
    const written = await writeRunReport({
      root: rootOf(cwd, args.values),
      ...(runId === undefined ? { latest: true as const } : { runId }),
      ...(out === undefined ? {} : { out: path.resolve(cwd, out) }),
    });
    stdout.write(`${written.file}\n`);
    return 0;
  },
};

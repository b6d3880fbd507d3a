import { runExportAll } from '../../../pipelines/export-all.js';
import type { OptionTable } from '../../options.js';
import { EXPORT_STAGES } from '../../stages/registry.js';
import { emptyExportError } from '../../../pipelines/hints.js';
import { EXIT_CODE } from '../../errors.js';
import { DRY_RUN, EVIDENCE, FAIL_IF_EMPTY, FOLLOW_SYMLINKS, JOBS, RULES, HELP, JSON_SUMMARY, MAX_LINE_BYTES, RECORDED_AT, ROOT } from '../common-options.js';
import type { Command } from '../command.js';
import { datasetRunOptions, printStageSummary } from '../summary.js';

/** Every export's gate flags (a flag two exports share, like --repo-root, is one flag). */
const EXPORT_FLAGS: OptionTable = Object.assign({}, ...EXPORT_STAGES.map((stage) => stage.flags)) as OptionTable;

export const exportAllCommand: Command = {
  name: 'export-all',
  group: 'Datasets',
  summary: `${EXPORT_STAGES.map((stage) => stage.name).join(', ')} in one pass over the scored runs`,
  operands: '[inputs…]',
  description: [
    'Reads the scored runs once (the inputs, stdin, or <root>/data/scored-runs with --root and no',
    'inputs) and writes every dataset and its quarantine to the standard paths under --root,',
    'byte-identical to the exports run one by one. Outputs are committed only when all succeed.',
  ],
  options: { ...ROOT, ...EVIDENCE, ...RULES, ...FOLLOW_SYMLINKS, ...RECORDED_AT, ...MAX_LINE_BYTES, ...DRY_RUN, ...JOBS, ...JSON_SUMMARY, ...FAIL_IF_EMPTY, ...EXPORT_FLAGS, ...HELP },
  examples: ['distill-stream export-all --root .', 'distill-stream export-all --root . --include-partial --include-review'],
  takesOperands: true,
  run: async (session) => {
    const { args, terminal } = session;
    const json = args.values['json'] === true;
    const { counts, notes } = await runExportAll(datasetRunOptions(session));
    for (const [stage, stageCounts] of counts) printStageSummary(terminal, json, stage, stageCounts, undefined, notes.get(stage));
    const empty = args.values['failIfEmpty'] === true ? [...counts].flatMap(([stage, stageCounts]) => emptyExportError(stage, stageCounts) ?? []) : [];
    for (const error of empty) terminal.line(`distill-stream: ${error}`);
    return empty.length === 0 ? 0 : EXIT_CODE.DS_VALIDATION;
  },
};

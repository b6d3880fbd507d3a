import { runStage } from '../../../pipelines/stage.js';
import type { StageDefinition } from '../../engine/stage.js';
import { choice, type OptionTable } from '../../options.js';
import { emptyExportError } from '../../../pipelines/hints.js';
import { EXIT_CODE } from '../../errors.js';
import { DATASET_FILES, EVIDENCE, FAIL_IF_EMPTY, HELP, RULES, STAGE_COMMON } from '../common-options.js';
import type { Command } from '../command.js';
import { datasetRunOptions, printDatasetInfo, printStageSummary } from '../summary.js';

const EXAMPLES: Record<string, readonly string[]> = {
  sft: [
    'cat data/scored-runs/*/*/*/*.jsonl | distill-stream sft --evidence data/evidence > sft.jsonl',
    'distill-stream sft --root . --include-partial',
    'distill-stream sft --root . --format messages --out train.jsonl',
    'distill-stream sft --root . --format sharegpt --out data/sft.jsonl.zst --split train=0.98,validation=0.02',
  ],
  rag: [
    'distill-stream rag --root .',
    'distill-stream rag data/scored-runs/2026/05 --evidence data/evidence --include-review > playbooks.jsonl',
    'distill-stream rag --root . --out playbooks.parquet --max-rows-per-file 100000',
  ],
  preference: ['distill-stream preference --root .', 'distill-stream preference --root . --format dpo --out dpo.jsonl'],
  collect: ['distill-stream collect --root .', 'cat my_agent.jsonl | distill-stream collect --source my_agent > evidence.jsonl'],
  score: ['distill-stream score --root .', 'cat evidence.jsonl | distill-stream score > scored.jsonl'],
};

const DESCRIPTIONS: Record<StageDefinition['kind'], readonly string[]> = {
  dataset: [
    'Reads scored runs from the inputs (files, folders, - for stdin), from stdin when there are none,',
    'or from <root>/data/scored-runs with --root and no inputs; joins each with its evidence.',
    'Writes the dataset to --out, stdout, or its standard path under --root.',
  ],
  pairs: [
    'Reads scored runs like sft and pairs accepted runs with rejected (then partially accepted) runs',
    'of the same task; rows that end in no pair are counted as unpaired, never quarantined.',
  ],
  tree: [
    'With --root and no inputs, rebuilds its tree of the standard layout atomically; given inputs or',
    'rows on stdin, it works as a filter and writes the lines to --out or stdout.',
  ],
};

/** The command of one registry stage: the shared options, the stage's own flags, and its views. */
export function stageCommand(stage: StageDefinition): Command {
  const views: OptionTable = stage.kind !== 'tree' && stage.views.length > 1 ? { format: choice(stage.views, 'VIEW', `the written view: ${stage.views.join(', ')} (default: ${stage.views[0]})`) } : {};
  const joins = stage.kind !== 'tree';
  return {
    name: stage.name,
    group: stage.reads === 'scored-runs' ? 'Datasets' : 'Pipeline',
    summary: stage.summary,
    operands: '[inputs…]',
    description: DESCRIPTIONS[stage.kind],
    options: {
      ...STAGE_COMMON,
      ...(joins ? { ...EVIDENCE, ...DATASET_FILES, ...FAIL_IF_EMPTY } : {}),
      ...(stage.usesRules ? RULES : {}),
      ...stage.flags,
      ...views,
      ...(stage.kind === 'tree' ? {} : (stage.viewFlags ?? {})),
      ...HELP,
    },
    examples: EXAMPLES[stage.name] ?? [],
    takesOperands: true,
    run: async (session) => {
      const { args, terminal } = session;
      const json = args.values['json'] === true;
      const { counts, index, datasetInfo, notes } = await runStage(stage, datasetRunOptions(session));
      printDatasetInfo(terminal, stage.name, datasetInfo);
      printStageSummary(terminal, json, stage.name, counts, index, notes);
      const empty = args.values['failIfEmpty'] === true ? emptyExportError(stage.name, counts) : undefined;
      if (empty === undefined) return 0;
      terminal.line(`distill-stream: ${empty}`);
      return EXIT_CODE.DS_VALIDATION;
    },
  };
}

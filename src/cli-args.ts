import { parseArgs } from 'node:util';
import { isIsoTimestamp } from './core/timestamp.js';
import { usageError } from './errors.js';
import { DEFAULT_MAX_LINE_BYTES } from './io/line-splitter.js';

export const COMMANDS = ['sft', 'rag', 'preference', 'export-all', 'collect', 'score', 'run-all', 'read', 'health', 'index'] as const;
export type Command = (typeof COMMANDS)[number];

export const USAGE = `Usage: distill-stream <command> [options] [inputs…]

Export commands (inputs are files, folders or - for stdin):
  sft [inputs…]          scored runs → SFT samples (instruction, context, response)
  rag [inputs…]          scored runs → RAG playbooks (title, content, tags, embedding_text)
  preference [inputs…]   scored runs → chosen/rejected pairs per task
  export-all [inputs…]   sft, rag and preference in one pass, to the standard paths under --root
  index                  build or refresh the evidence index (--evidence)

Pipeline commands (on the standard layout under --root, or as filters on inputs/stdin):
  collect                data/_kb/*.jsonl → data/evidence/YYYY/MM/DD/<source>.jsonl (filter: --source NAME)
  score                  data/evidence → data/scored-runs (one ScoredRun per evidence row)
  run-all                collect → score → rag → sft → preference with receipts, summary and drift
                         in reports/distillation/<run_id>/ (--run-id, --drift-threshold, --continue-on-failure)
  read                   print a run's summary (--run-id ID or --latest; --json for the JSON)
  health                 check the layout, the evidence index and the last run; non-zero when a person is needed

Options:
  --root DIR             project root with the standard layout (default: current folder)
  --out FILE             write the dataset here atomically (default: stdout, or the standard path with --root)
  --quarantine FILE      quarantine rows (default: <root>/exports/quarantine/<stage>.jsonl)
  --evidence PATH        evidence file or folder (default: <root>/data/evidence)
  --source NAME          collect as a filter: the _kb source name of the rows
  --include-partial      SFT: admit partially_accepted runs
  --include-review       RAG: admit needs_human_review runs
  --format VIEW          sft: spec (default), messages, prompt-completion, alpaca
                         preference: spec (default), dpo, openai-dpo
  --recorded-at TS       pin recorded_at (ISO-8601) for byte-identical reruns
  --repo-root DIR        reject source_files that do not exist under DIR
  --max-line-bytes N     longest accepted line in bytes (default: 64 MiB)
  --dry-run              count everything, write nothing
  --json                 print the summary as JSON on stderr
  -h, --help             this text
  -v, --version          the version

Exit codes: 0 done (quarantined rows are not failures), 1 validation failed, 2 usage error, 3 input/output error.`;

export interface CliOptions {
  command: Command;
  inputs: string[];
  root: string | undefined;
  out: string | undefined;
  quarantine: string | undefined;
  evidence: string | undefined;
  source: string | undefined;
  format: string | undefined;
  runId: string | undefined;
  latest: boolean;
  driftThreshold: number | undefined;
  continueOnFailure: boolean;
  includePartial: boolean;
  includeReview: boolean;
  recordedAt: string | undefined;
  repoRoot: string | undefined;
  maxLineBytes: number;
  dryRun: boolean;
  json: boolean;
}

export type ParsedCommandLine = { help: true } | { version: true } | { options: CliOptions };

/** Parses and validates the whole command line once, at start-up; throws DS_USAGE errors. */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        root: { type: 'string' },
        out: { type: 'string' },
        quarantine: { type: 'string' },
        evidence: { type: 'string' },
        source: { type: 'string' },
        format: { type: 'string' },
        'run-id': { type: 'string' },
        latest: { type: 'boolean', default: false },
        'drift-threshold': { type: 'string' },
        'continue-on-failure': { type: 'boolean', default: false },
        'include-partial': { type: 'boolean', default: false },
        'include-review': { type: 'boolean', default: false },
        'recorded-at': { type: 'string' },
        'repo-root': { type: 'string' },
        'max-line-bytes': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (values.version) return { version: true };
  const [command, ...inputs] = positionals;
  if (command === undefined) throw usageError('missing command');
  if (!(COMMANDS as readonly string[]).includes(command)) throw usageError(`unknown command '${command}'`);
  const recordedAt = values['recorded-at'];
  if (recordedAt !== undefined && !isIsoTimestamp(recordedAt)) throw usageError(`--recorded-at '${recordedAt}' is not an ISO-8601 timestamp`);
  return {
    options: {
      command: command as Command,
      inputs,
      root: values.root,
      out: values.out,
      quarantine: values.quarantine,
      evidence: values.evidence,
      source: values.source,
      format: values.format,
      runId: values['run-id'],
      latest: values.latest,
      driftThreshold: parseThreshold(values['drift-threshold']),
      continueOnFailure: values['continue-on-failure'],
      includePartial: values['include-partial'],
      includeReview: values['include-review'],
      recordedAt,
      repoRoot: values['repo-root'],
      maxLineBytes: parseMaxLineBytes(values['max-line-bytes']),
      dryRun: values['dry-run'],
      json: values.json,
    },
  };
}

function parseThreshold(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw usageError(`--drift-threshold '${value}' is not a non-negative number`);
  return n;
}

function parseMaxLineBytes(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_LINE_BYTES;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw usageError(`--max-line-bytes '${value}' is not a positive integer`);
  return n;
}

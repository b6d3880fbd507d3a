import os from 'node:os';
import { flag, option, type OptionTable } from '../options.js';

/** Options several commands share, declared once. */
export const ROOT = { root: option('path', 'DIR', 'the standard layout\'s root (default: the current folder)') };
export const OUTPUT = {
  out: option('path', 'FILE', 'write the dataset to FILE atomically, as .jsonl, .jsonl.gz, .jsonl.zst or (a dataset) .parquet by its name; - is stdout (default: stdout, or the standard path with --root and no inputs)'),
  quarantine: option('path', 'FILE', 'write rejected rows to FILE (default: <root>/exports/quarantine/<stage>.jsonl)'),
};
export const FOLLOW_SYMLINKS = { 'follow-symlinks': flag('write through an output path that is a symbolic link (refused otherwise)') };
export const RULES = { rules: option('path', 'FILE', 'a rules file: scoring rules and instruction templates (default: the built-in rules; see rules show --builtin)') };
export const EVIDENCE = { evidence: option('path', 'PATH', 'evidence file or folder to join with (default: <root>/data/evidence)') };
export const RECORDED_AT = { 'recorded-at': option('timestamp', 'TS', 'pin recorded_at (ISO-8601) for byte-identical reruns (default: now)') };
export const MAX_LINE_BYTES = { 'max-line-bytes': option('size', 'SIZE', 'longest accepted line, e.g. 65536, 64KiB, 64MiB (default: 64MiB); longer → line_too_long') };
export const DRY_RUN = { 'dry-run': flag('count everything, write nothing') };
export const FAIL_IF_EMPTY = { 'fail-if-empty': flag('exit 1 (validation failed) when an export writes no row, after writing what it wrote') };
export const JSON_SUMMARY = { json: flag('print the summary line as JSON on stderr') };
export const JOBS = { jobs: option('count', 'N', 'processes to run in: large inputs are cut into N shards and merged, byte for byte as one (default: the number of cores)') };
export const HELP = { help: flag('show this command\'s help', { short: 'h' }) };

/** What every row stage takes: where it reads and writes, and how it counts. */
export const STAGE_COMMON: OptionTable = { ...ROOT, ...OUTPUT, ...FOLLOW_SYMLINKS, ...RECORDED_AT, ...MAX_LINE_BYTES, ...DRY_RUN, ...JOBS, ...JSON_SUMMARY };

/** --jobs as given, or every core: the default uses the machine. */
export const jobsOf = (values: Record<string, unknown>): number => (values['jobs'] as number | undefined) ?? os.availableParallelism();

/** How a dataset export writes its dataset as a set of files (not a stage that rebuilds a tree). */
export const DATASET_FILES = {
  'max-rows-per-file': option('count', 'N', 'write the dataset as parts of at most N rows: NAME-00000-of-0000K.EXT beside --out'),
  'max-bytes-per-file': option('size', 'SIZE', 'write the dataset as parts of at most SIZE bytes of JSONL (before compression), e.g. 500MB'),
  split: option('string', 'NAME=F,…', 'one file per split, each sample by a hash of its id, e.g. train=0.98,validation=0.02 (NAME-train.EXT beside --out)'),
};

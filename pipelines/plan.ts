import type { ProgressSink } from '../src/progress.js';
import path from 'node:path';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { resolveInputs } from '../src/io/inputs.js';
import type { InputSource } from '../src/io/line-source.js';
import { displayPath, STDIN_PATH } from '../src/io/paths.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantinePath } from '../src/layout.js';
import type { StageName } from '../src/records.js';
import { usageError } from '../src/errors.js';

/**
 * The options every stage command shares, as the command line gives them. Relative paths resolve
 * against `cwd` (the CLI passes its own working folder), so the library and the CLI agree.
 */
export interface CommonOptions {
  /** The folder relative paths are resolved against; default the process's working folder. */
  cwd?: string;
  /** The standard layout's root; default `cwd`. Given with no inputs, the stage runs on the layout. */
  root?: string;
  /** Files, folders or `-` for stdin; none and no root: stdin. */
  inputs?: readonly string[];
  /** Where the dataset goes (`-` for stdout); default stdout, or the standard path on the layout. */
  out?: string;
  /** Where rejected rows go; default `<root>/exports/quarantine/<stage>.jsonl`. */
  quarantine?: string;
  /** recorded_at of this run (ISO-8601); default now. Pin it for byte-identical reruns. */
  recordedAt?: string;
  maxLineBytes?: number;
  /** Count everything, write nothing. */
  dryRun?: boolean;
  /** Told the bytes and rows read as they stream (a progress line). */
  progress?: ProgressSink;
}

/** Where a stage command reads and writes, decided once from its options. */
export interface StagePlan {
  root: string;
  cwd: string;
  /** Inputs named or stdin: the stage runs as a filter; else on the standard layout. */
  filter: boolean;
  inputs: readonly string[];
  output: OutputTarget | undefined;
  quarantine: OutputTarget;
  recordedAt: string;
  maxLineBytes: number;
}

const DISCARD: OutputTarget = { kind: 'discard' };

export function planStage(options: CommonOptions, stage: StageName, stdinIsTerminal: boolean): StagePlan {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const root = path.resolve(cwd, options.root ?? '.');
  const inputs = options.inputs ?? [];
  const filter = inputs.length > 0 || options.root === undefined;
  if (filter && inputs.length === 0 && stdinIsTerminal) throw usageError('no inputs: pass files or folders, pipe rows on stdin, or give --root');
  const fileTarget = (file: string): OutputTarget => {
    if (file === STDIN_PATH) return { kind: 'stdout' };
    const absolute = path.resolve(cwd, file);
    return { kind: 'file', path: absolute, display: displayPath(root, absolute) };
  };
  const output = options.out !== undefined ? fileTarget(options.out) : filter ? ({ kind: 'stdout' } as const) : undefined;
  return {
    root,
    cwd,
    filter,
    inputs: inputs.length > 0 ? inputs.map((input) => (input === STDIN_PATH ? input : path.resolve(cwd, input))) : [STDIN_PATH],
    output: options.dryRun ? DISCARD : output,
    quarantine: options.dryRun ? DISCARD : fileTarget(options.quarantine ?? quarantinePath(root, stage)),
    recordedAt: options.recordedAt ?? new Date().toISOString(),
    maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
  };
}

/** A standard-layout file as an output target. */
export function layoutTarget(root: string, relative: string): OutputTarget {
  const absolute = path.join(root, relative);
  return { kind: 'file', path: absolute, display: displayPath(root, absolute) };
}

/** The inputs of a plan: those named (or stdin), or the layout folder given. */
export function planInputs(plan: StagePlan, layoutFolder: string): AsyncIterable<InputSource> {
  return resolveInputs(plan.filter ? plan.inputs : [path.join(plan.root, layoutFolder)], plan.root);
}

/** The standard evidence folder of a root, or the one given (resolved against cwd). */
export const evidencePath = (plan: Pick<StagePlan, 'root' | 'cwd'>, evidence: string | undefined): string =>
  evidence === undefined ? path.join(plan.root, LAYOUT.evidence) : path.resolve(plan.cwd, evidence);

import path from 'node:path';
import { stat } from 'node:fs/promises';
import { parseSplits } from '../src/core/splits.js';
import { ioError, usageError } from '../src/errors.js';
import { recoverTree } from '../src/io/commit.js';
import { resolveInputs } from '../src/io/inputs.js';
import type { InputSource } from '../src/io/line-source.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { refuseCollisions, resolveOutput } from '../src/io/output-target.js';
import { displayPath, STDIN_PATH } from '../src/io/paths.js';
import type { ColumnShape } from '../src/io/parquet.js';
import type { OutputTarget } from '../src/io/sink.js';
import { LAYOUT, quarantineFile } from '../src/layout.js';
import type { ProgressSink } from '../src/progress.js';
import type { StageName } from '../src/records.js';

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
  /** Write through an output path that is a symbolic link (else refused). */
  followSymlinks?: boolean;
  /** recorded_at of this run (ISO-8601); default now. Pin it for byte-identical reruns. */
  recordedAt?: string;
  maxLineBytes?: number;
  /** Count everything, write nothing. */
  dryRun?: boolean;
  /** Processes to run the work in (local shards, for inputs large enough); default 1. */
  jobs?: number;
  /** Dataset exports: write the dataset as parts of at most this many rows (`NAME-00000-of-0000K.EXT`). */
  maxRowsPerFile?: number;
  /** Dataset exports: … or of at most this many bytes of JSONL (before compression). */
  maxBytesPerFile?: number;
  /** Dataset exports: `train=0.98,validation=0.02` writes one file (or set of parts) per split, by sample id. */
  split?: string;
  /** Told the bytes and rows read as they stream (a progress line). */
  progress?: ProgressSink;
}

/** Where a stage command reads and writes, decided once from its options. */
export interface StagePlan {
  root: string;
  cwd: string;
  /** Inputs named or stdin: the stage runs as a filter; else on the standard layout. */
  filter: boolean;
  /** Absolute paths (or `-`) of what the stage reads as a filter. */
  inputs: readonly string[];
  /** The same, as the user typed them (relative to `cwd`). */
  named: readonly string[];
  output: OutputTarget;
  quarantine: OutputTarget;
  recordedAt: string;
  maxLineBytes: number;
}

const DISCARD: OutputTarget = { kind: 'discard' };

/** The working folder and the root of a command's options, absolute. */
export function placeOf(options: Pick<CommonOptions, 'cwd' | 'root'>): { cwd: string; root: string } {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  return { cwd, root: path.resolve(cwd, options.root ?? '.') };
}

/** The inputs a plan names, resolved against its working folder. */
function namedInputs(options: CommonOptions, cwd: string): string[] {
  return (options.inputs ?? []).map((input) => (input === STDIN_PATH ? input : path.resolve(cwd, input)));
}

/**
 * Whether a command reads named inputs or stdin (a filter) or its layout folder, and which inputs:
 * absolute, and as typed (`named`, stdin when none: read through resolveInputs, so a missing one is
 * named as the user spelled it).
 */
export function planReads(options: CommonOptions, stdinIsTerminal: boolean): { cwd: string; root: string; filter: boolean; inputs: string[]; named: readonly string[] } {
  const { cwd, root } = placeOf(options);
  const inputs = namedInputs(options, cwd);
  const filter = inputs.length > 0 || options.root === undefined;
  if (filter && inputs.length === 0 && stdinIsTerminal) throw usageError('no inputs: pass files or folders, pipe rows on stdin, or give --root');
  return { cwd, root, filter, inputs, named: inputs.length > 0 ? options.inputs! : [STDIN_PATH] };
}

/**
 * Decides once where a stage reads and writes (the rules of every stage command): with named
 * inputs or no root it is a filter (stdin when nothing is named; a terminal there is a usage
 * error), else it reads its layout folder. Outputs are resolved and checked before anything is
 * written: none may be an input or another output. `layoutOutput` is the standard path it writes on
 * the layout; `reads` are the other inputs (the evidence), for the collision check.
 */
export async function planStage(
  options: CommonOptions,
  stage: StageName,
  context: {
    stdinIsTerminal: boolean;
    layoutInput: string;
    layoutOutput: string | undefined;
    reads: ReadonlyArray<{ path: string; option: string }>;
    /** The Parquet columns of the view written; none for a stage that writes no dataset. */
    columns: ColumnShape | undefined;
  },
): Promise<StagePlan> {
  const { cwd, root, filter, inputs, named } = planReads(options, context.stdinIsTerminal);
  if (!filter) await requireFolder(root, context.layoutInput, options.root);
  const followSymlinks = options.followSymlinks ?? false;
  // A path given resolves against the working folder; a default one is named relative to the root.
  const resolve = async (given: string | undefined, fallback: string | undefined, option: string, otherwise: OutputTarget, columns?: ColumnShape): Promise<OutputTarget> => {
    if (options.dryRun) return DISCARD;
    if (given !== undefined) return resolveOutput({ given, option, columns }, { cwd, root, followSymlinks });
    return fallback === undefined ? otherwise : resolveOutput({ given: fallback, option: `${option} (default)`, columns }, { cwd: root, root, followSymlinks });
  };
  const output = asParts(await resolve(options.out, filter ? undefined : context.layoutOutput, '--out', { kind: 'stdout' }, context.columns), options);
  const quarantine = await resolve(options.quarantine, quarantineFile(stage), '--quarantine', DISCARD);
  const reads = [...(filter ? inputs.map((input) => ({ path: input, option: '' })) : [{ path: path.join(root, context.layoutInput), option: '' }]), ...context.reads];
  await refuseCollisions([{ target: output }, { target: quarantine }], reads);
  return {
    root,
    cwd,
    filter,
    inputs: inputs.length > 0 ? inputs : [STDIN_PATH],
    named,
    output,
    quarantine,
    recordedAt: options.recordedAt ?? new Date().toISOString(),
    maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
  };
}

/**
 * A stage on the standard layout needs its input folder there: checked before anything is written,
 * so a mistyped --root is named (as typed, `given`) and leaves no folders behind. A tree a killed
 * swap left between its renames is put back first.
 */
export async function requireFolder(root: string, relative: string, given = root): Promise<void> {
  const folder = path.join(root, relative);
  await recoverTree(folder);
  const info = await stat(folder).catch((cause: unknown) => {
    throw ioError(displayPath(root, folder), cause, `--root ${given}:`);
  });
  if (!info.isDirectory()) throw ioError(displayPath(root, folder), Object.assign(new Error('not a folder'), { code: 'ENOTDIR' }), `--root ${given}:`);
}

/**
 * The dataset output as a set of files when `--max-rows-per-file`, `--max-bytes-per-file` or
 * `--split` asks for one (named beside the file given); those need a file to name the set after.
 */
function asParts(target: OutputTarget, options: CommonOptions): OutputTarget {
  const { maxRowsPerFile: maxRows, maxBytesPerFile: maxBytes } = options;
  const splits = options.split === undefined ? undefined : parseSplits(options.split);
  if (maxRows === undefined && maxBytes === undefined && splits === undefined) return target;
  if (target.kind === 'discard') return target;
  if (target.kind !== 'file') {
    const flag = maxRows !== undefined ? '--max-rows-per-file' : maxBytes !== undefined ? '--max-bytes-per-file' : '--split';
    throw usageError(`${flag} writes a set of files named after --out: give --out FILE (${target.kind === 'stdout' ? 'not stdout' : `${target.label} is not a regular file`})`);
  }
  return { kind: 'parts', path: target.path, display: target.display, label: target.label, maxRows, maxBytes, splits, ...(target.format === undefined ? {} : { format: target.format }) };
}

/** A standard-layout file as an output target. */
export function layoutTarget(root: string, relative: string): OutputTarget {
  const absolute = path.join(root, relative);
  const display = displayPath(root, absolute);
  return { kind: 'file', path: absolute, display, label: display };
}

/** The inputs of a plan: those named (or stdin), or the layout folder given; entries not read are added to `skipped`. */
export function planInputs(plan: StagePlan, layoutFolder: string, skipped: string[]): AsyncIterable<InputSource> {
  return resolveInputs(plan.filter ? plan.named : [path.join(plan.root, layoutFolder)], plan.root, plan.cwd, skippedInto(skipped));
}

/** Collects entries not read as `path: why`, for a run's counts. */
export const skippedInto = (skipped: string[]) => (display: string, why: string): void => void skipped.push(`${display}: ${why}`);

/** How evidence is named in messages: the path as typed and its option; the default one relative to the root (the index's own naming). */
export const evidenceLabel = (evidence: string | undefined): string | undefined => (evidence === undefined ? undefined : `--evidence ${evidence}`);

/** The standard evidence folder of a root, or the one given (resolved against cwd). */
export const evidencePath = (plan: Pick<StagePlan, 'root' | 'cwd'>, evidence: string | undefined): string =>
  evidence === undefined ? path.join(plan.root, LAYOUT.evidence) : path.resolve(plan.cwd, evidence);

import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseJson } from '../src/core/gates.js';
import { StageCounts } from '../src/engine/counts.js';
import { outputKind, type StageDefinition } from '../src/engine/stage.js';
import { quarantineRows, type RowProblem, type WrittenRows } from '../src/engine/written.js';
import { DistillError, ioError, usageError } from '../src/errors.js';
import { fileSha256, fileState } from '../src/io/digest.js';
import { openLines } from '../src/io/line-source.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';
import { displayPath, isInsideRootPath } from '../src/io/paths.js';
import { walkInputFiles } from '../src/io/walk.js';
import { isRunId, LAYOUT, quarantineFile, RUN_ID_RULE } from '../src/layout.js';
import type { ProgressSink } from '../src/progress.js';
import type { Category, QuarantineReason } from '../src/records.js';
import type { FileDigest, Mismatch, RecordCounts, StageReceipt } from '../src/receipts.js';
import { latestRun, readReport } from '../src/report/drift.js';
import { combinedHash } from '../src/report/hashes.js';
import { validators } from '../src/schemas/validators.js';
import { STAGES } from '../src/stages/registry.js';
import { placeOf } from './plan.js';
import { readRunFolder, type ReceiptFile, type RunState } from './runs.js';

/** Row problems listed per file; past them one line counts the rest, so a file of garbage cannot flood the output. */
export const LISTED_ROW_PROBLEMS = 10;

interface AuditOptions {
  /** Longest line read (default 64 MiB); a longer row cannot be checked and is a mismatch. */
  maxLineBytes?: number;
  /** Told the bytes and rows read as they stream (a progress line). */
  progress?: ProgressSink;
}

export interface VerifyRunOptions extends AuditOptions {
  /** The folder relative paths are resolved against; default the process's working folder. */
  cwd?: string;
  /** The standard layout's root; default `cwd`. */
  root?: string;
  /** The run to verify; exactly one of runId and latest. */
  runId?: string;
  /** The run that finished last. */
  latest?: boolean;
}

export interface VerifyDatasetOptions extends AuditOptions {
  cwd?: string;
  /** A dataset (or quarantine) file one of the receipt's outputs was, moved or shipped alone. */
  dataset: string;
  /** The StageReceipt that names it. */
  receipt: string;
  /** The stage's quarantine file, when it was shipped too. */
  quarantine?: string;
}

export interface VerifyResult {
  mode: 'run' | 'dataset';
  run_id: string;
  /** What the run's folder says of it (run mode); null for a dataset. */
  state: RunState | null;
  /** Every check held. */
  passed: boolean;
  receipts: number;
  /** Files read. */
  files: number;
  /** Rows read, over every file. */
  rows: number;
  mismatches: Mismatch[];
  /** Checks that could not be made, and why (files not given). */
  not_checked: string[];
}

/** Where a file a receipt names is read: its absolute path and the name messages give it; null when it was not given. */
type Locate = (file: string) => { absolute: string; display: string } | null;

/** One receipt under audit, and what its files were found to hold. */
interface Audit {
  file: string;
  receipt: StageReceipt;
  stage: StageDefinition | undefined;
  inputRows: number;
  rows: number;
  quarantineRows: number;
  byCategory: Map<string, number>;
  byReason: Map<string, number>;
  /** The digests of the files read, by the receipt's path. */
  found: Map<string, FileDigest>;
  /** Files it names that were not given (a dataset shipped alone): their checks are listed as not made. */
  notGiven: Set<string>;
}

/** One file to read once, for every receipt that names it. */
interface FileTask {
  path: string;
  expected: Array<{ audit: Audit; role: 'input' | 'output'; digest: FileDigest }>;
  checks: Array<{ audit: Audit; kind: 'rows' | 'quarantine'; written: WrittenRows }>;
}

const mismatch = (file: string, check: string, expected: string, found: string, line: number | null = null): Mismatch => ({ file, line, check, expected, found });

const bump = (counts: Map<string, number>, key: string): void => {
  counts.set(key, (counts.get(key) ?? 0) + 1);
};

const describeDigest = (digest: { bytes: number; sha256: string }): string => `${digest.bytes} bytes, sha256 ${digest.sha256}`;

/** The mismatches of a set of receipts against the files they name, found in one streaming pass per file. */
class ReceiptAudit {
  readonly mismatches: Mismatch[] = [];
  readonly notChecked: string[] = [];
  files = 0;
  rows = 0;
  private readonly audits: Audit[];
  private readonly tasks = new Map<string, FileTask>();

  constructor(
    receipts: readonly ReceiptFile[],
    private readonly locate: Locate,
    private readonly options: AuditOptions,
  ) {
    this.audits = receipts.map(({ file, receipt }) => this.plan(file, receipt));
  }

  private plan(file: string, receipt: StageReceipt): Audit {
    const stage = STAGES.find((s) => s.receipt === receipt.stage);
    const audit: Audit = { file, receipt, stage, inputRows: 0, rows: 0, quarantineRows: 0, byCategory: new Map(), byReason: new Map(), found: new Map(), notGiven: new Set() };
    if (stage === undefined) {
      this.mismatches.push(mismatch(file, 'stage', `a stage this version knows (${STAGES.map((s) => s.receipt).join(', ')})`, `${receipt.stage}: its files are hashed, their rows not checked`));
    }
    for (const digest of receipt.inputs) this.task(audit, digest)?.expected.push({ audit, role: 'input', digest });
    for (const digest of receipt.outputs) {
      const task = this.task(audit, digest);
      if (task === undefined) continue;
      task.expected.push({ audit, role: 'output', digest });
      if (stage === undefined) continue;
      const kind = outputKind(stage, digest.path);
      if (kind === undefined) {
        this.mismatches.push(mismatch(digest.path, 'output', `a file ${stage.receipt} writes (${stage.writes}, ${quarantineFile(stage.name)})`, `another file, listed in ${file}`));
      } else task.checks.push({ audit, kind, written: kind === 'rows' ? stage.written : quarantineRows(stage.name) });
    }
    return audit;
  }

  private task(audit: Audit, digest: FileDigest): FileTask | undefined {
    if (!isInsideRootPath(digest.path)) {
      this.mismatches.push(mismatch(digest.path, 'path', 'a path inside the root', `a path that leaves it, listed in ${audit.file}`));
      return undefined;
    }
    let task = this.tasks.get(digest.path);
    if (task === undefined) {
      task = { path: digest.path, expected: [], checks: [] };
      this.tasks.set(digest.path, task);
    }
    return task;
  }

  /** Reads every file in path order (one pass each), then checks each receipt's counts and hashes. */
  async run(): Promise<void> {
    const tasks = [...this.tasks.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    this.options.progress?.begin('verify', tasks.reduce((sum, task) => sum + task.expected[0]!.digest.bytes, 0));
    for (const task of tasks) await this.readTask(task);
    for (const audit of this.audits) if (audit.stage !== undefined) this.checkCounts(audit, audit.stage);
    for (const audit of this.audits) this.checkHashes(audit);
  }

  private async readTask(task: FileTask): Promise<void> {
    const where = this.locate(task.path);
    if (where === null) {
      for (const { audit } of task.expected) audit.notGiven.add(task.path);
      return;
    }
    const state = await fileState(where.absolute, where.display);
    if (state.kind !== 'file') {
      this.contentMismatches(task, where.display, state.kind === 'missing' ? 'no such file' : 'something that is not a file');
      return;
    }
    let digest: { bytes: number; sha256: string };
    let rowMismatches: Mismatch[];
    try {
      ({ digest, rowMismatches } = await this.readRows(task, where));
    } catch (error) {
      // Bytes that start like gzip but do not decompress are a changed file, not an unreadable disk.
      const code = error instanceof DistillError ? (error.cause as { code?: unknown } | undefined)?.code : undefined;
      if (typeof code !== 'string' || !code.startsWith('Z_')) throw error;
      this.contentMismatches(task, where.display, 'bytes that start like gzip but do not decompress');
      return;
    }
    this.files++;
    for (const { audit } of task.expected) audit.found.set(task.path, { ...digest, path: task.path });
    this.contentMismatches(task, where.display, digest);
    this.mismatches.push(...rowMismatches);
  }

  /** One content mismatch per distinct digest the receipts expect of the file that `found` (a digest, or what is there instead) is not. */
  private contentMismatches(task: FileTask, display: string, found: { bytes: number; sha256: string } | string): void {
    const seen = new Set<string>();
    for (const { digest } of task.expected) {
      const expected = describeDigest(digest);
      if (seen.has(expected)) continue;
      seen.add(expected);
      if (typeof found === 'string') this.mismatches.push(mismatch(display, 'content', expected, found));
      else if (digest.bytes !== found.bytes || digest.sha256 !== found.sha256) this.mismatches.push(mismatch(display, 'content', expected, describeDigest(found)));
    }
  }

  /**
   * One pass: hashes the raw bytes, counts the lines, and re-checks each row for every receipt that
   * lists the file as its output. The row mismatches come back (at most LISTED_ROW_PROBLEMS + 1) to
   * follow the file's content line.
   */
  private async readRows(task: FileTask, where: { absolute: string; display: string }): Promise<{ digest: { bytes: number; sha256: string }; rowMismatches: Mismatch[] }> {
    const hash = createHash('sha256');
    let bytes = 0;
    const progress = this.options.progress;
    const onRawChunk = (chunk: Buffer): void => {
      hash.update(chunk);
      bytes += chunk.length;
      progress?.bytes(chunk.length);
    };
    const maxLineBytes = this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    let lines = 0;
    let problems = 0;
    const rowMismatches: Mismatch[] = [];
    const report = (line: number, problem: RowProblem): void => {
      if (++problems <= LISTED_ROW_PROBLEMS) rowMismatches.push(mismatch(where.display, problem.check, problem.expected, problem.found, line));
    };
    for await (const batch of await openLines(where, { maxLineBytes, onRawChunk })) {
      progress?.rows(batch.length);
      lines += batch.length;
      if (task.checks.length === 0) continue;
      for (const line of batch) {
        const parsed = line.tooLong ? undefined : parseJson(line.text);
        for (const check of task.checks) {
          if (check.kind === 'rows') check.audit.rows++;
          else check.audit.quarantineRows++;
          if (parsed === undefined) {
            report(line.line + 1, { check: 'schema', expected: 'one JSON row', found: line.tooLong ? `a line longer than ${maxLineBytes} bytes (--max-line-bytes)` : 'a line that is not JSON' });
            continue;
          }
          const audit = check.written(parsed.value);
          if (audit.countedAs !== undefined) bump(check.kind === 'rows' ? check.audit.byCategory : check.audit.byReason, audit.countedAs);
          for (const problem of audit.problems) report(line.line + 1, problem);
        }
      }
    }
    if (problems > LISTED_ROW_PROBLEMS) {
      rowMismatches.push(mismatch(where.display, 'rows', 'every row to hold', `${problems - LISTED_ROW_PROBLEMS} more problems than the ${LISTED_ROW_PROBLEMS} listed`));
    }
    this.rows += lines;
    for (const { audit, role } of task.expected) if (role === 'input') audit.inputRows += lines;
    return { digest: { bytes, sha256: hash.digest('hex') }, rowMismatches };
  }

  /**
   * The receipt's counts against the rows found: `in` against the input rows, `out` and
   * by_category against the rows written, the quarantine rows against `quarantined` (a pairing
   * stage also quarantines pairs: against the sum of by_reason) and by_reason; then the stage's
   * own invariants on the counts found (for every stage but pairing, whose rows in a written pair
   * are not recomputed). A check whose files were not all read is skipped: the missing file is
   * its mismatch, or, when it was not given, a line of not_checked.
   */
  private checkCounts(audit: Audit, stage: StageDefinition): void {
    const counts = audit.receipt.record_counts;
    const outputs = audit.receipt.outputs.map((o) => o.path);
    const rowFiles = outputs.filter((file) => outputKind(stage, file) === 'rows');
    const quarantine = outputs.filter((file) => outputKind(stage, file) === 'quarantine');
    const inputs = audit.receipt.inputs.map((i) => i.path);
    const read = (files: readonly string[], checks: string): boolean => {
      const notGiven = files.filter((file) => audit.notGiven.has(file));
      if (notGiven.length > 0) this.notChecked.push(`${audit.file}: ${checks}: ${notGiven.length === 1 ? `${notGiven[0]} was` : `${notGiven.length} of its files were`} not given`);
      return files.every((file) => audit.found.has(file));
    };
    const inRead = read(inputs, 'record_counts.in');
    if (inRead && audit.inputRows !== counts.in) this.mismatches.push(mismatch(audit.file, 'record_counts.in', String(counts.in), `${audit.inputRows} rows in its ${inputs.length} input files`));
    const rowsRead = read(rowFiles, 'record_counts.out, by_category');
    if (rowsRead) {
      const where = rowFiles.length === 1 ? this.display(rowFiles[0]!) : `${rowFiles.length} files under ${stage.writes}`;
      if (audit.rows !== counts.out) this.mismatches.push(mismatch(audit.file, 'record_counts.out', String(counts.out), `${audit.rows} rows in ${where}`));
      this.compareKeys(audit.file, 'by_category', counts.by_category, audit.byCategory, where);
    }
    const quarantineRead = read(quarantine, 'record_counts.quarantined, by_reason');
    if (quarantineRead && quarantine.length > 0) {
      const where = quarantine.map((file) => this.display(file)).join(', ');
      const expected = stage.kind === 'pairs' ? Object.values(counts.by_reason).reduce((sum, n) => sum + n, 0) : counts.quarantined;
      const check = stage.kind === 'pairs' ? 'quarantine rows' : 'record_counts.quarantined';
      const said = stage.kind === 'pairs' ? `${expected} (the sum of by_reason: rows and pairs)` : String(expected);
      if (audit.quarantineRows !== expected) this.mismatches.push(mismatch(audit.file, check, said, `${audit.quarantineRows} rows in ${where}`));
      this.compareKeys(audit.file, 'by_reason', counts.by_reason, audit.byReason, where);
    }
    if (stage.kind === 'pairs' && counts.quarantined + (counts.unpaired ?? 0) > counts.in) {
      this.mismatches.push(mismatch(audit.file, 'record_counts', `quarantined + unpaired at most in (${counts.in})`, `${counts.quarantined} + ${counts.unpaired ?? 0}`));
    }
    if (stage.kind === 'pairs' || !(inRead && rowsRead && quarantineRead)) return;
    const found = new StageCounts();
    found.in = audit.inputRows;
    found.out = audit.rows;
    found.quarantined = audit.quarantineRows;
    for (const [category, n] of audit.byCategory) found.byCategory.set(category as Category, n);
    for (const [reason, n] of audit.byReason) found.byReason.set(reason as QuarantineReason, n);
    for (const invariant of stage.invariants) for (const error of invariant(found)) this.mismatches.push(mismatch(audit.file, 'invariant', 'the stage\'s promises to hold on the files', error));
  }

  /** The name messages give a file a receipt lists: where it was read from. */
  private display(file: string): string {
    return this.locate(file)?.display ?? file;
  }

  /** One mismatch per key whose count differs, keys in string order (a key missing on one side counts 0). */
  private compareKeys(file: string, field: 'by_category' | 'by_reason', said: RecordCounts['by_category'] | RecordCounts['by_reason'], found: ReadonlyMap<string, number>, where: string): void {
    const stated = said as Readonly<Record<string, number>>;
    for (const key of [...new Set([...Object.keys(stated), ...found.keys()])].sort()) {
      const expected = stated[key] ?? 0;
      const actual = found.get(key) ?? 0;
      if (expected !== actual) this.mismatches.push(mismatch(file, `record_counts.${field}.${key}`, String(expected), `${actual} in ${where}`));
    }
  }

  /**
   * input_hash and output_hash recomputed over the digests found, the receipt's own digest standing
   * in for a file that was not given; skipped when a file is missing (its mismatch says so).
   */
  private checkHashes(audit: Audit): void {
    const { receipt } = audit;
    for (const [files, field] of [[receipt.inputs, 'input_hash'], [receipt.outputs, 'output_hash']] as const) {
      const digests: FileDigest[] = [];
      for (const listed of files) {
        const found = audit.found.get(listed.path) ?? (audit.notGiven.has(listed.path) || !isInsideRootPath(listed.path) ? listed : undefined);
        if (found === undefined) break;
        digests.push(found);
      }
      if (digests.length !== files.length) continue;
      const recomputed = combinedHash(digests);
      if (recomputed !== receipt[field]) this.mismatches.push(mismatch(audit.file, field, receipt[field], recomputed));
    }
  }
}

function result(mode: VerifyResult['mode'], runId: string, state: RunState | null, receipts: number, audit: ReceiptAudit, before: readonly Mismatch[] = []): VerifyResult {
  const mismatches = [...before, ...audit.mismatches];
  return { mode, run_id: runId, state, passed: mismatches.length === 0, receipts, files: audit.files, rows: audit.rows, mismatches, not_checked: audit.notChecked };
}

/** The folder of the run asked for: by id, or the one that finished last. */
async function runToVerify(root: string, options: VerifyRunOptions): Promise<string> {
  if ((options.runId === undefined) === (options.latest !== true)) throw usageError('verify needs exactly one of --run-id ID and --latest');
  if (options.runId === undefined) {
    const last = await latestRun(path.join(root, LAYOUT.reports));
    if (last === undefined) throw ioError(LAYOUT.reports, new Error('no run has finished yet'));
    return path.basename(last.dir);
  }
  if (!isRunId(options.runId)) throw usageError(`--run-id ${JSON.stringify(options.runId)} is not a run id (${RUN_ID_RULE})`);
  const folder = `${LAYOUT.reports}/${options.runId}`;
  if (!(await isFolder(path.join(root, folder), folder))) throw ioError(folder, new Error('no such run'));
  return options.runId;
}

const isFolder = (absolute: string, display: string): Promise<boolean> =>
  stat(absolute).then(
    (info) => info.isDirectory(),
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
      throw ioError(display, error);
    },
  );

/**
 * Files under a tree stage's folder that its receipt does not list: the tree is rebuilt whole, so
 * whatever else is there was put there after the run (and the next stage would read it).
 */
async function unlistedTreeFiles(root: string, receipts: readonly ReceiptFile[]): Promise<Mismatch[]> {
  const found: Mismatch[] = [];
  for (const { file, receipt } of receipts) {
    const stage = STAGES.find((s) => s.receipt === receipt.stage);
    if (stage?.kind !== 'tree') continue;
    const folder = path.join(root, stage.writes);
    if (!(await isFolder(folder, stage.writes))) continue; // no folder: every listed file is missing, and says so
    const listed = new Set(receipt.outputs.map((o) => o.path));
    for await (const entry of walkInputFiles(folder)) {
      const relative = displayPath(root, entry.absolute);
      if (!listed.has(relative)) found.push(mismatch(relative, 'listed', `only the files ${file} lists under ${stage.writes}`, `a file it does not list (${entry.size} bytes)`));
    }
  }
  return found;
}

/**
 * Verifies a run against its receipts (`verify --root DIR --run-id ID | --latest`): the run's
 * reports agree with each other (see RunFolder), every file they name has the bytes and sha256
 * listed, each receipt's input_hash and output_hash recompute, the rows written hold against their
 * schema and the stage's promises, the counts recount, and a rebuilt tree holds nothing unlisted.
 * Paths are the receipts' own, relative to the root, so a copy of the root moved elsewhere verifies.
 * A receipt that cannot be read is an I/O error naming it; a missing data file is a mismatch.
 */
export async function verifyRun(options: VerifyRunOptions): Promise<VerifyResult> {
  const { root } = placeOf(options);
  const runId = await runToVerify(root, options);
  const folder = await readRunFolder(root, runId);
  if (folder.unreadable.length > 0) throw folder.unreadable[0]!;
  const audit = new ReceiptAudit(folder.receipts, (file) => ({ absolute: path.join(root, file), display: file }), options);
  await audit.run();
  return result('run', runId, folder.state, folder.receipts.length, audit, [...folder.problems, ...(await unlistedTreeFiles(root, folder.receipts))]);
}

/**
 * Verifies one dataset file shipped with its stage's receipt (`verify --dataset FILE --receipt
 * FILE [--quarantine FILE]`). The file is matched to the receipt's output of the same name (else of
 * the same sha256), then checked like a run's file: bytes and sha256, rows against the schema and
 * the stage's promises, and the counts it alone can recount. What needs files not given is listed
 * in not_checked.
 */
export async function verifyDataset(options: VerifyDatasetOptions): Promise<VerifyResult> {
  const { cwd } = placeOf(options);
  const receiptFile = path.resolve(cwd, options.receipt);
  const receipt = await readReport(receiptFile, validators().openStageReceipt);
  if (receipt === undefined) throw ioError(options.receipt, new Error('no such file'));
  const dataset = path.resolve(cwd, options.dataset);
  const state = await fileState(dataset, options.dataset);
  if (state.kind !== 'file') throw ioError(options.dataset, new Error(state.kind === 'missing' ? 'no such file' : 'not a file'));
  const given = new Map<string, { absolute: string; display: string }>();
  const matched = await matchOutput(receipt, dataset, options.dataset);
  const entry: ReceiptFile = { file: options.receipt, receipt };
  if (matched === undefined) {
    const audit = new ReceiptAudit([], () => null, options);
    const outputs = receipt.outputs.map((o) => o.path).join(', ');
    return result('dataset', receipt.run_id, null, 1, audit, [mismatch(options.dataset, 'output', `one of the receipt's outputs (${outputs})`, 'no output of this name or these bytes')]);
  }
  given.set(matched, { absolute: dataset, display: options.dataset });
  if (options.quarantine !== undefined) {
    const stage = STAGES.find((s) => s.receipt === receipt.stage);
    const target = stage === undefined ? undefined : quarantineFile(stage.name);
    if (target === undefined || !receipt.outputs.some((o) => o.path === target)) throw usageError(`--quarantine: ${options.receipt} lists no quarantine file`);
    if (target === matched) throw usageError(`--quarantine ${options.quarantine}: --dataset ${options.dataset} already is that receipt's quarantine file`);
    given.set(target, { absolute: path.resolve(cwd, options.quarantine), display: options.quarantine });
  }
  const audit = new ReceiptAudit([entry], (file) => given.get(file) ?? null, options);
  await audit.run();
  return result('dataset', receipt.run_id, null, 1, audit);
}

/** The receipt's output a shipped file was: the one of its name, else the one of its sha256. */
async function matchOutput(receipt: StageReceipt, absolute: string, display: string): Promise<string | undefined> {
  const name = path.basename(absolute);
  const byName = receipt.outputs.filter((o) => path.posix.basename(o.path) === name);
  if (byName.length === 1) return byName[0]!.path;
  const sha256 = await fileSha256(absolute, display);
  return receipt.outputs.find((o) => o.sha256 === sha256)?.path;
}

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { splitChooser } from '../core/splits.js';
import { ioError } from '../errors.js';
import type { FileDigest } from '../receipts.js';
import { recoverCommits, type CommitEntry } from './commit.js';
import { trackTemp, untrackTemp } from './temp-path.js';
import { drained } from './drain.js';
import { ensureFolder } from './folders.js';
import { killPoint } from './kill-point.js';
import { extensionOf } from './output-format.js';
import { openSink, type KeyedLine, type OpenSink, type OutputTarget, type PartsTarget } from './sink.js';
import { listFolder, removeAbandonedTemps, tempPathBeside } from './temp-path.js';

/** Digits of a part's number and of the part count, as the Hugging Face Hub names shards. */
const PART_DIGITS = 5;
const pad = (n: number): string => String(n).padStart(PART_DIGITS, '0');
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The files of one split (or of the whole output, when it is not split): `NAME[-SPLIT].EXT` alone,
 * or `NAME[-SPLIT]-00000-of-0000K.EXT` once a part size is set.
 */
class Family {
  readonly parts: OpenSink[] = [];
  private readonly digests: FileDigest[] = [];
  private readonly temps: string[] = [];
  private current: OpenSink | undefined;
  private rows = 0;
  private bytes = 0;
  /** Rows of the family, for the receipt's count per split. */
  total = 0;
  private readonly partName: RegExp;

  constructor(
    readonly prefix: string,
    /** A split's family owns its single file too (`NAME-train.EXT`); the unsplit output's `NAME.EXT` is never a part. */
    private readonly ownsSingleFile: boolean,
    private readonly context: { folder: string; temp: string; extension: string; target: PartsTarget },
  ) {
    this.partName = new RegExp(`^${escapeRegExp(prefix)}-\\d{${PART_DIGITS},}-of-\\d{${PART_DIGITS},}${escapeRegExp(context.extension)}$`);
  }

  /** The final name of part `n` of `count`. */
  nameOf(n: number, count: number): string {
    const sharded = this.context.target.maxRows !== undefined || this.context.target.maxBytes !== undefined;
    return sharded ? `${this.prefix}-${pad(n)}-of-${pad(count)}${this.context.extension}` : `${this.prefix}${this.context.extension}`;
  }

  /** Older members of this family: a part of any set, and a split's single file. */
  isMember(name: string): boolean {
    return (this.ownsSingleFile && name === `${this.prefix}${this.context.extension}`) || this.partName.test(name);
  }

  /** Writes `lines`, starting a new part where a limit says so. */
  async write(lines: readonly Uint8Array[]): Promise<void> {
    const { maxRows, maxBytes } = this.context.target;
    let chunk: Uint8Array[] = [];
    for (const line of lines) {
      const size = line.length;
      const full = this.rows > 0 && ((maxRows !== undefined && this.rows >= maxRows) || (maxBytes !== undefined && this.bytes + size > maxBytes));
      if (full || this.current === undefined) {
        await this.send(chunk);
        chunk = [];
        await this.nextPart();
      }
      chunk.push(line);
      this.rows++;
      this.bytes += size;
      this.total++;
    }
    await this.send(chunk);
  }

  /** Closes the last part (a family with no rows still gets one, empty); the digests and temps in part order. */
  async finish(): Promise<{ digests: FileDigest[]; temps: string[] }> {
    if (this.current === undefined) await this.nextPart();
    await this.closePart();
    return { digests: this.digests, temps: this.temps };
  }

  private async send(lines: readonly Uint8Array[]): Promise<void> {
    if (lines.length === 0 || this.current === undefined) return;
    if (!this.current.input.write(Buffer.concat(lines))) await drained(this.current.input);
  }

  private async nextPart(): Promise<void> {
    await this.closePart();
    const temp = path.join(this.context.temp, `${this.prefix}.${this.parts.length}`);
    const { target } = this.context;
    this.current = await openSink({ kind: 'direct', path: temp, display: temp, label: target.label, format: target.format });
    this.parts.push(this.current);
    this.temps.push(temp);
    this.rows = 0;
    this.bytes = 0;
  }

  private async closePart(): Promise<void> {
    if (this.current === undefined) return;
    const part = this.current;
    this.current = undefined;
    this.digests.push(...(await part.finish()).digests);
  }
}

/**
 * An output written as a set of files: parts of at most
 * `maxRows` rows or `maxBytes` bytes of JSONL, per split of `--split` when given. Rows arrive as
 * KeyedLine batches; a row's split comes from its sample id alone. Parts are written into one
 * hidden temp folder and only named when the set is complete (their count is in every name), then
 * committed with the run's other outputs in one journal: first every older member of the same
 * families is removed (so two sets never mix), then the new parts are renamed in.
 */
export async function openParts(target: PartsTarget): Promise<OpenSink> {
  const folder = path.dirname(target.path);
  const extension = extensionOf(target.path);
  const base = path.basename(target.path);
  const stem = base.slice(0, base.length - extension.length);
  const temp = tempPathBeside(target.path);
  try {
    await ensureFolder(folder);
    await recoverCommits(folder);
    await removeAbandonedTemps(target.path);
    await mkdir(temp);
  } catch (cause) {
    throw ioError(target.label, cause);
  }
  trackTemp(temp);
  const context = { folder, temp, extension, target };
  const splits = target.splits;
  const families = new Map((splits ?? [{ name: '' }]).map(({ name }) => [name, new Family(name === '' ? stem : `${stem}-${name}`, name !== '', context)]));
  const only = families.get('')!;
  const choose = splits === undefined ? undefined : splitChooser(splits);
  const input = new Writable({
    objectMode: true,
    highWaterMark: 2,
    write: (batch: KeyedLine[], _encoding, callback) => {
      routed(batch).then(() => callback(), (cause: unknown) => callback(ioError(target.label, cause)));
    },
  });
  const routed = async (batch: KeyedLine[]): Promise<void> => {
    if (choose === undefined) return only.write(batch.map((row) => row.line));
    const bySplit = new Map<string, Uint8Array[]>();
    for (const row of batch) {
      const name = choose(row.key);
      let lines = bySplit.get(name);
      if (lines === undefined) bySplit.set(name, (lines = []));
      lines.push(row.line);
    }
    for (const [name, lines] of bySplit) await families.get(name)!.write(lines);
  };
  const abort = async (): Promise<void> => {
    input.destroy();
    for (const family of families.values()) for (const part of family.parts) await part.abort();
    await rm(temp, { recursive: true, force: true });
    untrackTemp(temp);
  };
  return {
    input,
    readerClosed: false,
    get failure() {
      for (const family of families.values()) for (const part of family.parts) if (part.failure !== undefined) return part.failure;
      return undefined;
    },
    finish: async () => {
      if (!input.writableEnded) input.end();
      await new Promise<void>((resolve, reject) => (input.writableFinished ? resolve() : input.once('finish', resolve).once('error', reject)));
      const older = await listFolder(folder).catch((cause: unknown) => {
        throw ioError(target.label, cause);
      });
      const removals: CommitEntry[] = [];
      const renames: CommitEntry[] = [];
      const digests: FileDigest[] = [];
      for (const family of families.values()) {
        const written = await family.finish();
        const names = written.temps.map((_, n) => family.nameOf(n, written.temps.length));
        for (const name of older.filter((name) => family.isMember(name))) {
          const reused = names.indexOf(name);
          removals.push({ kind: 'remove', path: path.join(folder, name), ...(reused === -1 ? {} : { whileExists: written.temps[reused]! }) });
        }
        names.forEach((name, n) => {
          const final = path.join(folder, name);
          renames.push({ kind: 'file', temp: written.temps[n]!, final });
          digests.push({ ...written.digests[n]!, path: path.posix.join(path.posix.dirname(target.display), name) });
        });
      }
      killPoint('parts-before-commit');
      const rowsBySplit = splits === undefined ? undefined : new Map(splits.map(({ name }) => [name, families.get(name)!.total]));
      return { digests, entries: [...removals, ...renames, { kind: 'remove', path: temp }], ...(rowsBySplit === undefined ? {} : { rowsBySplit }) };
    },
    abort,
  };
}

/** Opens any output: a set of parts here, every other kind as a single sink. */
export const openOutput = (target: OutputTarget): Promise<OpenSink> => (target.kind === 'parts' ? openParts(target) : openSink(target));

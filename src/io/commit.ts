import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { exists } from './folders.js';
import path from 'node:path';
import { killPoint } from './kill-point.js';
import { procStatFields } from './proc-stat.js';
import { readOwnJson, writeWhole } from './small-file.js';
import { abandonedTempOf, isRunning, listFolder, removeAbandonedTempsIn, takeLiveTemps, untrackTemp } from './temp-path.js';

/**
 * One step of a commit: a finished file put in place, a rebuilt tree swapped in, or a file (or temp
 * folder) removed — only while `whileExists` still exists, when given: the old file of a name that a
 * later step of the same commit fills again, so rolling a commit forward never removes the new one.
 */
export type CommitEntry =
  | { kind: 'file'; temp: string; final: string }
  | { kind: 'tree'; temp: string; final: string; retired: string }
  | { kind: 'remove'; path: string; whileExists?: string };

interface Journal {
  entries: CommitEntry[];
  /** Every copy of this journal (one per folder the commit touches). */
  copies: string[];
}

const JOURNAL_NAME = /^\.distill-commit\.(\d+)\.[0-9a-f]{8}\.json$/;
/** A journal names each output of one commit: far below this, so a larger file is not one of ours. */
const MAX_JOURNAL_BYTES = 16 << 20;

/** Journals this process is carrying out: what a signal must finish (the temps it must remove are tracked in temp-path.ts). */
const liveJournals = new Set<Journal>();

/** A child process writing into this process's temps. */
export interface TempWriter {
  pid?: number | undefined;
  kill: (signal: NodeJS.Signals) => unknown;
}

/** Child processes writing into this process's temps: stopped, and waited for, before the temps are removed. */
const liveWriters = new Set<TempWriter>();
export const trackWriter = (writer: TempWriter): void => void liveWriters.add(writer);
export const untrackWriter = (writer: TempWriter): void => void liveWriters.delete(writer);

/** How long an exiting process waits for its stopped children to end before removing the temps they wrote in. */
const WRITERS_GRACE_MS = 2000;

/** Whether a child has ended (a zombie has: it only waits to be reaped); where there is no /proc to look in, once a pause has passed. */
function ended(pid: number | undefined, paused: boolean): boolean {
  if (pid === undefined) return true;
  const fields = procStatFields(pid);
  if (fields === undefined) return existsSync('/proc/self/stat') || paused; // gone (and reaped), or no /proc here
  return fields[0] === 'Z';
}

/**
 * Stops the children writing into our temps (SIGTERM: each removes its own temps elsewhere, a sort's
 * spill folder) and waits for them — synchronously, this runs on exit — so none writes into a folder
 * being removed (a recreated folder would outlive the run).
 */
function stopWritersSync(): void {
  const writers = [...liveWriters];
  liveWriters.clear();
  for (const writer of writers) writer.kill('SIGTERM');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < WRITERS_GRACE_MS && !writers.every((writer) => ended(writer.pid, waited > 0)); waited += 10) Atomics.wait(pause, 0, 0, 10);
}

const ignoreMissing = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'ENOENT') throw error; // another process finished this step first
};

/** The temp an entry puts in place (what a signal must no longer remove), or the path it removes. */
const tempOf = (entry: CommitEntry): string => (entry.kind === 'remove' ? entry.path : entry.temp);

/** Carries out one entry; idempotent, so a journal can be rolled forward from any point. */
async function apply(entry: CommitEntry): Promise<void> {
  if (entry.kind === 'remove') {
    if (entry.whileExists === undefined || (await exists(entry.whileExists))) await rm(entry.path, { recursive: true, force: true });
    return;
  }
  if (entry.kind === 'file') {
    if (await exists(entry.temp)) await rename(entry.temp, entry.final).catch(ignoreMissing);
    return;
  }
  if (await exists(entry.temp)) {
    if ((await exists(entry.final)) && !(await exists(entry.retired))) await rename(entry.final, entry.retired).catch(ignoreMissing);
    killPoint('tree-between-renames');
    await rename(entry.temp, entry.final).catch(ignoreMissing);
  }
  await rm(entry.retired, { recursive: true, force: true });
}

function applySync(entry: CommitEntry): void {
  if (entry.kind === 'remove') {
    if (entry.whileExists === undefined || existsSync(entry.whileExists)) rmSync(entry.path, { recursive: true, force: true });
    return;
  }
  if (entry.kind === 'file') {
    if (existsSync(entry.temp)) renameSync(entry.temp, entry.final);
    return;
  }
  if (existsSync(entry.temp)) {
    if (existsSync(entry.final) && !existsSync(entry.retired)) renameSync(entry.final, entry.retired);
    renameSync(entry.temp, entry.final);
  }
  rmSync(entry.retired, { recursive: true, force: true });
}

/**
 * Puts several finished outputs in place as one: the renames are listed in a journal, written whole
 * beside every output first, so a kill at any point leaves either none of them committed (no
 * journal yet) or a journal that the next run writing there — or a signal handler of this one —
 * carries out to the end. One plain file needs no journal: its rename is atomic.
 */
export async function commitTogether(entries: readonly CommitEntry[]): Promise<void> {
  if (entries.length === 1 && entries[0]!.kind === 'file') {
    await rename(entries[0]!.temp, entries[0]!.final);
    untrackTemp(entries[0]!.temp);
    return;
  }
  const name = `.distill-commit.${process.pid}.${randomBytes(4).toString('hex')}.json`;
  const folders = [...new Set(entries.map((entry) => path.dirname(entry.kind === 'remove' ? entry.path : entry.final)))];
  const journal: Journal = { entries: [...entries], copies: folders.map((folder) => path.join(folder, name)) };
  for (const copy of journal.copies) await writeWhole(copy, JSON.stringify(journal));
  liveJournals.add(journal);
  for (const entry of entries) untrackTemp(tempOf(entry));
  for (const [n, entry] of entries.entries()) {
    await apply(entry);
    if (n === 0) killPoint('commit-after-first-step');
  }
  for (const copy of journal.copies) await rm(copy, { force: true });
  liveJournals.delete(journal);
}

/** Finishes the commits that killed processes left half done in `folder` (their journals say what remains). */
export async function recoverCommits(folder: string): Promise<void> {
  for (const name of await listFolder(folder)) {
    // A journal cut short while written: its commit never began (other copies may have, and finish it), and its name is never written again.
    if (JOURNAL_NAME.test(abandonedTempOf(name) ?? '')) {
      await rm(path.join(folder, name), { force: true });
      continue;
    }
    const match = JOURNAL_NAME.exec(name);
    if (match === null || isRunning(Number(match[1]))) continue;
    // A journal is written whole (temp + rename) before it counts: a damaged one never began a commit.
    const journal = (await readOwnJson(path.join(folder, name), MAX_JOURNAL_BYTES)) as Partial<Journal> | undefined;
    if (Array.isArray(journal?.entries) && Array.isArray(journal.copies)) {
      for (const entry of journal.entries) await apply(entry);
      for (const copy of journal.copies) await rm(copy, { force: true });
    }
    await rm(path.join(folder, name), { force: true });
  }
}

/**
 * What killed runs left in a folder that only small files and commits of ours are written in (a
 * run's reports): their commits finished, then every temp of theirs removed, whatever its name.
 */
export async function settleAbandoned(folder: string): Promise<void> {
  await recoverCommits(folder);
  await removeAbandonedTempsIn(folder);
}

/**
 * Puts back a tree that a killed swap left between its two renames (its journal says how), before
 * it is read: a reader never finds it missing. Only journals of processes that are gone are
 * carried out; one that cannot be is left for the next writer, and the read reports what it finds.
 */
export async function recoverTree(folder: string): Promise<void> {
  await recoverCommits(path.dirname(path.resolve(folder))).catch(() => undefined);
}

const SIGNALS: Readonly<Record<string, number>> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/** Finishes any commit under way (its journal is written, so it must complete) and removes every temp this process was writing. */
function settleSync(): void {
  stopWritersSync();
  for (const journal of liveJournals) {
    try {
      for (const entry of journal.entries) applySync(entry);
      for (const copy of journal.copies) rmSync(copy, { force: true });
    } catch {
      // the journal stays on disk: the next run writing there finishes the commit
    }
  }
  liveJournals.clear();
  for (const temp of takeLiveTemps()) {
    try {
      rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a stopped child's last write raced the removal: what is left is a temp no run trusts
    }
  }
}

/**
 * On SIGINT, SIGTERM and SIGHUP: settle (finish a commit under way, remove every temp) and exit
 * 128 + the signal's number. On any other exit — an error, a reader gone (`| head`) — whatever a
 * failed step left tracked (a sort's spill folder, say) is removed the same way.
 */
export function cleanUpOnSignals(): void {
  for (const [signal, number] of Object.entries(SIGNALS)) {
    process.once(signal, () => {
      settleSync();
      process.exit(128 + number);
    });
  }
  process.once('exit', settleSync);
}

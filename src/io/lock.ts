import { link, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DistillError, ioError } from '../errors.js';
import { ROOT_LOCK } from '../layout.js';
import { procStatFields } from './proc-stat.js';
import { readOwnFile, readOwnJson } from './small-file.js';
import { isRunning, removeAbandonedTemps, tempPathBeside } from './temp-path.js';

/** Who holds a lock: written into the lock file, so a second writer can name the holder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's start time in clock ticks since boot (Linux), so a reused pid is not taken for the holder. */
  started: string;
  /** What it is doing, for the message a second writer prints. */
  purpose: string;
  since: string;
}

/** A holder on another host refreshes its lock this often; one not refreshed for STALE_MS is gone. */
const HEARTBEAT_MS = 5_000;
const STALE_MS = 60_000;
const POLL_MS = 100;

/** Field 22 of /proc/<pid>/stat: when the process started, which a reused pid does not share. */
function startTicks(pid: number): string {
  return procStatFields(pid)?.[19] ?? ''; // no /proc (not Linux): liveness rests on the pid alone
}

const SELF: Omit<LockHolder, 'purpose' | 'since'> = { pid: process.pid, host: os.hostname(), started: startTicks(process.pid) };

/** Whether the holder of a lock is gone: a dead (or reused) pid on this host, or a heartbeat that stopped elsewhere. */
async function isStale(file: string, holder: LockHolder | undefined): Promise<boolean> {
  if (holder === undefined) {
    // Unreadable: a holder killed between creating and writing it, or a foreign file. Old enough: stale.
    const info = await stat(file).catch(() => undefined);
    return info === undefined || Date.now() - info.mtimeMs > STALE_MS;
  }
  if (holder.host !== SELF.host) {
    const info = await stat(file).catch(() => undefined);
    return info === undefined || Date.now() - info.mtimeMs > STALE_MS;
  }
  if (!isRunning(holder.pid)) return true;
  return holder.started !== '' && startTicks(holder.pid) !== '' && startTicks(holder.pid) !== holder.started;
}

/** A lock file names one holder in a few hundred bytes. */
const MAX_LOCK_BYTES = 64 << 10;

async function readHolder(file: string): Promise<LockHolder | undefined> {
  const holder = (await readOwnJson(file, MAX_LOCK_BYTES)) as Partial<LockHolder> | undefined;
  return typeof holder?.pid === 'number' && typeof holder.host === 'string' ? (holder as LockHolder) : undefined;
}

export const describeHolder = (holder: LockHolder): string => `pid ${holder.pid} on ${holder.host} (${holder.purpose}, since ${holder.since})`;

/** A held lock; `release` gives it up (once). */
export interface Lock {
  release(): Promise<void>;
}

/**
 * An exclusive lock that a killed holder cannot leave stuck: the lock file appears whole, naming
 * its holder, or not at all; a holder that is gone (a dead pid on this host, a pid reused by another
 * process, or no heartbeat from another host for a minute) is taken over by renaming its file away
 * first, so two takers never both win. With `wait`, a live holder is waited for; without, the
 * attempt fails with a message naming the holder.
 */
export async function acquireLock(file: string, options: { purpose: string; wait: boolean; label?: string }): Promise<Lock> {
  const label = options.label ?? file;
  const holder: LockHolder = { ...SELF, purpose: options.purpose, since: new Date().toISOString() };
  const body = `${JSON.stringify(holder)}\n`;
  for (;;) {
    // The lock appears whole or not at all (written aside, then linked in, which fails if it exists):
    // a holder killed while taking it never leaves an unreadable lock that blocks others for a minute.
    const temp = tempPathBeside(file);
    try {
      await removeAbandonedTemps(file);
      await writeFile(temp, body, { flag: 'wx' });
      await link(temp, file);
      return held(file, body);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(label, error);
    } finally {
      await rm(temp, { force: true });
    }
    const current = await readHolder(file);
    if (await isStale(file, current)) {
      // Whoever renames the stale file away takes over; a loser's rename fails and it retries.
      const aside = path.join(path.dirname(file), `.${path.basename(file)}.stale.${process.pid}`);
      await rename(file, aside).then(
        () => rm(aside, { force: true }),
        () => undefined,
      );
      continue;
    }
    if (!options.wait) {
      throw new DistillError('DS_IO', `${label} is held by ${current === undefined ? 'another process' : describeHolder(current)}; wait for it to finish, or remove the lock if that process is gone`, { path: label });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function held(file: string, body: string): Lock {
  // Another host can only tell we are alive by the lock's mtime.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      const current = (await readOwnFile(file, MAX_LOCK_BYTES))?.toString('utf8');
      if (current === body) await rm(file, { force: true }); // never remove a lock someone took over
    },
  };
}

/** Root locks this process holds, by lock file, with how many callers hold each (run-all runs stages that lock too). */
const rootLocks = new Map<string, { lock: Lock; holders: number }>();

/**
 * Runs `work` holding the root's lock (`<root>/.distill-stream.lock`): one command writing the
 * standard layout at a time. A second one fails at once (exit 3) naming the holder and what it is
 * doing; a killed holder's lock is taken over. Within one process the lock is re-entrant.
 */
export async function withRootLock<R>(root: string, purpose: string, work: () => Promise<R>): Promise<R> {
  const file = path.join(root, ROOT_LOCK);
  let entry = rootLocks.get(file);
  if (entry === undefined) {
    entry = { lock: await acquireLock(file, { purpose, wait: false, label: `--root ${root}: ${ROOT_LOCK}` }), holders: 0 };
    rootLocks.set(file, entry);
  }
  entry.holders++;
  try {
    return await work();
  } finally {
    if (--entry.holders === 0) {
      rootLocks.delete(file);
      await entry.lock.release();
    }
  }
}

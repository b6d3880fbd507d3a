/**
 * Memory and CPU of a process TREE (Linux): a command may run as shard children, so a phase is its
 * root process and every descendant. The parent samples the live tree every ~50 ms from
 * /proc/<pid>/status for the peaks of the tree's summed RssAnon (private memory), RssFile (mapped
 * files: the node binary, and pages of the files a process maps, which the kernel can drop at will)
 * and RssAnon + RssFile + RssShmem taken at one sample. Each process reports its own VmHWM and CPU
 * time at exit through the preloaded exit probe (exit-probe.ts), one file per pid.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProcStatus {
  rssAnonKb: number;
  rssFileKb: number;
  rssShmemKb: number;
  vmHwmKb: number;
}

const FIELDS = { RssAnon: 'rssAnonKb', RssFile: 'rssFileKb', RssShmem: 'rssShmemKb', VmHWM: 'vmHwmKb' } as const;

/** The fields we use of a /proc/<pid>/status text; absent ones (a zombie, a kernel thread) read 0. */
export function parseStatus(text: string): ProcStatus {
  const status: ProcStatus = { rssAnonKb: 0, rssFileKb: 0, rssShmemKb: 0, vmHwmKb: 0 };
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    const field = FIELDS[line.slice(0, colon) as keyof typeof FIELDS];
    if (field !== undefined) status[field] = Number.parseInt(line.slice(colon + 1), 10);
  }
  return status;
}

/** The parent pid in /proc/<pid>/stat: the second field after the command name's closing parenthesis. */
function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2)[1]);
  } catch {
    return undefined; // gone between the listing and the read
  }
}

const isDigit = (code: number): boolean => code >= 48 && code <= 57;

/**
 * Peaks of a process tree while it runs. /proc has no children list on every kernel, so each sample
 * lists /proc and reads the parent of pids it has not seen before only: after the first sample that
 * is one directory listing plus one status read per live tree member (reading every
 * /proc/<pid>/stat at each sample took ~9 ms of the sampler's core with 88 processes on the
 * reference machine).
 */
export class TreeSampler {
  /** Peaks of the sums over the live tree at one sample. */
  peakRssAnonKb = 0;
  peakRssFileKb = 0;
  peakRssKb = 0;
  /** The largest VmHWM sampled per pid: a lower bound, for a process whose exit probe did not report. */
  readonly vmHwmKb = new Map<number, number>();
  /**
   * How many samples saw each pid running node: only node loads the exit probe (a zstd child
   * reports nothing), and a child sampled between fork and exec still shows node once.
   */
  readonly nodeSamples = new Map<number, number>();
  maxProcesses = 0;
  samples = 0;
  private readonly parents = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  /** No sample at once: between fork and exec the child's status still shows the parent's memory. */
  constructor(private readonly root: number, intervalMs = 50) {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The root and every live pid whose parent chain reaches it. */
  private members(): number[] {
    const live = new Set<number>();
    for (const name of readdirSync('/proc')) {
      if (!isDigit(name.charCodeAt(0))) continue;
      const pid = Number(name);
      live.add(pid);
      if (!this.parents.has(pid)) {
        const parent = parentOf(name);
        if (parent !== undefined) this.parents.set(pid, parent);
      }
    }
    for (const pid of this.parents.keys()) if (!live.has(pid)) this.parents.delete(pid); // a reused pid is read afresh
    const tree = new Set([this.root]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, parent] of this.parents) {
        if (!tree.has(pid) && tree.has(parent)) {
          tree.add(pid);
          grew = true;
        }
      }
    }
    return [...tree];
  }

  private sample(): void {
    let anon = 0;
    let file = 0;
    let shmem = 0;
    let counted = 0;
    for (const pid of this.members()) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/status`, 'latin1');
      } catch {
        continue; // exited since the listing; its exit probe has its final numbers
      }
      const status = parseStatus(text);
      if (status.vmHwmKb === 0) continue; // a zombie: its memory is gone
      counted++;
      anon += status.rssAnonKb;
      file += status.rssFileKb;
      shmem += status.rssShmemKb;
      this.vmHwmKb.set(pid, Math.max(this.vmHwmKb.get(pid) ?? 0, status.vmHwmKb));
      if (text.startsWith('Name:\tnode\n')) this.nodeSamples.set(pid, (this.nodeSamples.get(pid) ?? 0) + 1);
      else this.nodeSamples.delete(pid);
    }
    if (counted === 0) return;
    this.samples++;
    this.maxProcesses = Math.max(this.maxProcesses, counted);
    this.peakRssAnonKb = Math.max(this.peakRssAnonKb, anon);
    this.peakRssFileKb = Math.max(this.peakRssFileKb, file);
    this.peakRssKb = Math.max(this.peakRssKb, anon + file + shmem);
  }
}

/** Each process of a phase writes its exit report into the folder this variable names. */
export const EXIT_PROBE_ENV = 'DISTILL_BENCH_EXIT_DIR';

/** The probe module, for `NODE_OPTIONS=--import=<EXIT_PROBE>`. */
export const EXIT_PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'exit-probe.js');

export interface ExitReport {
  pid: number;
  ppid: number;
  argv: string[];
  status: ProcStatus;
  /** CPU time of all the process's threads (getrusage), in seconds. */
  cpuSeconds: number;
}

/** The exit reports in a phase's folder: one per process that exited normally (a signal leaves none). */
export function readExitReports(dir: string): ExitReport[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => {
      const report = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { pid: number; ppid: number; argv: string[]; status: string; userUs: number; systemUs: number };
      return { pid: report.pid, ppid: report.ppid, argv: report.argv, status: parseStatus(report.status), cpuSeconds: (report.userUs + report.systemUs) / 1e6 };
    });
}

/**
 * Memory of a child process from /proc/<pid>/status (Linux). The parent samples it every ~50 ms for
 * the peaks of RssAnon (private memory: heap, buffers) and RssFile (mapped files: the node binary and
 * the LMDB index pages, which the kernel can drop at will, so they are reported apart). The child
 * reports VmHWM and its CPU time itself at exit, through a preloaded probe: a sample taken every
 * 50 ms can miss the end, the child's own exit hook cannot.
 */
import { readFileSync } from 'node:fs';

export interface ProcStatus {
  rssAnonKb: number;
  rssFileKb: number;
  vmHwmKb: number;
}

const FIELDS = { RssAnon: 'rssAnonKb', RssFile: 'rssFileKb', VmHWM: 'vmHwmKb' } as const;

/** The fields we use of a /proc/<pid>/status text; absent ones (a zombie, a kernel thread) read 0. */
export function parseStatus(text: string): ProcStatus {
  const status: ProcStatus = { rssAnonKb: 0, rssFileKb: 0, vmHwmKb: 0 };
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    const field = FIELDS[line.slice(0, colon) as keyof typeof FIELDS];
    if (field !== undefined) status[field] = Number.parseInt(line.slice(colon + 1), 10);
  }
  return status;
}

/** Peaks over the samples taken while the child ran. */
export class MemorySampler {
  peakRssAnonKb = 0;
  peakRssFileKb = 0;
  /** VmHWM at the last sample: a lower bound, used only when the exit probe did not report. */
  lastVmHwmKb = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    let text: string;
    try {
      text = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    } catch {
      return; // the child has just exited; its exit probe has the final numbers
    }
    const status = parseStatus(text);
    this.samples++;
    this.peakRssAnonKb = Math.max(this.peakRssAnonKb, status.rssAnonKb);
    this.peakRssFileKb = Math.max(this.peakRssFileKb, status.rssFileKb);
    this.lastVmHwmKb = Math.max(this.lastVmHwmKb, status.vmHwmKb);
  }
}

/** The child writes its exit report to the file this variable names. */
export const EXIT_PROBE_ENV = 'DISTILL_BENCH_EXIT_FILE';

const PROBE_SOURCE = `
import { readFileSync, writeFileSync } from 'node:fs';
const out = process.env.${EXIT_PROBE_ENV};
if (out) process.on('exit', () => {
  const cpu = process.cpuUsage();
  writeFileSync(out, JSON.stringify({ status: readFileSync('/proc/self/status', 'utf8'), userUs: cpu.user, systemUs: cpu.system }));
});`;

/** `node --import ${EXIT_PROBE} script …`: a data: URL, so the probe needs no file of its own. */
export const EXIT_PROBE = `data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`;

export interface ExitReport {
  status: ProcStatus;
  /** CPU time of all the child's threads (getrusage), in seconds. */
  cpuSeconds: number;
}

export function readExitReport(file: string): ExitReport | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // killed by a signal: no exit hook ran
  }
  const report = JSON.parse(text) as { status: string; userUs: number; systemUs: number };
  return { status: parseStatus(report.status), cpuSeconds: (report.userUs + report.systemUs) / 1e6 };
}

import type { ProgressSink } from '../progress.js';

/** Redraws at most this often: a terminal is not a log. */
const REDRAW_MS = 250;
const MB = 1e6;

export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / MB).toFixed(1)} MB`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * stderr for a run: every message goes through `line`, which first clears the progress line, so a
 * summary never lands glued to it. On a terminal, a progress line names the phase and shows bytes
 * done (of the total with percent and ETA when the total is known), MB/s and rows/s; off when stderr
 * is not a terminal, so logs and pipes stay clean.
 */
export class Terminal implements ProgressSink {
  private label = '';
  private total: number | undefined;
  private done = 0;
  private rowCount = 0;
  private started = 0;
  private lastDraw = Number.NEGATIVE_INFINITY; // the first bytes draw at once
  private drawn = false;

  constructor(private readonly stream: NodeJS.WritableStream & { isTTY?: boolean }) {}

  get isTerminal(): boolean {
    return this.stream.isTTY === true;
  }

  /** A whole message line (a newline is added); clears the progress line first. */
  line(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }

  begin(label: string, totalBytes: number | undefined): void {
    this.label = label;
    this.total = totalBytes;
    this.done = 0;
    this.rowCount = 0;
    this.started = performance.now();
    this.lastDraw = Number.NEGATIVE_INFINITY;
  }

  readonly bytes = (n: number): void => {
    this.done += n;
    this.maybeDraw();
  };

  readonly rows = (n: number): void => {
    this.rowCount += n;
  };

  /** Clears the progress line so the next message takes its place. */
  clear(): void {
    if (!this.drawn) return;
    this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private maybeDraw(): void {
    if (!this.isTerminal) return;
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.stream.write(`\r\x1b[K${this.render(now)}`);
    this.drawn = true;
  }

  /** `[sft] 412.3 MB / 1.0 GB 40% · 121 MB/s · 38,211 rows/s · ETA 5s`. */
  render(now: number): string {
    const seconds = Math.max((now - this.started) / 1000, 1e-3);
    const rate = this.done / seconds;
    const parts = [this.total === undefined ? formatBytes(this.done) : `${formatBytes(this.done)} / ${formatBytes(this.total)} ${Math.min(100, Math.floor((this.done / Math.max(this.total, 1)) * 100))}%`];
    parts.push(`${(rate / MB).toFixed(0)} MB/s`);
    if (this.rowCount > 0) parts.push(`${Math.round(this.rowCount / seconds).toLocaleString('en-US')} rows/s`);
    if (this.total !== undefined && rate > 0 && this.done < this.total) parts.push(`ETA ${formatDuration((this.total - this.done) / rate)}`);
    return `[${this.label}] ${parts.join(' · ')}`;
  }
}

/** Redraws at most this often: a terminal is not a log. */
const REDRAW_MS = 250;

const MB = 1e6;

export function formatBytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / MB).toFixed(1)} MB`;
}

/**
 * A one-line progress display on stderr for a terminal (SPEC §7): bytes read and throughput,
 * redrawn in place. Never used when stderr is not a terminal, so logs and pipes stay clean.
 */
export class ProgressLine {
  private bytes = 0;
  private lastDraw = Number.NEGATIVE_INFINITY; // the first bytes draw at once
  private readonly started = performance.now();

  private constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  /** A progress line for `label`, or undefined when stderr is not a terminal. */
  static forTerminal(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressLine | undefined {
    return stream.isTTY ? new ProgressLine(label, stream) : undefined;
  }

  readonly add = (bytes: number): void => {
    this.bytes += bytes;
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    this.stream.write(`\r\x1b[K[${this.label}] ${formatBytes(this.bytes)} ${(this.bytes / MB / Math.max(seconds, 1e-3)).toFixed(0)} MB/s ${seconds.toFixed(1)}s`);
  };

  /** Clears the line so the summary line takes its place. */
  done(): void {
    this.stream.write('\r\x1b[K');
  }
}

/** What a long phase reports as it goes (a terminal's progress line listens); every call is cheap. */
export interface ProgressSink {
  /** A new phase starts: its name and the bytes it will read, when known. */
  begin(label: string, totalBytes: number | undefined): void;
  /** Raw bytes read since the last call. */
  bytes(n: number): void;
  /** Rows read since the last call. */
  rows(n: number): void;
}

/** Stable error codes: usage and I/O errors are fatal; bad records are never errors, they are quarantined. */
export type DistillErrorCode = 'DS_USAGE' | 'DS_IO' | 'DS_VALIDATION' | 'DS_INTERNAL';

export interface DistillErrorContext {
  path?: string;
  line?: number;
  cause?: unknown;
}

export class DistillError extends Error {
  readonly code: DistillErrorCode;
  readonly path: string | undefined;
  readonly line: number | undefined;

  constructor(code: DistillErrorCode, message: string, context: DistillErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'DistillError';
    this.code = code;
    this.path = context.path;
    this.line = context.line;
  }
}

/** Process exit code for each error class (SPEC §7). */
export const EXIT_CODE: Record<DistillErrorCode, number> = {
  DS_USAGE: 2,
  DS_IO: 3,
  DS_VALIDATION: 1,
  DS_INTERNAL: 1,
};

export const usageError = (message: string): DistillError => new DistillError('DS_USAGE', message);

export const ioError = (path: string, cause: unknown): DistillError => {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new DistillError('DS_IO', `${path}: ${detail}`, { path, cause });
};

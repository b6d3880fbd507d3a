/** Stable error codes: usage and I/O errors are fatal; bad records are never errors, they are quarantined. */
export type DistillErrorCode = 'DS_USAGE' | 'DS_IO' | 'DS_VALIDATION' | 'DS_INTERNAL';

export interface DistillErrorContext {
  /** The path as the user gave it (or as records show it), never a temp file's. */
  path?: string;
  /** The option the path came from (`--out`), when it came from one. */
  option?: string;
  line?: number;
  cause?: unknown;
}

export class DistillError extends Error {
  readonly code: DistillErrorCode;
  readonly path: string | undefined;
  readonly option: string | undefined;
  readonly line: number | undefined;

  constructor(code: DistillErrorCode, message: string, context: DistillErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'DistillError';
    this.code = code;
    this.path = context.path;
    this.option = context.option;
    this.line = context.line;
  }
}

/** Process exit code of each error class (docs/exit-codes.md); 70 is a bug (EX_SOFTWARE). */
export const EXIT_CODE: Record<DistillErrorCode, number> = {
  DS_USAGE: 2,
  DS_IO: 3,
  DS_VALIDATION: 1,
  DS_INTERNAL: 70,
};

export const usageError = (message: string): DistillError => new DistillError('DS_USAGE', message);

/** What an operating-system error means, in words; its own message would name the path it used (a temp file's, say). */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'name too long',
  EBUSY: 'busy',
  EXDEV: 'on another file system',
  EFBIG: 'file too large',
  ENXIO: 'no such device',
};

/** A cause in words for a message: an errno error by its meaning, anything else by its message. */
export function describeCause(cause: unknown): string {
  if (cause instanceof DistillError) return cause.message;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return ERRNO_WORDS[code] ?? code.toLowerCase();
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * An I/O failure on `path` (as the user gave it), naming the option it came from when there is
 * one: `--out exports/sft.jsonl: no space left on device`.
 */
export function ioError(path: string, cause: unknown, option?: string): DistillError {
  if (cause instanceof DistillError && cause.code === 'DS_IO') return cause; // already names its path
  const where = option === undefined ? path : `${option} ${path}`;
  return new DistillError('DS_IO', `${where}: ${describeCause(cause)}`, { path, option, cause });
}

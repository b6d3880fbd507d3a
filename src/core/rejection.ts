import type { QuarantineReason } from '../records.js';

/** A gate's verdict against a row: the quarantine reason and free-text errors. Not an exception. */
export class Rejection {
  constructor(
    readonly reason: QuarantineReason,
    readonly errors: string[],
  ) {}
}

export const reject = (reason: QuarantineReason, ...errors: string[]): Rejection => new Rejection(reason, errors);

// Without the `u` flag \d is ASCII 0-9 only; `$` without `m` is the very end (no trailing newline).
const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with uppercase T/Z, a real (proleptic Gregorian)
 * calendar date and no leap second (docs/records.md). Takes unknown so a non-string is refused rather than
 * coerced (an array holding one timestamp would otherwise match).
 */
export function isIsoTimestamp(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const match = ISO_TIMESTAMP.exec(s);
  if (match === null) return false;
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= (month === 2 && isLeapYear(Number(match[1])) ? 29 : DAYS_IN_MONTH[month - 1]!);
}

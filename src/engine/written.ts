import type { ValidateFunction } from 'ajv';
import { isJsonObject } from '../core/gates.js';
import type { StageName } from '../records.js';
import { describeErrors, validators, type Validators } from '../schemas/validators.js';

/** A promise broken by one written row: what was checked, what the stage promises, what the row holds. */
export interface RowProblem {
  check: string;
  expected: string;
  found: string;
}

/** One written row checked again after the fact: what does not hold (nothing: it holds), and the key its receipt counted it under. */
export interface RowAudit {
  problems: RowProblem[];
  /** by_category's key for a dataset row, by_reason's for a quarantine row; undefined when the receipt counts none. */
  countedAs: string | undefined;
}

/** How an audit (verify) re-checks each parsed row a stage wrote: the row's schema, then the stage's own promises. */
export type WrittenRows = (row: unknown) => RowAudit;

type RowSchema = 'evidenceRecord' | 'scoredRun' | 'sftSample' | 'ragSample' | 'preferenceSample' | 'quarantineRecord';
type RowOf<K extends RowSchema> = Validators[K] extends ValidateFunction<infer T> ? T : never;
/** A written row as its checks see it: any object, fields unchecked, since a row that fails its schema is checked too. */
export type RowFields<T> = { readonly [F in keyof T]?: unknown };

export interface RowChecks<T> {
  /** The key the receipt counted the row under (a string, else not counted). */
  countedAs?: (row: RowFields<T>) => unknown;
  promises?: (row: RowFields<T>) => RowProblem[];
}

/** Re-checks rows of one schema, then `checks` on every row that is an object (so a forbidden category is named even when the schema refuses it too). */
export function writtenRows<K extends RowSchema>(schema: K, checks: RowChecks<RowOf<K>> = {}): WrittenRows {
  return (row) => {
    const validate = validators()[schema] as ValidateFunction;
    const problems: RowProblem[] = validate(row) ? [] : [{ check: 'schema', expected: schemaTitle(validate), found: describeErrors(validate.errors).join('; ') }];
    if (!isJsonObject(row)) return { problems, countedAs: undefined };
    const fields = row as RowFields<RowOf<K>>;
    if (checks.promises !== undefined) problems.push(...checks.promises(fields));
    const key = checks.countedAs?.(fields);
    return { problems, countedAs: typeof key === 'string' ? key : undefined };
  };
}

const schemaTitle = (validate: ValidateFunction): string => String((validate.schema as { title?: unknown }).title);

/** A stage's quarantine rows: QuarantineRecords that name the stage, counted by reason. */
export const quarantineRows = (stage: StageName): WrittenRows =>
  writtenRows('quarantineRecord', {
    countedAs: (row) => row.reason,
    promises: (row) => (row.stage === stage ? [] : [{ check: 'stage', expected: stage, found: JSON.stringify(row.stage) ?? 'none' }]),
  });

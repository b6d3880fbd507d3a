import { createRequire } from 'node:module';
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import { isIsoTimestamp } from '../timestamp.js';
import type { EvidenceRecord, PreferenceSample, QuarantineRecord, RagSample, ScoredRun, SftSample } from '../records.js';
import type { BaselineEntry, DriftReport, RunSummary, StageReceipt } from '../receipts.js';

const loadSchema = createRequire(import.meta.url) as (id: string) => AnySchemaObject;

const SHARED_SCHEMAS = ['provenance', 'output-provenance', 'retrieved-context'];

export interface Validators {
  evidenceRaw: ValidateFunction<Record<string, unknown>>;
  evidenceRecord: ValidateFunction<EvidenceRecord>;
  scoredRun: ValidateFunction<ScoredRun>;
  sftSample: ValidateFunction<SftSample>;
  ragSample: ValidateFunction<RagSample>;
  preferenceSample: ValidateFunction<PreferenceSample>;
  quarantineRecord: ValidateFunction<QuarantineRecord>;
  stageReceipt: ValidateFunction<StageReceipt>;
  /** A StageReceipt that may carry fields a later version adds (a merged sharded run's): what an audit reads. */
  openStageReceipt: ValidateFunction<StageReceipt>;
  runSummary: ValidateFunction<RunSummary>;
  driftReport: ValidateFunction<DriftReport>;
  baselineEntry: ValidateFunction<BaselineEntry>;
}

let compiled: Validators | undefined;

/** All record validators, compiled once per process (never per record). */
export function validators(): Validators {
  compiled ??= compileValidators();
  return compiled;
}

function compileValidators(): Validators {
  const ajv = new Ajv({ allErrors: false, strict: true });
  ajv.addFormat('iso-timestamp', { type: 'string', validate: isIsoTimestamp });
  for (const name of SHARED_SCHEMAS) ajv.addSchema(loadSchema(`./${name}.schema.json`));
  const compile = <T>(name: string): ValidateFunction<T> => ajv.compile<T>(loadSchema(`./${name}.schema.json`));
  const receipt = loadSchema('./stage-receipt.schema.json');
  return {
    evidenceRaw: compile('evidence-raw'),
    evidenceRecord: compile('evidence-record'),
    scoredRun: compile('scored-run'),
    sftSample: compile('sft-sample'),
    ragSample: compile('rag-sample'),
    preferenceSample: compile('preference-sample'),
    quarantineRecord: compile('quarantine-record'),
    stageReceipt: compile('stage-receipt'),
    openStageReceipt: ajv.compile<StageReceipt>({ ...receipt, $id: 'stage-receipt-open.schema.json', additionalProperties: true }),
    runSummary: compile('run-summary'),
    driftReport: compile('drift-report'),
    baselineEntry: compile('baseline-entry'),
  };
}

let rulesCompiled: ValidateFunction | undefined;

/**
 * The rules-file schema, compiled once. Its own ajv instance: a lint lists every problem of a file
 * at once (allErrors) and names the fields an object may have (verbose), and a bound is an integer
 * or a signal reference (a union type).
 */
export function rulesValidator(): ValidateFunction {
  rulesCompiled ??= new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true }).compile(loadSchema('./rules.schema.json'));
  return rulesCompiled;
}

/** Readable one-line messages for a quarantine row's `errors`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  if (!errors || errors.length === 0) return ['does not match its schema'];
  return errors.map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

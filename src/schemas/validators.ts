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

/** All record validators, each compiled once per process (never per record), when first used. */
export function validators(): Validators {
  compiled ??= compileValidators();
  return compiled;
}

/**
 * Each validator is compiled the first time it is read, and kept: a command compiles only the
 * schemas it uses (compiling all twelve took 108 ms of a 0.55 s `sft` run on a small input).
 */
function compileValidators(): Validators {
  // The schemas are ours and checked against the meta-schema by the test suite: compiling the meta-schema took 33 ms a process.
  const ajv = new Ajv({ allErrors: false, strict: true, validateSchema: false });
  ajv.addFormat('iso-timestamp', { type: 'string', validate: isIsoTimestamp });
  for (const name of SHARED_SCHEMAS) ajv.addSchema(loadSchema(`./${name}.schema.json`));
  const schemaOf = (name: string): AnySchemaObject => loadSchema(`./${name}.schema.json`);
  const sources: { [K in keyof Validators]: () => AnySchemaObject } = {
    evidenceRaw: () => schemaOf('evidence-raw'),
    evidenceRecord: () => schemaOf('evidence-record'),
    scoredRun: () => schemaOf('scored-run'),
    sftSample: () => schemaOf('sft-sample'),
    ragSample: () => schemaOf('rag-sample'),
    preferenceSample: () => schemaOf('preference-sample'),
    quarantineRecord: () => schemaOf('quarantine-record'),
    stageReceipt: () => schemaOf('stage-receipt'),
    openStageReceipt: () => ({ ...schemaOf('stage-receipt'), $id: 'stage-receipt-open.schema.json', additionalProperties: true }),
    runSummary: () => schemaOf('run-summary'),
    driftReport: () => schemaOf('drift-report'),
    baselineEntry: () => schemaOf('baseline-entry'),
  };
  const lazy = {} as Validators;
  for (const [name, source] of Object.entries(sources)) {
    Object.defineProperty(lazy, name, {
      enumerable: true,
      configurable: true,
      get: () => {
        const validate = ajv.compile(source());
        Object.defineProperty(lazy, name, { value: validate, enumerable: true });
        return validate;
      },
    });
  }
  return lazy;
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

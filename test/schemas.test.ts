import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv, type AnySchemaObject } from 'ajv';
import { isIsoTimestamp } from '../src/timestamp.js';
import { validators } from '../src/schemas/validators.js';
import { PACKAGE_ROOT } from './helpers.js';

const SCHEMAS = path.join(PACKAGE_ROOT, 'src', 'schemas');

test('every schema the tool ships is valid against the JSON Schema meta-schema and compiles strictly (a run compiles them unchecked)', async () => {
  const names = (await readdir(SCHEMAS)).filter((name) => name.endsWith('.schema.json')).sort();
  assert.ok(names.length >= 17, names.join(', '));
  const schemas = await Promise.all(names.map(async (name) => JSON.parse(await readFile(path.join(SCHEMAS, name), 'utf8')) as AnySchemaObject));
  const ajv = new Ajv({ strict: true, allowUnionTypes: true });
  ajv.addFormat('iso-timestamp', { type: 'string', validate: isIsoTimestamp });
  for (const [n, schema] of schemas.entries()) {
    assert.equal(ajv.validateSchema(schema), true, `${names[n]}: ${ajv.errorsText(ajv.errors)}`);
    ajv.addSchema(schema);
  }
  for (const [n, schema] of schemas.entries()) assert.doesNotThrow(() => ajv.getSchema(schema['$id'] as string), names[n]);
});

test('the record validators compile when first read, once, and judge as compiled up front', () => {
  const all = validators();
  const names = Object.keys(all);
  assert.equal(names.length, 12);
  for (const name of names) {
    const validate = all[name as keyof typeof all];
    assert.equal(typeof validate, 'function', name);
    assert.equal(all[name as keyof typeof all], validate, `${name} is kept, not compiled again`);
    assert.equal(validate({}), false, `${name} refuses an empty object`);
  }
  assert.equal(validators(), all);
});

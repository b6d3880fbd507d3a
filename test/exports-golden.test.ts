/**
 * The dataset exports on the fixture archive, byte for byte against data-fixtures/golden, through the
 * library in-process: sft, rag and preference with their flags and views, and export-all's one pass.
 * One fixture copy and its evidence index serve the whole file, so the tests run one after the other.
 * Each command's CLI wiring is checked once against the same goldens in cli-commands.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runExportAll } from '../pipelines/export-all.js';
import { runPreference, runRag, runSft } from '../pipelines/stage.js';
import type { PreferenceSample, QuarantineRecord, RagSample } from '../src/records.js';
import { fixtureCopy, GOLDEN, readText, removeDir } from './helpers.js';
import { EXPORT_GOLDENS, FIXTURE_MAX_LINE_BYTES, jsonSummary, summaryLine } from './library.js';

const PINNED = { recordedAt: '2026-05-02T00:00:00.000Z', maxLineBytes: FIXTURE_MAX_LINE_BYTES };

const golden = (name: string): Promise<string> => readText(path.join(GOLDEN, name));
const reasons = async (file: string): Promise<string[]> => (await readText(file)).trim().split('\n').map((line) => (JSON.parse(line) as QuarantineRecord).reason);
const isPairRecord = (record: unknown): boolean => typeof record === 'object' && record !== null && 'k' in record && 'chosen_run_id' in record;

describe('the exports on the fixture archive', () => {
  let root = '';
  /** Output and quarantine paths under the fixture copy for a run named `name`. */
  const targets = (name: string): { out: string; quarantine: string } => ({ out: path.join(root, `${name}.jsonl`), quarantine: path.join(root, `${name}-q.jsonl`) });

  before(async () => {
    root = await fixtureCopy();
  });
  after(() => removeDir(root));

  test('sft --root writes the golden dataset and quarantine, byte for byte', async () => {
    const { counts } = await runSft({ root, ...PINNED });
    assert.equal(await readText(path.join(root, 'exports/sft/instruction_response.jsonl')), await golden('sft.jsonl'));
    assert.equal(await readText(path.join(root, 'exports/quarantine/sft.jsonl')), await golden('sft.quarantine.jsonl'));
    assert.match(summaryLine('sft', counts), /\[sft\] read=\d+ exported=\d+ quarantined=\d+ \{.*duplicate_id: 2, /);
  });

  test('sft --include-partial admits partially_accepted runs (golden)', async () => {
    const { out, quarantine } = targets('partial');
    await runSft({ root, includePartial: true, out, quarantine, ...PINNED });
    assert.equal(await readText(out), await golden('sft-include-partial.jsonl'));
  });

  for (const format of ['messages', 'prompt-completion', 'alpaca'] as const) {
    test(`sft --format ${format} writes its golden view with the same quarantine as the spec record`, async () => {
      const { out, quarantine } = targets(format);
      await runSft({ root, includePartial: true, format, out, quarantine, ...PINNED });
      assert.equal(await readText(out), await golden(`sft-${format}.jsonl`));
      assert.equal(await readText(quarantine), await golden('sft-include-partial.quarantine.jsonl'));
    });
  }

  test('two sft runs with pinned recorded_at give the same bytes', async () => {
    const outputs: string[] = [];
    for (const name of ['a', 'b']) {
      const { out, quarantine } = targets(name);
      await runSft({ root, out, quarantine, ...PINNED });
      outputs.push((await readText(out)) + (await readText(quarantine)));
    }
    assert.equal(outputs[0], outputs[1]);
  });

  test('sft reads gzip inputs by their magic bytes, and folders walked in name order', async () => {
    const plain = path.join(root, 'data/scored-runs/2026/05/01/scrum_reviews.jsonl');
    const gz = path.join(root, 'copy.jsonl.gz');
    await writeFile(gz, gzipSync(await readFile(plain)));
    const run = async (name: string, input: string): Promise<string> => {
      const { out, quarantine } = targets(name);
      await runSft({ root, inputs: [input], evidence: path.join(root, 'data/evidence'), out, quarantine, ...PINNED });
      return readText(out);
    };
    const fromPlain = await run('from-plain', plain);
    assert.ok(fromPlain.length > 0);
    assert.equal(await run('from-gz', gz), fromPlain);
    assert.equal(await run('from-folder', path.join(root, 'data/scored-runs')), await golden('sft.jsonl'));
  });

  test('rag --root writes the golden playbooks and quarantine', async () => {
    await runRag({ root, ...PINNED });
    assert.equal(await readText(path.join(root, 'exports/rag/playbooks.jsonl')), await golden('rag.jsonl'));
    assert.equal(await readText(path.join(root, 'exports/quarantine/rag.jsonl')), await golden('rag.quarantine.jsonl'));
    const quarantined = await reasons(path.join(root, 'exports/quarantine/rag.jsonl'));
    for (const reason of ['unsafe_rag_category', 'category_disallowed', 'empty_content', 'hallucinated_file_path', 'evidence_not_found', 'duplicate_id']) {
      assert.ok(quarantined.includes(reason), reason);
    }
    assert.ok(!quarantined.includes('not_instructable'), 'RAG does not check roles');
  });

  test('rag --include-review admits needs_human_review, never rejected', async () => {
    const { out, quarantine } = targets('review');
    await runRag({ root, includeReview: true, out, quarantine, ...PINNED });
    assert.equal(await readText(out), await golden('rag-include-review.jsonl'));
    const rows = (await readText(out)).trim().split('\n').map((line) => JSON.parse(line) as RagSample);
    assert.ok(rows.some((row) => row.success_score === 'needs_human_review'));
    assert.ok(rows.every((row) => (row.success_score as string) !== 'rejected'));
    assert.ok(!(await reasons(quarantine)).includes('category_disallowed'));
  });

  test('preference --root writes the golden pairs and quarantine; counts add up with unpaired', async () => {
    const { counts } = await runPreference({ root, ...PINNED });
    const pairs = await readText(path.join(root, 'exports/preference/chosen_rejected.jsonl'));
    assert.equal(pairs, await golden('preference.jsonl'));
    const quarantine = await readText(path.join(root, 'exports/quarantine/preference.jsonl'));
    assert.equal(quarantine, await golden('preference.quarantine.jsonl'));
    const summary = jsonSummary('preference', counts) as ReturnType<typeof jsonSummary> & { unpaired: number; quarantined_pairs: number };
    const rows = quarantine.trim().split('\n').map((line) => JSON.parse(line) as QuarantineRecord);
    const pairRows = rows.filter((row) => isPairRecord(row.source_record));
    assert.equal(summary.quarantined_pairs, pairRows.length);
    assert.equal(summary.quarantined, rows.length - pairRows.length);
    // in = quarantined_rows + valid_rows; valid_rows = rows_in_pairs + unpaired
    const written = pairs.trim().split('\n').map((line) => JSON.parse(line) as PreferenceSample);
    assert.equal(summary.exported, written.length);
    const validRows = summary.read - summary.quarantined;
    assert.ok(summary.unpaired > 0 && summary.unpaired < validRows);
    // row-level quarantine rows come first, then pair rows in output order
    const firstPair = rows.findIndex((row) => isPairRecord(row.source_record));
    assert.ok(rows.slice(firstPair).every((row) => isPairRecord(row.source_record)));
    for (const reason of ['self_pairing', 'evidence_not_found', 'invalid_preference_pairing', 'duplicate_id']) {
      assert.ok(pairRows.some((row) => row.reason === reason), reason);
    }
    // output ordered by task_id, then k; never a self-pair or equal texts
    const tasks = written.map((pair) => pair.task_id);
    assert.deepEqual(tasks, [...tasks].sort());
    assert.ok(written.every((pair) => pair.chosen_run_id !== pair.rejected_run_id && pair.chosen !== pair.rejected));
  });

  for (const format of ['dpo', 'openai-dpo'] as const) {
    test(`preference --format ${format} writes its golden view`, async () => {
      const { out, quarantine } = targets(format);
      await runPreference({ root, format, out, quarantine, ...PINNED });
      assert.equal(await readText(out), await golden(`preference-${format}.jsonl`));
      assert.equal(await readText(quarantine), await golden('preference.quarantine.jsonl'));
    });
  }

  test('export-all: one pass writes exactly what sft, rag and preference write alone', async () => {
    await rm(path.join(root, 'exports'), { recursive: true }); // the tests above wrote the same paths
    const { counts } = await runExportAll({ root, ...PINNED });
    assert.deepEqual([...counts.keys()], ['sft', 'rag', 'preference']);
    for (const [file, name] of EXPORT_GOLDENS) assert.equal(await readText(path.join(root, file)), await golden(name), file);
  });
});

test('sft --dry-run counts but writes nothing', async () => {
  const dry = await fixtureCopy();
  try {
    const { counts } = await runSft({ root: dry, dryRun: true, ...PINNED });
    const summary = jsonSummary('sft', counts);
    assert.ok(summary.exported > 0 && summary.quarantined > 0);
    assert.equal(summary.read, summary.exported + summary.quarantined);
    assert.equal(existsSync(path.join(dry, 'exports')), false);
  } finally {
    await removeDir(dry);
  }
});

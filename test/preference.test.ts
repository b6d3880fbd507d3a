import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IdSet } from '../src/core/id-set.js';
import { ExternalSorter } from '../src/io/external-sort.js';
import type { PreferenceSample, QuarantineRecord } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';
import { comparePreferenceRows, MAX_PAIRS_PER_TASK, pairTask, type PreferenceRow } from '../src/stages/preference.js';
import { evidence, fixtureCopy, GOLDEN, readText, removeDir, runCli } from './helpers.js';

const PINNED = ['--recorded-at', '2026-05-02T00:00:00.000Z', '--max-line-bytes', '65536'];

describe('preference on the fixture archive', () => {
  let root: string;
  before(async () => {
    root = await fixtureCopy();
  });
  after(() => removeDir(root));

  test('--root writes the golden pairs and quarantine; counts add up with unpaired', async () => {
    const result = await runCli(['preference', '--root', root, '--json', ...PINNED]);
    assert.equal(result.code, 0, result.stderr);
    const pairs = await readText(path.join(root, 'exports/preference/chosen_rejected.jsonl'));
    assert.equal(pairs, await readText(path.join(GOLDEN, 'preference.jsonl')));
    const quarantine = await readText(path.join(root, 'exports/quarantine/preference.jsonl'));
    assert.equal(quarantine, await readText(path.join(GOLDEN, 'preference.quarantine.jsonl')));
    const summary = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { read: number; exported: number; quarantined: number; unpaired: number; quarantined_pairs: number };
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

  for (const format of ['dpo', 'openai-dpo']) {
    test(`--format ${format} writes its golden view`, async () => {
      const out = path.join(root, `${format}.jsonl`);
      const quarantine = path.join(root, `${format}-q.jsonl`);
      const result = await runCli(['preference', '--root', root, '--format', format, '--out', out, '--quarantine', quarantine, ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await readText(out), await readText(path.join(GOLDEN, `preference-${format}.jsonl`)));
      assert.equal(await readText(quarantine), await readText(path.join(GOLDEN, 'preference.quarantine.jsonl')));
    });
  }
});

const isPairRecord = (record: unknown): boolean => typeof record === 'object' && record !== null && 'k' in record && 'chosen_run_id' in record;

function row(runId: string, category: PreferenceRow['category'], seq: number, task = 't'): PreferenceRow {
  const rank = { accepted: 0, rejected: 1, partially_accepted: 2, needs_human_review: 3 }[category];
  return { task_id: task, rank, evidence_run_id: runId, seq, category, location: { source_file: 'x', line_offset: seq }, provenance: { source_file: 'k', line_offset: 0, sig_hash: 'c'.repeat(64) } };
}

const context = (texts: Record<string, string>) => ({
  lookup: (id: string) => (id in texts ? evidence({ text: texts[id]! }) : undefined),
  validate: validators().preferenceSample,
  written: new IdSet(),
  recordedAt: '2026-05-02T00:00:00.000Z',
  format: 'spec' as const,
});

describe('pairing one task', () => {
  test(`cycles the accepted list and stops after ${MAX_PAIRS_PER_TASK} written pairs; quarantined pairs do not count`, () => {
    const accepted = [row('a1', 'accepted', 0), row('a2', 'accepted', 1)];
    const rejections = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'].map((id, n) => row(id, 'rejected', 10 + n));
    const texts = Object.fromEntries(['a1', 'a2', 'r1', 'r3', 'r4', 'r5', 'r6', 'r7'].map((id) => [id, `text ${id}`]));
    const outcomes = [...pairTask(accepted, rejections, context(texts))];
    assert.deepEqual(
      outcomes.map((o) => (o.kind === 'written' ? `${o.chosen.evidence_run_id}>${o.rejected.evidence_run_id}` : `x:${o.rejection.reason}:${o.record.k}`)),
      ['a1>r1', 'x:evidence_not_found:1', 'a1>r3', 'a2>r4', 'a1>r5', 'a2>r6'],
    );
  });

  test('no accepted rows → no candidate pairs at all', () => {
    assert.deepEqual([...pairTask([], [row('r1', 'rejected', 0)], context({ r1: 'x' }))], []);
  });

  test('checks run in SPEC order: self-pairing before evidence, evidence before equal texts', () => {
    const [selfPair] = [...pairTask([row('same', 'accepted', 0)], [row('same', 'rejected', 1)], context({}))];
    assert.equal(selfPair?.kind === 'quarantined' && selfPair.rejection.reason, 'self_pairing');
    const [equal] = [...pairTask([row('a', 'accepted', 0)], [row('b', 'rejected', 1)], context({ a: 'same', b: 'same' }))];
    assert.equal(equal?.kind === 'quarantined' && equal.rejection.reason, 'invalid_preference_pairing');
  });
});

describe('the external sort behind task grouping', () => {
  test('spilling to many runs gives the same order as sorting in memory, ties kept in input order', async () => {
    const rows: PreferenceRow[] = [];
    for (let n = 0; n < 5000; n++) {
      const category = (['accepted', 'rejected', 'partially_accepted'] as const)[n % 3]!;
      rows.push(row(`run-${(n * 7919) % 211}`, category, n, `task-${String.fromCodePoint(0x61 + (n % 5))}${n % 3 === 0 ? '\u{1f600}' : '\uffff'}`));
    }
    const inMemory = [...rows].sort(comparePreferenceRows);
    const sorter = new ExternalSorter<PreferenceRow>(comparePreferenceRows, 333);
    for (const entry of rows) await sorter.add(entry);
    const spilled: PreferenceRow[] = [];
    for await (const entry of sorter.sorted()) spilled.push(entry);
    assert.deepEqual(spilled, inMemory);
    // JS string order (UTF-16 code units): an astral character sorts before U+FFFF
    assert.ok(spilled.findIndex((r) => r.task_id === 'task-a\u{1f600}') < spilled.findIndex((r) => r.task_id === 'task-a\uffff'));
  });
});

describe('export-all', () => {
  test('one pass writes exactly what sft, rag and preference write alone', async () => {
    const root = await fixtureCopy();
    try {
      const result = await runCli(['export-all', '--root', root, ...PINNED]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /\[sft\] read=\d+[\s\S]*\[rag\] read=\d+[\s\S]*\[preference\] read=\d+/);
      const written: Array<[string, string]> = [
        ['exports/sft/instruction_response.jsonl', 'sft.jsonl'],
        ['exports/quarantine/sft.jsonl', 'sft.quarantine.jsonl'],
        ['exports/rag/playbooks.jsonl', 'rag.jsonl'],
        ['exports/quarantine/rag.jsonl', 'rag.quarantine.jsonl'],
        ['exports/preference/chosen_rejected.jsonl', 'preference.jsonl'],
        ['exports/quarantine/preference.jsonl', 'preference.quarantine.jsonl'],
      ];
      for (const [file, golden] of written) assert.equal(await readText(path.join(root, file)), await readText(path.join(GOLDEN, golden)), file);
    } finally {
      await removeDir(root);
    }
  });
});

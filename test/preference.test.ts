import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdSet } from '../src/core/id-set.js';
import { ExternalSorter } from '../src/io/external-sort.js';
import { validators } from '../src/schemas/validators.js';
import { comparePreferenceRows, MAX_PAIRS_PER_TASK, pairTask, type PreferenceRow } from '../src/stages/preference.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { builtinRuleset } from '../src/core/ruleset.js';
import { runPairs } from '../src/engine/run.js';
import type { PairStage } from '../src/engine/stage.js';
import { resolveInputs } from '../src/io/inputs.js';
import { stageNamed } from '../src/stages/registry.js';
import { evidence, FIXTURE_ARCHIVE, inFolder, tempDir } from './helpers.js';

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

  test('asks for each accepted row’s evidence once per task, missing evidence included, with the same outcomes', () => {
    const accepted = [row('a1', 'accepted', 0), row('gone', 'accepted', 1)];
    const rejections = ['r1', 'r2', 'r3', 'r4', 'r5'].map((id, n) => row(id, 'rejected', 10 + n));
    const asked = new Map<string, number>();
    const plain = context(Object.fromEntries(['a1', 'r1', 'r2', 'r3', 'r4', 'r5'].map((id) => [id, `text ${id}`])));
    const counting = { ...plain, written: new IdSet(), lookup: (id: string) => (asked.set(id, (asked.get(id) ?? 0) + 1), plain.lookup(id)) };
    const outcomes = [...pairTask(accepted, rejections, counting)];
    assert.deepEqual(
      outcomes.map((o) => (o.kind === 'written' ? `${o.chosen.evidence_run_id}>${o.rejected.evidence_run_id}` : `x:${o.rejection.reason}:${o.record.k}`)),
      ['a1>r1', 'x:evidence_not_found:1', 'a1>r3', 'x:evidence_not_found:3', 'a1>r5'],
    );
    assert.deepEqual(Object.fromEntries(asked), { a1: 1, gone: 1, r1: 1, r3: 1, r5: 1 });
  });

  test('no accepted rows → no candidate pairs at all', () => {
    assert.deepEqual([...pairTask([], [row('r1', 'rejected', 0)], context({ r1: 'x' }))], []);
  });

  test('checks run in the documented order: self-pairing before evidence, evidence before equal texts', () => {
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

describe('a preference run stopped after its read', () => {
  test('aborted while its rows are sorted and paired (another local shard failed), it fails with the abort and commits nothing', () =>
    inFolder(tempDir, async (folder) => {
      const preference = stageNamed('preference') as PairStage;
      const stop = new AbortController();
      // The read is over when the rows are first asked for in order (or, in a shard, as sorted runs): the abort lands after the read.
      const stage: PairStage = {
        ...preference,
        pairer: (context) => {
          const pairer = preference.pairer(context);
          const [sorted, runs] = [pairer.sorted.bind(pairer), pairer.runs.bind(pairer)];
          return Object.assign(Object.create(pairer) as typeof pairer, {
            sorted: async function* () {
              stop.abort();
              yield* sorted();
            },
            runs: () => {
              stop.abort();
              return runs();
            },
          });
        },
      };
      const target = (name: string) => ({ kind: 'file' as const, path: path.join(folder, name), display: name, label: name });
      for (const passOneOnly of [true, false]) {
        const run = {
          flags: {},
          recordedAt: '2026-05-02T00:00:00.000Z',
          ruleset: builtinRuleset(),
          maxLineBytes: 1 << 20,
          view: 'spec',
          inputs: resolveInputs([path.join(FIXTURE_ARCHIVE, 'data/scored-runs')], FIXTURE_ARCHIVE),
          passOneOnly,
          signal: stop.signal,
        };
        await assert.rejects(runPairs(stage, run, { output: target('out.jsonl'), quarantine: target('q.jsonl') }, () => evidence({ text: 'x' })), (error: Error) => error.name === 'AbortError');
      }
      assert.deepEqual(await readdir(folder), []);
    }));
});

import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { buildIndex } from '../pipelines/evidence.js';
import { notesJson, notesLines, stageNotes } from '../pipelines/hints.js';
import { DistillError } from '../src/errors.js';
import { runRag, runScore, runSft } from '../pipelines/stage.js';
import { runExportAll } from '../pipelines/export-all.js';
import { StageCounts } from '../src/engine/counts.js';
import { inFolder, PACKAGE_ROOT, runCli, tempDir } from './helpers.js';
import { runAllOn, scrumRow, summaryLine, writeEvidence } from './library.js';

const RECORDED_AT = '2026-06-02T00:00:00.000Z';
const RULES_FIXTURE = path.join(PACKAGE_ROOT, 'data-fixtures', 'rules');
const lines = (rows: readonly unknown[]): string => rows.map((row) => `${JSON.stringify(row)}\n`).join('');

/** A folder with evidence.jsonl (three scrum_reviews runs) and scored.jsonl (their scored runs). */
async function withRuns(body: (dir: string, files: { evidence: string; scored: string; raw: string }) => Promise<void>): Promise<void> {
  await inFolder(tempDir, async (dir) => {
    const evidence = path.join(dir, 'evidence.jsonl');
    const raw = [scrumRow({ run_id: 'r1' }), scrumRow({ run_id: 'r2' }), scrumRow({ run_id: 'r3' })];
    const scored = await writeEvidence(evidence, raw);
    await writeFile(path.join(dir, 'scored.jsonl'), lines(scored));
    await writeFile(path.join(dir, 'raw.jsonl'), lines(raw));
    await body(dir, { evidence, scored: path.join(dir, 'scored.jsonl'), raw: path.join(dir, 'raw.jsonl') });
  });
}

/** sft on `input` as a filter with the folder's evidence, its dataset and quarantine in the folder. */
const sftOn = (dir: string, input: string, evidence = 'evidence.jsonl') =>
  runSft({ cwd: dir, inputs: [input], evidence, out: 'sft.jsonl', quarantine: 'sft.q.jsonl', recordedAt: RECORDED_AT });

describe('no scoring rule: one line per source', () => {
  test("run-all on a source with no rule says so after score, in text and in the JSON summary", async () => {
    await inFolder(tempDir, async (root) => {
      await mkdir(path.join(root, 'data/_kb'), { recursive: true });
      await copyFile(path.join(RULES_FIXTURE, 'my_agent.jsonl'), path.join(root, 'data/_kb/my_agent.jsonl'));
      const result = await runAllOn(root, 'plain', RECORDED_AT, { maxLineBytes: undefined });
      const score = result.stages.find((record) => record.stage.name === 'score')!;
      assert.deepEqual(score.notes.unruled, [{ source: 'my_agent', rows: 8 }]);
      assert.deepEqual(notesLines('score', score.notes), ['[score] my_agent: 8 rows, no scoring rule: all needs_human_review — see docs/rules.md']);
      assert.deepEqual(notesJson(score.notes).unruled_sources, { my_agent: 8 });
      // With the user's rules the source has one: nothing to say.
      const ruled = await runAllOn(root, 'ruled', RECORDED_AT, { maxLineBytes: undefined, rules: path.join(RULES_FIXTURE, 'my-rules.json') });
      assert.deepEqual(ruled.stages.find((record) => record.stage.name === 'score')!.notes.unruled, []);
    });
  });

  test('the built-in sources have rules; a score of rows from two unruled sources lists both, in name order', async () => {
    await withRuns(async (dir, { evidence }) => {
      assert.deepEqual((await runScore({ cwd: dir, inputs: [evidence], out: 'scored2.jsonl', recordedAt: RECORDED_AT })).notes.unruled, []);
      const other = (source: string, id: string) => ({ schema_version: 1, run_id: id, task_id: 't', model_role: '', text: '', created_at: '2026-05-01T00:00:00Z', provenance: { source_file: `data/_kb/${source}.jsonl`, line_offset: 0, sig_hash: 'a'.repeat(64), recorded_at: RECORDED_AT } });
      await writeFile(path.join(dir, 'mixed.jsonl'), lines([other('zeta', 'z1'), other('alpha', 'a1'), other('zeta', 'z2')]));
      const { notes } = await runScore({ cwd: dir, inputs: ['mixed.jsonl'], out: 'scored3.jsonl', recordedAt: RECORDED_AT });
      assert.deepEqual(notes.unruled, [{ source: 'alpha', rows: 1 }, { source: 'zeta', rows: 2 }]);
    });
  });
});

describe('hints: what the input looks like and what to run instead', () => {
  test('evidence rows given as scored runs: score them first', async () => {
    await withRuns(async (dir, { evidence }) => {
      const { counts, notes } = await sftOn(dir, evidence);
      assert.equal(counts.out, 0);
      assert.equal(notes.hints.length, 1);
      assert.match(notes.hints[0]!, /look like evidence rows .*evidence\.jsonl line 1.*sft reads scored runs: score them first/);
      assert.match(summaryLine('sft', counts, { notes }), /\n\[sft\] hint: the rows look like evidence rows/);
      assert.deepEqual(JSON.parse(summaryLine('sft', counts, { json: true, notes })).hints, notes.hints);
    });
  });

  test('raw _kb logs given to sft and rag: collect and score them first; given to score: collect them first', async () => {
    await withRuns(async (dir, { raw }) => {
      assert.match((await sftOn(dir, raw)).notes.hints[0]!, /raw _kb log rows .*collect and score them first/);
      const rag = await runRag({ cwd: dir, inputs: [raw], evidence: 'evidence.jsonl', out: 'rag.jsonl', quarantine: 'rag.q.jsonl', recordedAt: RECORDED_AT });
      assert.match(rag.notes.hints[0]!, /raw _kb log rows .*rag reads scored runs: collect and score/);
      const score = await runScore({ cwd: dir, inputs: [raw], out: 's.jsonl', quarantine: 's.q.jsonl', recordedAt: RECORDED_AT });
      assert.match(score.notes.hints[0]!, /raw _kb log rows .*score reads evidence rows: collect them first/);
    });
  });

  test('a .jsonl file holding a JSON array, on one line or pretty-printed; a pretty-printed object', async () => {
    await withRuns(async (dir, { scored }) => {
      const runs = readFile(scored, 'utf8').then((text) => text.trim().split('\n').map((line) => JSON.parse(line) as unknown));
      await writeFile(path.join(dir, 'one-line.jsonl'), `${JSON.stringify(await runs)}\n`);
      await writeFile(path.join(dir, 'pretty.jsonl'), `${JSON.stringify(await runs, null, 2)}\n`);
      await writeFile(path.join(dir, 'object.jsonl'), `${JSON.stringify((await runs)[0], null, 2)}\n`);
      assert.match((await sftOn(dir, 'one-line.jsonl')).notes.hints[0]!, /one-line\.jsonl line 1 is a JSON array on one line.*jq -c '\.\[\]'/);
      assert.match((await sftOn(dir, 'pretty.jsonl')).notes.hints[0]!, /pretty\.jsonl line 1 starts a JSON array.*name the file \*\.json/);
      assert.match((await sftOn(dir, 'object.jsonl')).notes.hints[0]!, /object\.jsonl line 1 looks like pretty-printed JSON.*jq -c \./);
      // Named *.json, the same array is read as rows: no hint, a dataset.
      await writeFile(path.join(dir, 'runs.json'), JSON.stringify(await runs, null, 2));
      const asArray = await sftOn(dir, 'runs.json');
      assert.equal(asArray.counts.out, 3);
      assert.deepEqual(asArray.notes.hints, []);
    });
  });

  test('a UTF-8 byte-order mark on the first line is named even when the other rows export', async () => {
    await withRuns(async (dir, { scored }) => {
      await writeFile(path.join(dir, 'bom.jsonl'), Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), await readFile(scored)]));
      const { counts, notes } = await sftOn(dir, 'bom.jsonl');
      assert.equal(counts.out, 2);
      assert.match(notes.hints[0]!, /bom\.jsonl line 1 starts with a UTF-8 byte-order mark/);
    });
  });

  test('export-all gives each export its hint', async () => {
    await withRuns(async (dir, { evidence }) => {
      await mkdir(path.join(dir, 'data/scored-runs'), { recursive: true });
      const { notes } = await runExportAll({ cwd: dir, root: dir, inputs: [evidence], evidence: 'evidence.jsonl', recordedAt: RECORDED_AT });
      for (const stage of ['sft', 'rag', 'preference']) assert.match(notes.get(stage)!.hints[0] ?? '', /look like evidence rows/, stage);
    });
  });

  test('an empty stdin says so (as under cron); an empty layout folder says what to run first', () => {
    const empty = new StageCounts();
    assert.match(stageNotes(empty, { stage: 'sft', reads: 'scored-runs', readStdin: true }).hints[0]!, /^read nothing from stdin: .*cron.*--root DIR to read data\/scored-runs/);
    assert.match(stageNotes(empty, { stage: 'sft', reads: 'scored-runs', readStdin: false }).hints[0]!, /^read nothing: no scored runs: run distill-stream score --root DIR first/);
    assert.match(stageNotes(empty, { stage: 'score', reads: 'evidence', readStdin: false }).hints[0]!, /collect --root DIR first/);
  });

  test('an empty stdin through the command line: the hint is on stderr and in the JSON summary', async () => {
    await withRuns(async (dir) => {
      const text = await runCli(['sft', '--evidence', 'evidence.jsonl', '--recorded-at', RECORDED_AT], { cwd: dir, stdin: '' });
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stderr, /\[sft\] read=0 exported=0 quarantined=0 \{\}\n\[sft\] hint: read nothing from stdin/);
      const json = await runCli(['sft', '--evidence', 'evidence.jsonl', '--json'], { cwd: dir, stdin: '' });
      assert.match((JSON.parse(json.stderr.trim().split('\n').at(-1)!) as { hints: string[] }).hints[0]!, /^read nothing from stdin/);
    });
  });

  test('good input, a few bad rows: no hint', async () => {
    await withRuns(async (dir, { scored }) => {
      const text = (await readFile(scored, 'utf8')) + 'not json\n';
      await writeFile(path.join(dir, 'mostly.jsonl'), text);
      const { counts, notes } = await sftOn(dir, 'mostly.jsonl');
      assert.equal(counts.out, 3);
      assert.deepEqual(notes, { unruled: [], hints: [] });
    });
  });
});

describe('a wrong --evidence is refused before any index is built', () => {
  const refused = (pattern: RegExp) => (error: unknown): boolean => error instanceof DistillError && error.code === 'DS_USAGE' && pattern.test(error.message);

  test('a folder of scored runs: a usage error naming what it holds, and no index folder left in it', async () => {
    await withRuns(async (dir, { scored }) => {
      await mkdir(path.join(dir, 'runs'));
      await copyFile(scored, path.join(dir, 'runs/scored.jsonl'));
      await assert.rejects(sftOn(dir, scored, 'runs'), refused(/^--evidence runs is not evidence: runs\/scored\.jsonl line 1 holds scored runs/));
      await assert.rejects(buildIndex({ evidence: path.join(dir, 'runs'), root: dir, maxLineBytes: 1 << 20 }), refused(/holds scored runs/));
      await assert.rejects(runExportAll({ cwd: dir, root: dir, inputs: [scored], evidence: 'runs', recordedAt: RECORDED_AT }), refused(/holds scored runs/));
      assert.deepEqual(await readdir(path.join(dir, 'runs')), ['scored.jsonl']);
      assert.deepEqual((await readdir(dir)).filter((name) => name.includes('distill-index')), []);
    });
  });

  test('raw logs, a JSON array, a dataset: refused; blank lines first are skipped; real evidence is taken', async () => {
    await withRuns(async (dir, { scored, raw, evidence }) => {
      await assert.rejects(sftOn(dir, scored, 'raw.jsonl'), refused(/raw\.jsonl line 1 holds raw _kb log rows/));
      await writeFile(path.join(dir, 'array.jsonl'), `[${(await readFile(evidence, 'utf8')).trim().split('\n').join(',')}]\n`);
      await assert.rejects(sftOn(dir, scored, 'array.jsonl'), refused(/array\.jsonl line 1 holds a JSON array/));
      await writeFile(path.join(dir, 'spaced.jsonl'), `\n  \n${await readFile(raw, 'utf8')}`);
      await assert.rejects(sftOn(dir, scored, 'spaced.jsonl'), refused(/spaced\.jsonl line 3 holds raw _kb log rows/));
      assert.equal((await sftOn(dir, scored)).counts.out, 3);
      await copyFile(path.join(dir, 'sft.jsonl'), path.join(dir, 'dataset.jsonl'));
      await assert.rejects(sftOn(dir, scored, 'dataset.jsonl'), refused(/dataset\.jsonl line 1 holds rows of an exported dataset/));
      assert.deepEqual((await readdir(dir)).filter((name) => name.includes('distill-index')).sort(), ['.evidence.jsonl.distill-index']);
    });
  });
});

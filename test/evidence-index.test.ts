import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EvidenceIndex } from '../src/io/evidence-index.js';
import { removeDir, tempDir } from './helpers.js';

const SIG = 'a'.repeat(64);

function evidenceLine(runId: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    schema_version: 1,
    run_id: runId,
    task_id: 'task',
    model_role: 'executor',
    text: `text of ${runId}`,
    created_at: '2026-05-01T00:00:00Z',
    provenance: { source_file: 'data/_kb/audits.jsonl', line_offset: 0, sig_hash: SIG, recorded_at: '2026-05-01T00:00:00Z' },
    ...overrides,
  });
}

async function withEvidence(files: Record<string, string[]>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    for (const [name, lines] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), lines.join('\n'));
    }
    await body(dir);
  } finally {
    await removeDir(dir);
  }
}

const open = (dir: string) => EvidenceIndex.open(dir, { root: dir, maxLineBytes: 1 << 20 });

test('joins by run_id; first row in walk order wins; bad rows are counted, never joinable', async () => {
  await withEvidence(
    {
      'b/2.jsonl': [evidenceLine('dup', { text: 'second' }), evidenceLine('only-b')],
      'a/1.jsonl': [evidenceLine('dup', { text: 'first' }), '{broken', evidenceLine('bad', { created_at: 'yesterday' }), '', evidenceLine('dup', { text: 'again' })],
    },
    async (dir) => {
      const { index, report } = await open(dir);
      try {
        assert.equal(index.get('dup')?.text, 'first');
        assert.equal(index.get('only-b')?.text, 'text of only-b');
        assert.equal(index.get('bad'), undefined);
        assert.equal(index.get('nobody'), undefined);
        assert.deepEqual({ files: report.files, rows: report.rows, unjoinable: report.unjoinable }, { files: 2, rows: 6, unjoinable: 2 });
      } finally {
        await index.close();
      }
    },
  );
});

test('projects the fields exports need, with empty defaults', async () => {
  const full = evidenceLine('full', {
    model_name: 'm',
    source_files: ['a.ts', 'b.ts'],
    retrieved_context: { matrix_corpora: ['x'], pathway_fingerprints_seen: 2, other: 1 },
    metadata: { contractor: 'Acme' },
    provenance: { source_file: 'data/_kb/contract_analyses.jsonl', line_offset: 7, sig_hash: SIG, recorded_at: '2026-05-01T00:00:00Z' },
  });
  const inherited = evidenceLine('inherited', { metadata: { other: 1 } });
  await withEvidence({ 'e.jsonl': [full, inherited, evidenceLine('bare')] }, async (dir) => {
    const { index } = await open(dir);
    try {
      const e = index.get('full')!;
      assert.deepEqual(
        [e.task_id, e.model_role, e.model_name, e.source_files, e.matrix_corpora, e.pathway_fingerprints_seen, e.contractor, e.source_file],
        ['task', 'executor', 'm', ['a.ts', 'b.ts'], ['x'], 2, 'Acme', 'data/_kb/contract_analyses.jsonl'],
      );
      const bare = index.get('bare')!;
      assert.deepEqual([bare.model_name, bare.source_files, bare.matrix_corpora, bare.pathway_fingerprints_seen, bare.contractor], ['', [], [], 0, '']);
      assert.equal(index.get('inherited')!.contractor, '');
    } finally {
      await index.close();
    }
  });
});

test('texts and run ids survive the store exactly: non-ASCII, escapes, U+2028, lone surrogates', async () => {
  const texts = ['plain', 'é中😀', 'quote " backslash \\ tab \t newline \n', '\u2028\u2029', 'lone \ud800 high', 'lone \udfff low', '\u0000\u001f\u007f', ''];
  const lines = texts.map((text, n) => evidenceLine(`t${n}`, { text }));
  const longId = 'x'.repeat(5000);
  lines.push(evidenceLine('id-\ud800'), evidenceLine('id-\ufffd', { text: 'replacement char' }), evidenceLine(longId, { text: 'long id' }));
  await withEvidence({ 'e.jsonl': lines }, async (dir) => {
    const { index } = await open(dir);
    try {
      texts.forEach((text, n) => {
        const e = index.get(`t${n}`)!;
        assert.equal(e.text, text);
        assert.equal(e.textJson, JSON.stringify(text));
      });
      assert.equal(index.get('id-\ud800')!.text, 'text of id-\ud800');
      assert.equal(index.get('id-\ufffd')!.text, 'replacement char');
      assert.equal(index.get(longId)!.text, 'long id');
    } finally {
      await index.close();
    }
  });
});

test('refreshes incrementally: unchanged → nothing read; appended file → only it; changed file → it and later ones', async () => {
  await withEvidence({ '1.jsonl': [evidenceLine('a')], '2.jsonl': [evidenceLine('b')] }, async (dir) => {
    const first = await open(dir);
    assert.equal(first.report.filesRead, 2);
    await first.index.close();

    const unchanged = await open(dir);
    assert.equal(unchanged.report.filesRead, 0);
    assert.equal(unchanged.index.get('b')!.text, 'text of b');
    await unchanged.index.close();

    await writeFile(path.join(dir, '3.jsonl'), evidenceLine('c'));
    const appended = await open(dir);
    assert.equal(appended.report.filesRead, 1);
    assert.equal(appended.index.get('c')!.text, 'text of c');
    await appended.index.close();

    await writeFile(path.join(dir, '2.jsonl'), `${evidenceLine('b2')}\n${evidenceLine('a', { text: 'loses to 1.jsonl' })}`);
    const changed = await open(dir);
    try {
      assert.equal(changed.report.filesRead, 2);
      assert.equal(changed.index.get('b'), undefined);
      assert.equal(changed.index.get('b2')!.text, 'text of b2');
      assert.equal(changed.index.get('a')!.text, 'text of a');
      assert.equal(changed.index.get('c')!.text, 'text of c');
      assert.equal(changed.report.rows, 4);
    } finally {
      await changed.index.close();
    }
  });
});

test('an evidence file (not a folder) is indexed beside it', async () => {
  await withEvidence({ 'one.jsonl': [evidenceLine('solo')] }, async (dir) => {
    const { index, report } = await EvidenceIndex.open(path.join(dir, 'one.jsonl'), { root: dir, maxLineBytes: 1024 });
    try {
      assert.equal(index.get('solo')!.text, 'text of solo');
      assert.equal(report.indexPath, path.join(dir, '.one.jsonl.distill-index'));
    } finally {
      await index.close();
    }
  });
});

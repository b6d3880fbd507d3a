import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, open as openFile, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DistillError } from '../src/errors.js';
import { EvidenceIndex, type IndexReport } from '../src/io/evidence-index.js';
import type { JoinedEvidence } from '../src/records.js';
import { removeDir, runCli, tempDir } from './helpers.js';

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

/** The decoded text of a joined row (the join itself never decodes it). */
const textOf = (e: JoinedEvidence | undefined): string | undefined => (e === undefined ? undefined : (JSON.parse(Buffer.from(e.text.json).toString()) as string));

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
        assert.equal(textOf(index.get('dup')), 'first');
        assert.equal(textOf(index.get('only-b')), 'text of only-b');
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
        assert.equal(textOf(e), text);
        assert.equal(Buffer.from(e.text.json).toString(), JSON.stringify(text));
        assert.equal(e.text.units, text.length);
      });
      assert.equal(textOf(index.get('id-\ud800')!), 'text of id-\ud800');
      assert.equal(textOf(index.get('id-\ufffd')!), 'replacement char');
      assert.equal(textOf(index.get(longId)!), 'long id');
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
    assert.equal(textOf(unchanged.index.get('b')), 'text of b');
    await unchanged.index.close();

    await writeFile(path.join(dir, '3.jsonl'), evidenceLine('c'));
    const appended = await open(dir);
    assert.equal(appended.report.filesRead, 1);
    assert.equal(textOf(appended.index.get('c')), 'text of c');
    await appended.index.close();

    await writeFile(path.join(dir, '2.jsonl'), `${evidenceLine('b2')}\n${evidenceLine('a', { text: 'loses to 1.jsonl' })}`);
    const changed = await open(dir);
    try {
      assert.equal(changed.report.filesRead, 2);
      assert.equal(changed.index.get('b'), undefined);
      assert.equal(textOf(changed.index.get('b2')), 'text of b2');
      assert.equal(textOf(changed.index.get('a')), 'text of a');
      assert.equal(textOf(changed.index.get('c')), 'text of c');
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
      assert.equal(textOf(index.get('solo')), 'text of solo');
      assert.equal(report.indexPath, path.join(dir, '.one.jsonl.distill-index'));
    } finally {
      await index.close();
    }
  });
});

const read = async (dir: string, options: { maxLineBytes?: number } = {}): Promise<{ index: EvidenceIndex; report: IndexReport }> =>
  EvidenceIndex.open(dir, { root: dir, maxLineBytes: options.maxLineBytes ?? 1 << 20 });

async function joined(dir: string, runId: string, maxLineBytes?: number): Promise<string | undefined> {
  const { index } = await read(dir, maxLineBytes === undefined ? {} : { maxLineBytes });
  try {
    return textOf(index.get(runId));
  } finally {
    await index.close();
  }
}

test('an index built with a small --max-line-bytes is rebuilt for a larger one; a larger one serves a smaller limit exactly', async () => {
  const long = evidenceLine('r', { text: 'x'.repeat(400) });
  const short = evidenceLine('r', { text: 'short twin' });
  await withEvidence({ '1.jsonl': [long], '2.jsonl': [short, evidenceLine('s')] }, async (dir) => {
    // The short twin's line is 314 bytes, the long one's 704.
    assert.equal(await joined(dir, 'r', 400), 'short twin'); // the long line is too long: its later twin wins
    assert.equal(await joined(dir, 'r'), 'x'.repeat(400)); // a plain run is not served the 400-byte index
    assert.equal(await joined(dir, 'r', 400), 'short twin'); // and the larger index serves 400 exactly
    assert.equal(await joined(dir, 's', 400), 'text of s');
    assert.equal(await joined(dir, 'r', 300), undefined); // no line of r fits 300 bytes
  });
});

test('a file rewritten at the same size with its mtime restored is re-read, never joined stale', async () => {
  await withEvidence({ 'e.jsonl': [evidenceLine('a', { text: 'old text' })] }, async (dir) => {
    assert.equal(await joined(dir, 'a'), 'old text');
    const file = path.join(dir, 'e.jsonl');
    const before = await stat(file);
    await writeFile(file, evidenceLine('a', { text: 'new text' }));
    await utimes(file, before.atime, before.mtime); // same size, same mtime (touch -r / cp -p)
    assert.equal((await stat(file)).size, before.size);
    const { index, report } = await read(dir);
    try {
      assert.equal(report.filesRead, 1);
      assert.equal(textOf(index.get('a')), 'new text');
    } finally {
      await index.close();
    }
  });
});

test('a file whose times moved but whose bytes did not (touch, a copy) is kept by its content CRC, not re-read', async () => {
  await withEvidence({ 'e.jsonl': [evidenceLine('a')] }, async (dir) => {
    await (await read(dir)).index.close();
    const later = new Date(Date.now() + 60_000);
    await utimes(path.join(dir, 'e.jsonl'), later, later);
    const { index, report } = await read(dir);
    try {
      assert.equal(report.filesRead, 0);
      assert.equal(textOf(index.get('a')), 'text of a');
    } finally {
      await index.close();
    }
  });
});

test('a damaged index — emptied, truncated, garbage, deleted, or a garbage, huge or FIFO manifest — is rebuilt, never trusted or crashed on', async () => {
  const lines = Array.from({ length: 200 }, (_, n) => evidenceLine(`run-${n}`, { text: `text ${n} ${'y'.repeat(n)}` }));
  await withEvidence({ 'e.jsonl': lines }, async (dir) => {
    await (await read(dir)).index.close();
    const folder = path.join(dir, '.distill-index');
    const indexFile = async (): Promise<string> => path.join(folder, (await readdir(folder)).find((name) => name.endsWith('.idx'))!);
    const damages: Array<[string, () => Promise<void>]> = [
      ['emptied', async () => writeFile(await indexFile(), '')],
      ['truncated', async () => truncate(await indexFile(), 500)],
      ['garbage at its start', async () => {
        const file = await indexFile();
        const handle = await openFile(file, 'r+');
        await handle.write(Buffer.alloc(64, 0xab), 0, 64, 0);
        await handle.close();
      }],
      ['a byte flipped in an entry', async () => {
        const file = await indexFile();
        const handle = await openFile(file, 'r+');
        const size = (await handle.stat()).size;
        const byte = Buffer.alloc(1);
        await handle.read(byte, 0, 1, size - 10);
        byte[0] = byte[0]! ^ 0xff;
        await handle.write(byte, 0, 1, size - 10);
        await handle.close();
      }],
      ['deleted', async () => rm(await indexFile())],
      ['manifest garbage', async () => writeFile(path.join(folder, 'manifest.json'), '\u0000{not json')],
      ['manifest JSON of another shape', async () => writeFile(path.join(folder, 'manifest.json'), '[1]')],
      // Larger than any manifest (a sparse file: nothing is read), and a FIFO that no one writes (a blocking read would hang).
      ['manifest huge', async () => truncate(path.join(folder, 'manifest.json'), 300 << 20)],
      ['manifest a FIFO', async () => {
        await rm(path.join(folder, 'manifest.json'));
        execFileSync('mkfifo', [path.join(folder, 'manifest.json')]);
      }],
    ];
    for (const [damage, inflict] of damages) {
      await inflict();
      const { index, report } = await read(dir);
      try {
        assert.equal(report.filesRead, 1, damage);
        for (const n of [0, 57, 199]) assert.equal(textOf(index.get(`run-${n}`)), `text ${n} ${'y'.repeat(n)}`, damage);
      } finally {
        await index.close();
      }
    }
  });
});

test('two builds at once: one builds, the other waits and reads the same generation; a lock left by a killed builder is taken over', async () => {
  const lines = Array.from({ length: 2000 }, (_, n) => evidenceLine(`run-${n}`));
  await withEvidence({ 'a.jsonl': lines.slice(0, 1000), 'b.jsonl': lines.slice(1000) }, async (dir) => {
    const folder = path.join(dir, '.distill-index');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'writer.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), started: '1', purpose: 'a killed build', since: '2026-01-01T00:00:00Z' }));
    const [first, second] = await Promise.all([read(dir), read(dir)]);
    try {
      assert.equal(first.report.filesRead + second.report.filesRead, 2); // built once
      for (const { index } of [first, second]) for (const n of [0, 999, 1000, 1999]) assert.equal(textOf(index.get(`run-${n}`)), `text of run-${n}`);
      assert.deepEqual((await readdir(folder)).filter((name) => name.endsWith('.lock')), []);
    } finally {
      await first.index.close();
      await second.index.close();
    }
  });
});

test('a reader keeps the generation it opened while a refresh replaces it', async () => {
  await withEvidence({ '1.jsonl': [evidenceLine('a')] }, async (dir) => {
    const old = await read(dir);
    try {
      await writeFile(path.join(dir, '2.jsonl'), evidenceLine('b'));
      const fresh = await read(dir);
      assert.equal(textOf(fresh.index.get('b')), 'text of b');
      await fresh.index.close();
      assert.equal(textOf(old.index.get('a')), 'text of a'); // its generation file is gone, its descriptor is not
    } finally {
      await old.index.close();
    }
  });
});

test('an evidence file that changes while a join reads it stops the run before anything is committed', async () => {
  await withEvidence({ 'e.jsonl': [evidenceLine('a')] }, async (dir) => {
    const { index } = await read(dir);
    try {
      assert.equal(textOf(index.get('a')), 'text of a');
      await appendFile(path.join(dir, 'e.jsonl'), `\n${evidenceLine('b')}`);
      assert.throws(() => index.verifyUnchanged(), (error: unknown) => error instanceof DistillError && error.code === 'DS_IO' && /changed while it was being joined/.test(error.message));
    } finally {
      await index.close();
    }
  });
});

test('texts whose bytes are not JSON.stringify\'s own are written as it would write them; bytes that are not UTF-8 read as U+FFFD', async () => {
  const base = JSON.parse(evidenceLine('x')) as Record<string, unknown>;
  const withLiteral = (runId: string, literal: string): string => JSON.stringify({ ...base, run_id: runId, text: '@' }).replace('"@"', literal);
  const lines = [withLiteral('escaped', '"\\u0041\\/\\u00e9"'), withLiteral('upper', '"\\u001F"')];
  await withEvidence({ 'e.jsonl': lines }, async (dir) => {
    await appendFile(path.join(dir, 'e.jsonl'), Buffer.concat([Buffer.from(`\n${withLiteral('bad-utf8', '"a@b"').split('@')[0]}`), Buffer.from([0xff, 0xfe]), Buffer.from(`b"${withLiteral('bad-utf8', '"a@b"').split('@')[1]!.slice(2)}`)]));
    const { index } = await read(dir);
    try {
      assert.equal(Buffer.from(index.get('escaped')!.text.json).toString(), JSON.stringify('A/é'));
      assert.equal(Buffer.from(index.get('upper')!.text.json).toString(), JSON.stringify('\u001f'));
      assert.equal(textOf(index.get('bad-utf8')), 'a\ufffd\ufffdb');
    } finally {
      await index.close();
    }
  });
});

test('a text of 17 MiB joins like any other (the text is read from the evidence, never copied)', async () => {
  const text = `${'z'.repeat(17 << 20)}end`;
  await withEvidence({ 'e.jsonl': [evidenceLine('big', { text }), evidenceLine('small')] }, async (dir) => {
    const { index } = await EvidenceIndex.open(dir, { root: dir, maxLineBytes: 64 << 20 });
    try {
      const e = index.get('big')!;
      assert.equal(e.text.units, text.length);
      assert.equal(e.text.json.length, text.length + 2);
      assert.equal(e.text.embeddingPrefix, 2001);
      assert.equal(textOf(index.get('small')), 'text of small');
    } finally {
      await index.close();
    }
  });
});

test('what the index keeps beside the evidence is a small fraction of it (no text is copied)', async () => {
  const lines = Array.from({ length: 500 }, (_, n) => evidenceLine(`run-${n}`, { text: `${'lorem ipsum dolor sit amet '.repeat(100)}${n}`, source_files: ['src/a.ts'] }));
  await withEvidence({ 'e.jsonl': lines }, async (dir) => {
    await (await read(dir)).index.close();
    const folder = path.join(dir, '.distill-index');
    let kept = 0;
    for (const name of await readdir(folder)) kept += (await stat(path.join(folder, name))).size;
    const evidence = (await stat(path.join(dir, 'e.jsonl'))).size;
    assert.ok(kept < evidence * 0.1, `${kept} bytes kept for ${evidence} bytes of evidence`);
  });
});

/** `index` run as its own process on `dir`, killed at `killAt` when given. */
const indexRun = (dir: string, killAt?: string) =>
  runCli(['index', '--root', dir, '--evidence', dir], killAt === undefined ? {} : { env: { ...process.env, DISTILL_STREAM_KILL_AT: killAt } });

test('a build killed at any point, alone or beside a second build, leaves nothing a later run trusts, and the next build removes what it left', async () => {
  const lines = Array.from({ length: 3000 }, (_, n) => evidenceLine(`run-${n}`));
  await withEvidence({ 'a.jsonl': lines.slice(0, 1000), 'b.jsonl': lines.slice(1000, 2000) }, async (dir) => {
    const folder = path.join(dir, '.distill-index');
    const expectWhole = async (count: number): Promise<void> => {
      const { index, report } = await read(dir);
      try {
        assert.equal(report.rows, count);
        for (const n of [0, 999, 1000, count - 1]) assert.equal(textOf(index.get(`run-${n}`)), `text of run-${n}`);
      } finally {
        await index.close();
      }
      assert.deepEqual((await readdir(folder)).filter((name) => name !== 'manifest.json' && !name.endsWith('.idx')), []);
      assert.equal((await readdir(folder)).filter((name) => name.endsWith('.idx')).length, 1);
    };
    for (const point of ['index-after-first-file', 'index-before-manifest']) {
      assert.equal((await indexRun(dir, point)).signal, 'SIGKILL', point);
    }
    assert.ok((await readdir(folder)).some((name) => name !== 'writer.lock' && name !== 'manifest.json'), 'the killed builds left their files');
    await expectWhole(2000);
    // A refresh killed before its manifest: the generation before it is still the one read.
    await writeFile(path.join(dir, 'c.jsonl'), lines.slice(2000).join('\n'));
    assert.equal((await indexRun(dir, 'index-before-manifest')).signal, 'SIGKILL');
    await expectWhole(3000);
    // Two builds at once, one of them killed inside: the survivor's index is whole.
    await writeFile(path.join(dir, 'b.jsonl'), lines.slice(1000, 2000).reverse().join('\n'));
    const [killed, survivor] = await Promise.all([indexRun(dir, 'index-before-manifest'), indexRun(dir)]);
    assert.equal(survivor.code, 0, survivor.stderr);
    assert.ok(killed.signal === 'SIGKILL' || killed.code === 0);
    await expectWhole(3000);
  });
});

test('a touch while a join reads is no change; a plan\'s generation is joined exactly or refused', async () => {
  await withEvidence({ 'e.jsonl': [evidenceLine('a')], 'f.jsonl': [evidenceLine('b')] }, async (dir) => {
    const { index, report } = await read(dir);
    try {
      const later = new Date(Date.now() + 60_000);
      await utimes(path.join(dir, 'e.jsonl'), later, later); // before the join opens it
      assert.equal(textOf(index.get('a')), 'text of a');
      await utimes(path.join(dir, 'e.jsonl'), new Date(), new Date()); // while it is open
      index.verifyUnchanged();
      await writeFile(path.join(dir, 'f.jsonl'), evidenceLine('b', { text: 'changed' })); // changed before it is opened
      assert.throws(() => index.get('b'), /changed while it was being joined/);
    } finally {
      await index.close();
    }
    const pinned = await EvidenceIndex.open(dir, { root: dir, maxLineBytes: 1 << 20, generation: report.generation }).catch((error: unknown) => error);
    assert.ok(pinned instanceof DistillError && pinned.code === 'DS_IO' && /changed since the plan was written/.test(pinned.message), String(pinned));
    const refreshed = await read(dir);
    try {
      assert.notEqual(refreshed.report.generation, report.generation);
      assert.equal(textOf(refreshed.index.get('b')), 'changed');
    } finally {
      await refreshed.index.close();
    }
    const again = await EvidenceIndex.open(dir, { root: dir, maxLineBytes: 1 << 20, generation: refreshed.report.generation });
    assert.equal(again.report.filesRead, 0);
    await again.index.close();
  });
});

test('evidence from a pipe (`<(…)`) is copied once, indexed and joined, and the copy removed', async () => {
  const dir = await tempDir();
  try {
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = createWriteStream(fifo);
    writer.end([evidenceLine('p1'), evidenceLine('p2', { text: 'second' })].join('\n'));
    const { index, report } = await EvidenceIndex.open(fifo, { root: dir, maxLineBytes: 1 << 20 });
    try {
      assert.equal(report.rows, 2);
      assert.equal(textOf(index.get('p2')), 'second');
    } finally {
      await index.close();
    }
    await assert.rejects(stat(report.indexPath));
  } finally {
    await removeDir(dir);
  }
});

test('an index built by scanner processes is byte for byte the one a single process builds', async () => {
  const files: Record<string, string[]> = {};
  for (let f = 0; f < 5; f++) files[`d${f}/e.jsonl`] = Array.from({ length: 300 + f * 50 }, (_, n) => evidenceLine(`run-${(n * 7 + f) % 900}`, { text: `${f}:${n}` }));
  await withEvidence(files, async (dir) => {
    const indexBytes = async (env: NodeJS.ProcessEnv): Promise<Buffer> => {
      await rm(path.join(dir, '.distill-index'), { recursive: true, force: true });
      const run = await runCli(['index', '--root', dir, '--evidence', dir], { env: { ...process.env, ...env } });
      assert.equal(run.code, 0, run.stderr);
      const folder = path.join(dir, '.distill-index');
      const name = (await readdir(folder)).find((entry) => entry.endsWith('.idx'))!;
      return readFile(path.join(folder, name));
    };
    const single = await indexBytes({ DISTILL_STREAM_PARALLEL_INDEX_BYTES: String(2 ** 40) });
    const parallel = await indexBytes({ DISTILL_STREAM_PARALLEL_INDEX_BYTES: '1' });
    assert.ok(single.equals(parallel));
    const { index } = await read(dir);
    try {
      assert.equal(textOf(index.get('run-3')), '0:129'); // d0/e.jsonl's row 129 comes first in walk order (d3's row 0 later)
    } finally {
      await index.close();
    }
  });
});

test('partitions too large to sort in memory are split on disk by more key bits, and the index is the same bytes', async () => {
  const files: Record<string, string[]> = {};
  // 400 rows of one run id share every key bit: that partition cannot be split and is sorted whole.
  for (let f = 0; f < 4; f++) files[`d${f}/e.jsonl`] = Array.from({ length: 400 }, (_, n) => evidenceLine(n % 4 === 0 ? 'run-many' : `run-${(n * 7 + f) % 900}`, { text: `${f}:${n}` }));
  await withEvidence(files, async (dir) => {
    const build = async (env: NodeJS.ProcessEnv): Promise<{ bytes: Buffer; spills: string[] }> => {
      await rm(path.join(dir, '.distill-index'), { recursive: true, force: true });
      const run = await runCli(['index', '--root', dir, '--evidence', dir], { env: { ...process.env, ...env } });
      assert.equal(run.code, 0, run.stderr);
      const folder = path.join(dir, '.distill-index');
      const names = await readdir(folder);
      return { bytes: await readFile(path.join(folder, names.find((entry) => entry.endsWith('.idx'))!)), spills: names.filter((name) => name.startsWith('.build-')) };
    };
    const whole = await build({});
    // ~1,600 entries of ~150 bytes against 4 KiB: the one partition splits into 256, the run id's twice more.
    const split = await build({ DISTILL_STREAM_INDEX_SORT_BYTES: '4096', DISTILL_STREAM_PARALLEL_INDEX_BYTES: '1' });
    assert.ok(whole.bytes.equals(split.bytes));
    assert.deepEqual(split.spills, []);
    const { index } = await read(dir);
    try {
      assert.equal(textOf(index.get('run-many')), '0:0');
      assert.equal(textOf(index.get('run-3')), '0:129');
    } finally {
      await index.close();
    }
  });
});

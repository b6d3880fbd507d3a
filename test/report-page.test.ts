import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DistillError } from '../src/errors.js';
import { escapeHtml, html } from '../src/report/page/html.js';
import { loadReportData, readBaselineHistory, QUARANTINE_EXAMPLES_PER_REASON } from '../src/report/page/load.js';
import { renderReportHtml } from '../src/report/page/render.js';
import { inertSvg } from '../src/report/page/svg-guard.js';
import type { ReportData } from '../src/report/page/types.js';
import { writeRunReport } from '../src/report/page/write.js';
import type { QuarantineReason } from '../src/records.js';
import { copyOf, fixtureCopy, removeDir, tempDir } from './helpers.js';
import { addHostileSource, addLongOutcomes, HOSTILE, HOSTILE_KB_FILE, HOSTILE_TEXT, maskTimings, RECORDED_AT, runAll } from './report-runs.js';

const MB = 1 << 20;
const SECTION_ORDER = ['verdict', 'funnel', 'quarantine', 'categories', 'distributions', 'drift', 'baselines', 'shards', 'receipts'];

/** Every element the page may contain: its own HTML and the SVG that Vega draws. */
const ALLOWED_TAGS = new Set(
  'html head meta link title style body nav ol li a header h1 h2 h3 h4 p ul dl dt dd code strong span section figure figcaption table thead tbody tr th td pre svg g path rect line text tspan defs clipPath'.split(' '),
);

/**
 * Checks the page's markup the way a browser would find it: every "<" opens an allowed element
 * (data never contributes one, it is escaped), no attribute is an event handler or a source, and
 * every link stays on the page.
 */
function assertInertPage(page: string): void {
  assert.ok(page.startsWith('<!doctype html>\n'));
  for (const [tag] of page.slice('<!doctype html>'.length).matchAll(/<[^>]*>/g)) {
    const name = /^<\/?([a-zA-Z][a-zA-Z0-9]*)/.exec(tag)?.[1];
    assert.ok(name !== undefined && ALLOWED_TAGS.has(name), `unexpected markup ${tag.slice(0, 120)}`);
    for (const [, attribute, value] of tag.matchAll(/\s([a-zA-Z][-a-zA-Z0-9:]*)="([^"]*)"/g)) {
      assert.ok(!/^on/i.test(attribute!), `event handler in ${tag.slice(0, 120)}`);
      assert.ok(!['src', 'srcdoc', 'xlink:href', 'action', 'formaction'].includes(attribute!.toLowerCase()), `source attribute in ${tag.slice(0, 120)}`);
      if (attribute === 'href') assert.ok(value === 'data:,' || value!.startsWith('#'), `link off the page: ${value}`);
    }
  }
  assert.doesNotMatch(page, /<script/i);
  assert.ok(!page.includes('\u2028') && !page.includes('\u2029'), 'a raw U+2028/U+2029 is on the page');
}

/**
 * The file's real runs, made once: `root` holds a first run, a second whose text lengths drift from
 * it (PSI) and a failed one; `pinnedRoot` the same first run on another copy of the archive. Tests
 * only read them; one that adds runs or damages reports works on a copy.
 */
let root = '';
let pinnedRoot = '';

before(async () => {
  root = await fixtureCopy();
  await addHostileSource(root);
  assert.ok((await runAll(root, 'first')).summary.overall_passed);
  await addLongOutcomes(root, 6);
  assert.ok((await runAll(root, 'second')).summary.overall_passed);
  assert.equal((await runAll(root, 'failed', 'export-sft')).summary.overall_passed, false);
  pinnedRoot = await fixtureCopy();
  await addHostileSource(pinnedRoot);
  assert.ok((await runAll(pinnedRoot, 'first')).summary.overall_passed);
});

after(async () => {
  await removeDir(root);
  await removeDir(pinnedRoot);
});

describe('report page: escaping', () => {
  test('escapeHtml writes & < > " \' U+2028 U+2029 as references; html escapes every interpolation', () => {
    assert.equal(escapeHtml(`a&b<c>d"e'f\u2028g\u2029h`), 'a&amp;b&lt;c&gt;d&quot;e&#39;f&#x2028;g&#x2029;h');
    assert.equal(escapeHtml('plain text · ü'), 'plain text · ü');
    const cell = html`<td title="${HOSTILE.quotes}">${HOSTILE.script}</td>`;
    assert.equal(cell.toString(), '<td title="&quot;double&quot; &#39;single&#39;">&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    assert.equal(html`<p>${[html`<b>${'<i>'}</b>`, 3, '&']}</p>`.toString(), '<p><b>&lt;i&gt;</b>3&amp;</p>');
  });

  test('inertSvg keeps a plain SVG and refuses scripts, handlers, foreign elements and stray markup', () => {
    const ok = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><g class="mark-rect"><path d="M0,0h1v1Z" aria-label="a\u2028b"/></g><text>&lt;b&gt;</text></svg>';
    assert.equal(inertSvg(ok).toString(), ok.replace('\u2028', '&#x2028;'));
    for (const bad of [
      '<svg><script>alert(1)</script></svg>',
      '<svg><g onload="alert(1)"></g></svg>',
      '<svg><foreignObject><img src=x></foreignObject></svg>',
      '<svg><a href="https://example.invalid"><text>x</text></a></svg>',
      '<svg></svg><svg></svg>',
      '<svg><text>a < b</text></svg>',
      '<svg><g></svg></g>',
      'text<svg></svg>',
      '<svg>',
    ]) {
      assert.throws(() => inertSvg(bad), (error: unknown) => error instanceof DistillError && error.code === 'DS_INTERNAL', bad);
    }
  });
});

describe('report page: real runs', () => {
  test('the sections come in the promised order, the shards section only when shards are given', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    const positions = (page: string): number[] => SECTION_ORDER.map((id) => page.indexOf(` id="${id}"`));
    const plain = await renderReportHtml(data);
    const withoutShards = positions(plain);
    assert.equal(withoutShards[SECTION_ORDER.indexOf('shards')], -1);
    const present = withoutShards.filter((at) => at >= 0);
    assert.deepEqual(present, [...present].sort((a, b) => a - b));
    assert.equal(present.length, SECTION_ORDER.length - 1);

    const shards = [
      { shard: 0, status: 'done' as const, rows_in: 30, rows_out: 20, outputs: [{ path: 'exports/sft/shard-0.jsonl', bytes: 100, sha256: 'a'.repeat(64) }] },
      { shard: 1, status: 'missing' as const, rows_in: 0, rows_out: 0, outputs: [] },
    ];
    const sharded = await renderReportHtml({ ...data, shards });
    const all = positions(sharded);
    assert.ok(all.every((at) => at >= 0));
    assert.deepEqual(all, [...all].sort((a, b) => a - b));
    assert.match(sharded, /2 shard\(s\), <span class="bad">1 missing<\/span>/);
    assert.ok(sharded.includes('a'.repeat(64)));
    assertInertPage(sharded);
  });

  test('shards of a run planned phase by phase: a stage column, and at most 10 parts listed per shard', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    const parts = Array.from({ length: 12 }, (_, n) => ({ path: `data/evidence/2026/05/${String(n + 1).padStart(2, '0')}/outcomes.jsonl`, bytes: 100 + n, sha256: String(n % 10).repeat(64) }));
    const shards = [
      { shard: 0, stage: 'collect' as const, status: 'done' as const, rows_in: 30, rows_out: 28, outputs: parts },
      { shard: 1, stage: 'collect' as const, status: 'done' as const, rows_in: 0, rows_out: 0, outputs: [] },
      { shard: 0, stage: 'score' as const, status: 'done' as const, rows_in: 28, rows_out: 28, outputs: parts.slice(0, 1) },
    ];
    const page = await renderReportHtml({ ...data, shards });
    assert.match(page, /3 shard\(s\) over 2 stage\(s\), all done/);
    assert.match(page, /<thead><tr><th>stage<\/th><th>shard<\/th>/);
    assert.match(page, /<tr class="shard-done"><td>collect<\/td><td class="n">1<\/td>/);
    assert.ok(page.includes('data/evidence/2026/05/10/outcomes.jsonl') && !page.includes('data/evidence/2026/05/11/outcomes.jsonl'), 'the first 10 parts');
    assert.match(page, /<li>2 more files, 221 bytes<\/li>/);
    assert.match(await renderReportHtml({ ...data, shards: shards.map(({ stage: _stage, ...rest }) => rest) }), /<thead><tr><th>shard<\/th>/, 'no stage column when no shard names one');
    assertInertPage(page);
  });

  test('a passed run with a prior: PSI and its band from drift.json, re-checked against the samples; warnings highlighted', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    assert.equal(data.prior?.summary.run_id, 'first');
    const page = await renderReportHtml(data);
    assert.match(page, /<h1>Run passed: <code>second<\/code><\/h1>/);
    const evidence = data.drift.distributions.find((d) => d.metric === 'evidence_text_length')!;
    assert.ok(evidence.psi > 0);
    assert.ok(page.includes(`evidence_text_length: this run against the prior, PSI ${evidence.psi.toFixed(4)} (${evidence.verdict})`));
    assert.ok(page.includes('recomputed from the two runs’ samples: <span class="ok">the same</span>'));
    assert.ok(data.drift.metrics.some((m) => m.flag === 'warn'));
    assert.match(page, /<tr class="metric-warn"><td><code>[^<]+<\/code><\/td>.*?<span class="flag-warn">warn<\/span>/);
    assert.match(page, /Forbidden categories in the SFT output: <strong class="ok">0<\/strong> \(rejected: 0, needs_human_review: 0\)/);
    assertInertPage(page);
  });

  test('a first run has no PSI to show; a failed run names the stage, its errors and the skipped stages', async () => {
    const first = await renderReportHtml(await loadReportData({ root, runId: 'first' }));
    assert.ok(first.includes('No PSI: this is the first run, there is no prior.'));
    assert.ok(first.includes('evidence_text_length: this run (no prior sample to compare)'));
    assert.ok(first.includes('(first run: no prior)'));

    const failed = await renderReportHtml(await loadReportData({ root, runId: 'failed' }));
    assert.match(failed, /<header id="verdict" class="verdict failed">/);
    assert.match(failed, /Stage <strong>export-sft<\/strong> failed its validation:<\/p>\s*<ul><li>validation failed on request \(test seam\)<\/li><\/ul>/);
    assert.ok(failed.includes('Skipped after the failure: export-preference.'));
    assert.match(failed, /<span class="flag-alert">alert<\/span>/);
    assertInertPage(failed);
  });

  test('hostile strings from the pipeline — a _kb file name and a source record — appear as escaped text only', async () => {
    const page = await renderReportHtml(await loadReportData({ root, runId: 'second' }));
    assertInertPage(page);
    assert.ok(page.includes(`<code>data/_kb/${escapeHtml(HOSTILE_KB_FILE)}:0</code>`));
    assert.ok(page.includes(escapeHtml(JSON.stringify(HOSTILE.script)))); // the row's run_id inside its source record
    assert.ok(page.includes('&#x2028;'));
  });

  test('hostile run id, reason, file name, source record, metric, flag and baseline strings render as text', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    const hostileReason = HOSTILE.svg as QuarantineReason;
    const receipts = data.receipts.map((r, i) =>
      i === 0
        ? {
            ...r,
            run_id: HOSTILE_TEXT,
            inputs: [{ path: `data/_kb/${HOSTILE_TEXT}.jsonl`, bytes: 1, sha256: 'b'.repeat(64) }, ...r.inputs],
            record_counts: { ...r.record_counts, by_reason: { ...r.record_counts.by_reason, [hostileReason]: 2 } },
            validation: { ...r.validation, passed: false, errors: [HOSTILE_TEXT] },
            samples: { ...r.samples, [HOSTILE_TEXT]: [1, 2, 3, 40] },
          }
        : r,
    );
    const hostile: ReportData = {
      ...data,
      summary: { ...data.summary, run_id: HOSTILE_TEXT, overall_passed: false, stages: data.summary.stages.map((s, i) => (i === 0 ? { ...s, passed: false } : s)) },
      receipts,
      drift: { ...data.drift, prior_run_id: HOSTILE_TEXT, flags: [HOSTILE_TEXT], metrics: [...data.drift.metrics, { metric: HOSTILE_TEXT, prior: 1, current: 9, pct_change: 8, flag: 'warn' }] },
      quarantine: data.quarantine.map((q, i) =>
        i === 0
          ? {
              ...q,
              file: HOSTILE_TEXT,
              reasons: [...q.reasons, { reason: hostileReason, rows: [{ source_file: HOSTILE_TEXT, line_offset: 3, errors: [HOSTILE_TEXT], errors_omitted: 0, record_start: HOSTILE_TEXT, record_cut: true }] }],
            }
          : q,
      ),
      baselines: { ...data.baselines, entries: [...data.baselines.entries, { run_id: HOSTILE_TEXT, recorded_at: RECORDED_AT, metrics: { 'total.in': 3 } }] },
      tool_version: HOSTILE_TEXT,
      shards: [{ shard: 0, status: 'done', rows_in: 1, rows_out: 1, outputs: [{ path: HOSTILE_TEXT, bytes: 1, sha256: 'c'.repeat(64) }] }],
    };
    const page = await renderReportHtml(hostile);
    assertInertPage(page);
    const escaped = escapeHtml(HOSTILE_TEXT);
    // Run id (title, header, baselines), tool version, error, flag, metric, file names, reason, record, shard output.
    assert.ok(page.split(escaped).length - 1 >= 12, `the hostile text appears escaped ${page.split(escaped).length - 1} times`);
    assert.ok(page.includes(`<title>distill-stream run ${escaped}: FAILED</title>`));
    // Inside Vega's SVG: the reason as a bar label (cut to the label width), the metric in a histogram title.
    assert.ok(page.includes('>collect · &lt;/svg&gt;&lt;script&gt;alert(2)'));
    assert.ok(page.includes(`<title>${escaped}: this run (no prior sample to compare)</title>`));
  });

  test('degenerate runs still render: all-equal samples, a single value, empty samples, no rows, no stage at all', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    const withSamples = (receipts: ReportData['receipts'], values: (v: number[]) => number[]): ReportData['receipts'] =>
      receipts.map((r) => ({ ...r, samples: Object.fromEntries(Object.entries(r.samples).map(([metric, v]) => [metric, values(v)])) }));
    const cases: Record<string, ReportData> = {
      allEqual: { ...data, receipts: withSamples(data.receipts, (v) => v.map(() => 7)), prior: { ...data.prior!, receipts: withSamples(data.prior!.receipts, (v) => v.map(() => 7)) } },
      single: { ...data, receipts: withSamples(data.receipts, () => [3]), prior: undefined },
      empty: { ...data, receipts: withSamples(data.receipts, () => []) },
      noRows: {
        ...data,
        receipts: data.receipts.map((r) => ({ ...r, record_counts: { in: 0, out: 0, quarantined: 0, by_reason: {}, by_category: {} }, samples: {} })),
        quarantine: [],
        baselines: { ...data.baselines, entries: [] },
      },
      noStage: { ...data, receipts: [], quarantine: [], tool_version: null },
    };
    for (const [name, degenerate] of Object.entries(cases)) {
      const page = await renderReportHtml(degenerate);
      assertInertPage(page);
      assert.ok(page.includes('<section id="receipts">'), name);
    }
    assert.match(await renderReportHtml(cases['noRows']!), /No stage read any rows: nothing to chart\./);
  });

  test('a page stays under 1 MB: the fixture run, and a big run with every reason, 1,000 files per receipt and full samples', async () => {
    const data = await loadReportData({ root, runId: 'second' });
    const fixture = Buffer.byteLength(await renderReportHtml(data));
    assert.ok(fixture < MB, `${fixture} bytes`);

    const reasons = ['schema_violation', 'missing_provenance', 'missing_source_run_id', 'evidence_not_found', 'unsafe_sft_category', 'unsafe_rag_category', 'category_disallowed', 'not_instructable', 'empty_content', 'hallucinated_file_path', 'duplicate_id', 'self_pairing', 'invalid_preference_pairing', 'line_too_long'] as const;
    const record = JSON.stringify({ run_id: 'r'.repeat(40), text: '"quoted" '.repeat(40) }).slice(0, 300);
    const files = Array.from({ length: 1000 }, (_, i) => ({ path: `data/evidence/2026/05/${String(i % 31).padStart(2, '0')}/source_${i}.jsonl`, bytes: 123456, sha256: 'd'.repeat(64) }));
    const samples = (seed: number): number[] => Array.from({ length: 10_000 }, (_, i) => ((i * 7919 + seed) % 5000) + 1);
    const big: ReportData = {
      ...data,
      receipts: data.receipts.map((r) => ({
        ...r,
        inputs: files,
        outputs: files,
        record_counts: { ...r.record_counts, by_reason: Object.fromEntries(reasons.map((reason) => [reason, 1000])) },
        samples: Object.fromEntries(Object.keys(r.samples).map((metric) => [metric, samples(3)])),
      })),
      quarantine: data.quarantine.map((q) => ({
        ...q,
        reasons: reasons.map((reason) => ({
          reason,
          rows: Array.from({ length: QUARANTINE_EXAMPLES_PER_REASON }, (_, i) => ({ source_file: files[i]!.path, line_offset: i * 1000, errors: [`/field_${i} must be string`], errors_omitted: 0, record_start: record, record_cut: true })),
        })),
      })),
      baselines: { ...data.baselines, entries: Array.from({ length: 200 }, (_, i) => ({ ...data.baselines.entries[0]!, run_id: `run-${i}` })), total_entries: 5000 },
    };
    const t0 = performance.now();
    const bytes = Buffer.byteLength(await renderReportHtml(big));
    const ms = Math.round(performance.now() - t0);
    process.stdout.write(`# report page: fixture run ${fixture} bytes; big run ${bytes} bytes, rendered in ${ms} ms\n`);
    assert.ok(bytes < MB, `${bytes} bytes`);
  });

  test('pinned runs give byte-identical pages apart from the timing fields; the same data renders the same bytes', async () => {
    const pages: string[] = [];
    for (const dir of [root, pinnedRoot]) {
      const written = await writeRunReport({ root: dir, runId: 'first' });
      pages.push(await readFile(written.file, 'utf8'));
    }
    assert.notEqual(pages[0], pages[1], 'the timings differ, or the test proves nothing');
    assert.equal(maskTimings(pages[0]!), maskTimings(pages[1]!));
    const data = await loadReportData({ root, runId: 'first' });
    assert.equal(await renderReportHtml(data), await renderReportHtml(data));
  });
});

describe('report page: loading', () => {
  /** `pinnedRoot` with its first run, for a test to add runs to or damage. */
  const copyOfFirstRun = (): Promise<string> => copyOf(pinnedRoot);

  test('the baseline history is a bounded window ending at this run, and damaged lines are listed, not skipped silently', async () => {
    const root = await tempDir();
    try {
      const lines: string[] = [];
      for (let i = 0; i < 500; i++) {
        lines.push(JSON.stringify({ run_id: i === 300 ? 'target' : `run-${i}`, recorded_at: RECORDED_AT, metrics: { 'total.in': i } }));
        if (i === 10) lines.push('{"run_id": "cut', '   ', '[]');
      }
      await mkdir(path.join(root, 'data/_kb'), { recursive: true });
      await writeFile(path.join(root, 'data/_kb/audit_baselines.jsonl'), `${lines.join('\n')}\n`);
      const history = await readBaselineHistory(root, 'target');
      assert.equal(history.entries.length, 200);
      assert.equal(history.total_entries, 301);
      assert.equal(history.this_run_found, true);
      assert.equal(history.entries.at(-1)!.run_id, 'target');
      assert.equal(history.entries[0]!.metrics['total.in'], 101);
      assert.equal(history.problem_count, 2);
      assert.deepEqual(history.problems.map((p) => p.line), [11, 13]);

      const unknown = await readBaselineHistory(root, 'not-there', 50);
      assert.equal(unknown.this_run_found, false);
      assert.equal(unknown.total_entries, 500);
      assert.deepEqual([unknown.entries[0]!.run_id, unknown.entries.at(-1)!.run_id], ['run-450', 'run-499']);

      const none = await readBaselineHistory(path.join(root, 'nowhere'), 'x');
      assert.deepEqual([none.exists, none.entries.length], [false, 0]);
    } finally {
      await removeDir(root);
    }
  });

  test('quarantine examples: at most five per reason, and only from the bytes the receipt hashed', async () => {
    const data = await loadReportData({ root: pinnedRoot, runId: 'first' });
    const root = await copyOfFirstRun();
    try {
      const sft = data.quarantine.find((q) => q.stage === 'export-sft')!;
      assert.equal(sft.status, 'read');
      const sftReceipt = data.receipts.find((r) => r.stage === 'export-sft')!;
      for (const { reason, rows } of sft.reasons) assert.equal(rows.length, Math.min(QUARANTINE_EXAMPLES_PER_REASON, sftReceipt.record_counts.by_reason[reason]!));
      assert.deepEqual(sft.reasons.map((r) => r.reason).sort(), Object.keys(sftReceipt.record_counts.by_reason).sort());
      assert.equal(sft.reasons.find((r) => r.reason === 'unsafe_sft_category')!.rows.length, 5); // 17 rows of it

      // A later run with other inputs rewrites the quarantine files: the first run's page shows no examples of them.
      await writeFile(path.join(root, 'data/_kb/web_extractions.jsonl'), '{"run_id":"broken"\n');
      assert.ok((await runAll(root, 'two')).summary.overall_passed);
      const before = await loadReportData({ root, runId: 'first' });
      const collect = before.quarantine.find((q) => q.stage === 'collect')!;
      assert.equal(collect.status, 'changed');
      assert.deepEqual(collect.reasons, []);
      assert.match(await renderReportHtml(before), /a later run rewrote it, so no examples are shown/);
    } finally {
      await removeDir(root);
    }
  });

  test('errors name what is wrong: an unknown run, a run id that is no folder name, no run yet, a missing receipt', async () => {
    const noRunYet = await fixtureCopy();
    try {
      await assert.rejects(loadReportData({ root: noRunYet, latest: true }), (e: unknown) => e instanceof DistillError && e.code === 'DS_IO' && /no run has finished yet/.test(e.message));
    } finally {
      await removeDir(noRunYet);
    }
    const root = await copyOfFirstRun(); // a finished run, "first"
    try {
      await assert.rejects(loadReportData({ root, runId: 'nope' }), (e: unknown) => e instanceof DistillError && e.code === 'DS_IO' && e.message.includes(path.join('nope', 'summary.json')));
      for (const runId of ['../first', '..', '', 'a\\b']) {
        await assert.rejects(loadReportData({ root, runId }), (e: unknown) => e instanceof DistillError && e.code === 'DS_USAGE', runId);
      }
      const receipt = path.join(root, 'reports/distillation/first/score.json');
      await writeFile(receipt, '{"schema_version":1}');
      await assert.rejects(loadReportData({ root, runId: 'first' }), (e: unknown) => e instanceof DistillError && e.code === 'DS_IO' && e.path === receipt);
    } finally {
      await removeDir(root);
    }
  });

  test('writeRunReport writes report.html beside summary.md atomically, or to the --out path; latest picks the last run', async () => {
    const root = await copyOfFirstRun(); // "first" is the older run
    try {
      assert.ok((await runAll(root, 'newer')).summary.overall_passed);
      const latest = await writeRunReport({ root, latest: true });
      assert.equal(latest.run_id, 'newer');
      assert.equal(latest.file, path.join(root, 'reports/distillation/newer/report.html'));
      const page = await readFile(latest.file, 'utf8');
      assert.equal(Buffer.byteLength(page), latest.bytes);
      assert.deepEqual((await readdir(path.dirname(latest.file))).filter((name) => name.startsWith('.')), [], 'no temp file left behind');
      const out = path.join(root, 'elsewhere.html');
      const older = await writeRunReport({ root, runId: 'first', out });
      assert.equal(older.file, out);
      assert.match(await readFile(out, 'utf8'), /<h1>Run passed: <code>first<\/code><\/h1>/);
    } finally {
      await removeDir(root);
    }
  });
});

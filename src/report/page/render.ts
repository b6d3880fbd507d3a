/**
 * The run report as one self-contained HTML page: no script, no external resource, charts as
 * inline SVG next to tables that carry the same numbers. The output depends only on `ReportData`
 * (no clock, no paths of this machine), so pinned runs give the same bytes but for their timings.
 */
import { SFT_FORBIDDEN_CATEGORIES } from '../../core/gates.js';
import type { Category } from '../../records.js';
import type { RunStage } from '../../receipts.js';
import { psi, type PsiResult } from '../psi.js';
import type { FileDigest } from '../../receipts.js';
import type { DriftDistribution, StageReceipt, StageSummary } from '../../receipts.js';
import { datasetsLine } from '../../stages/registry.js';
import { renderChart } from './charts.js';
import { html, SafeHtml } from './html.js';
import {
  CATEGORIES,
  categorySpec,
  funnelSpec,
  histogramSpec,
  historySpec,
  PRIOR_RUN,
  reasonsSpec,
  THIS_RUN,
  type CategorySegment,
  type FunnelSegment,
  type HistogramBar,
  type HistoryPoint,
  type ReasonBar,
} from './specs.js';
import type { QuarantineSample, ReportData, ShardReport } from './types.js';
import { byCodeUnits } from '../../core/text.js';

/** Receipts list every file a stage read and wrote; past this many of each the page says how many more the receipt has. */
const MAX_LISTED_FILES = 100;
/** A shard's parts listed per row (a collect shard writes a part of every partition its rows fall in: hundreds on a large archive); the row says how many more. */
const MAX_LISTED_PARTS = 10;
/** The counts drawn in the baseline history (the table shows the same columns). */
const HISTORY_METRICS = ['total.in', 'total.out', 'total.quarantined', 'dataset.sft', 'dataset.rag', 'dataset.preference'];

/** 12,345: grouping written out, never toLocaleString, whose output depends on the machine's locale. */
const count = (n: number): string => (Number.isInteger(n) ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : String(n));
const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
const signedPercent = (change: number): string => `${change > 0 ? '+' : change < 0 ? '−' : ''}${(Math.abs(change) * 100).toFixed(1)}%`;
const psiValue = (value: number): string => value.toFixed(4);
const bound = (value: number): string => (Number.isInteger(value) ? String(value) : value.toFixed(2));

/** Timing fields are the only bytes allowed to differ between pinned runs: marked so tests can mask exactly them. */
const timing = (field: 'started_at' | 'finished_at' | 'duration_ms', value: string | number): SafeHtml =>
  html`<span class="timing" data-timing="${field}">${value}</span>`;

/** A constant of this file, not data: inserted as it is. */
const STYLE = SafeHtml.fromCheckedMarkup(`
:root{color-scheme:light;font-family:system-ui,sans-serif;line-height:1.4;color:#1b1b1b}
body{margin:0 auto;max-width:1100px;padding:1rem 1.5rem 3rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ccc}h3{font-size:1.05rem;margin:1.4rem 0 .4rem}h4{font-size:.95rem;margin:1rem 0 .3rem}
code,.hash{font-family:ui-monospace,monospace;font-size:.85em;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}th,td{border:1px solid #d0d0d0;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:.8rem 1rem;border-radius:6px;border:2px solid}.passed{background:#e8f5e9;border-color:#2f7d32}.failed{background:#ffebee;border-color:#c62828}
.verdict dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.6rem 0 0}.verdict dt{font-weight:600}.verdict dd{margin:0}
tr.metric-warn td,tr.shard-missing td{background:#fff3e0}.flag-warn,.flag-alert{font-weight:700;color:#b71c1c}
.note{color:#555;font-size:.9rem}.ok{color:#2f7d32;font-weight:700}.bad{color:#b71c1c;font-weight:700}
figure{margin:.5rem 0}figcaption{font-size:.85rem;color:#555}svg.chart{max-width:100%;height:auto}
nav ol{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;list-style:none;padding:0;font-size:.9rem}
td ul{margin:0;padding-left:1rem}
pre.record{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font-size:.8rem;max-width:46rem}
`);

/** The CSP forbids every fetch; the empty data: icon keeps the browser from asking for /favicon.ico. */
const HEAD_META = html`<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">`;

const SECTIONS: ReadonlyArray<[id: string, title: string]> = [
  ['verdict', 'Verdict'],
  ['funnel', 'Funnel'],
  ['quarantine', 'Quarantine'],
  ['categories', 'Categories and the SFT firewall'],
  ['distributions', 'Text lengths'],
  ['drift', 'Count drift'],
  ['baselines', 'Audit baselines'],
  ['shards', 'Shards'],
  ['receipts', 'Receipts'],
];

function receiptOf(data: ReportData, stage: RunStage): StageReceipt | undefined {
  return data.receipts.find((r) => r.stage === stage);
}

const stageResult = (stage: StageSummary): string => (stage.skipped ? 'skipped' : stage.passed ? 'passed' : 'FAILED');

/** Preference counts rows in written pairs, not pairs: in = quarantined + in pairs + unpaired (docs/records.md). */
function outcomesOf(receipt: StageReceipt): Record<'exported' | 'quarantined' | 'unpaired', number> {
  const { in: rowsIn, out, quarantined, unpaired } = receipt.record_counts;
  if (unpaired === undefined) return { exported: out, quarantined, unpaired: 0 };
  return { exported: rowsIn - quarantined - unpaired, quarantined, unpaired };
}

function verdictSection(data: ReportData): SafeHtml {
  const { summary, drift } = data;
  // Every failed stage, not only the first: with --continue-on-failure later stages can fail too.
  const failed = summary.stages.filter((s) => !s.skipped && !s.passed);
  const skipped = summary.stages.filter((s) => s.skipped).map((s) => s.stage);
  let why = html`${failed.map((stage) => {
    const errors = receiptOf(data, stage.stage)?.validation.errors ?? [];
    return html`<p>Stage <strong>${stage.stage}</strong> failed its validation${errors.length > 0 ? ':' : '.'}</p>
${errors.length > 0 ? html`<ul>${errors.map((e) => html`<li>${e}</li>`)}</ul>` : html``}`;
  })}`;
  if (skipped.length > 0) why = html`${why}<p>Skipped after the failure: ${skipped.join(', ')}.</p>`;
  const started = Date.parse(summary.started_at);
  const finished = Date.parse(summary.finished_at);
  const gitSha = data.receipts[0]?.git_sha ?? null;
  return html`<header id="verdict" class="verdict ${summary.overall_passed ? 'passed' : 'failed'}">
<h1>Run ${summary.overall_passed ? 'passed' : 'FAILED'}: <code>${summary.run_id}</code></h1>
${why}
<dl>
<dt>run id</dt><dd><code>${summary.run_id}</code></dd>
<dt>recorded_at</dt><dd>${summary.recorded_at}</dd>
<dt>started_at</dt><dd>${timing('started_at', summary.started_at)}</dd>
<dt>finished_at</dt><dd>${timing('finished_at', summary.finished_at)}</dd>
<dt>duration</dt><dd>${timing('duration_ms', finished - started)} ms</dd>
<dt>tool version</dt><dd>${data.tool_version ?? 'unknown (no stage ran)'}</dd>
<dt>git commit</dt><dd>${gitSha === null ? 'none (the root is not a git work tree)' : html`<code>${gitSha}</code>`}</dd>
<dt>run_hash</dt><dd><code>${summary.run_hash}</code></dd>
<dt>drift</dt><dd><span class="flag-${drift.severity}">${drift.severity}</span>${drift.prior_run_id === null ? ' (first run: no prior)' : html` against <code>${drift.prior_run_id}</code>`}</dd>
<dt>records</dt><dd>in ${count(summary.total_records_in)}, out ${count(summary.total_records_out)}, quarantined ${count(summary.total_quarantined)}; datasets: ${datasetsLine(summary, count)}</dd>
</dl>
</header>`;
}

async function funnelSection(data: ReportData): Promise<SafeHtml> {
  const segments: FunnelSegment[] = [];
  const rows: SafeHtml[] = [];
  for (const stage of data.summary.stages) {
    const receipt = receiptOf(data, stage.stage);
    if (receipt === undefined) {
      rows.push(html`<tr><td>${stage.stage}</td><td>${stageResult(stage)}</td><td class="n">-</td><td class="n">-</td><td class="n">-</td><td class="n">-</td><td class="n">-</td><td class="n">-</td></tr>`);
      continue;
    }
    const outcomes = outcomesOf(receipt);
    for (const outcome of ['exported', 'quarantined', 'unpaired'] as const) {
      if (outcomes[outcome] > 0) segments.push({ stage: stage.stage, outcome, rows: outcomes[outcome] });
    }
    const pairs = receipt.record_counts.unpaired === undefined ? '-' : count(receipt.record_counts.out);
    rows.push(html`<tr><td>${stage.stage}</td><td>${stageResult(stage)}</td><td class="n">${count(receipt.record_counts.in)}</td><td class="n">${count(outcomes.exported)}</td><td class="n">${count(outcomes.quarantined)}</td><td class="n">${receipt.record_counts.unpaired === undefined ? '-' : count(outcomes.unpaired)}</td><td class="n">${pairs}</td><td class="n">${timing('duration_ms', receipt.duration_ms)}</td></tr>`);
  }
  const stages = data.summary.stages.map((s) => s.stage);
  const chart =
    segments.length === 0
      ? html`<p class="note">No stage read any rows: nothing to chart.</p>`
      : await renderChart(
          funnelSpec(stages, segments),
          { title: 'Rows in per stage: exported, quarantined, unpaired', description: 'Each bar is one stage’s rows in, split into rows exported, quarantined and (preference) left unpaired; the table below has the numbers.' },
          'funnel',
        );
  return html`<section id="funnel"><h2>Funnel</h2>
${chart}
<table><thead><tr><th>stage</th><th>result</th><th>rows in</th><th>exported</th><th>quarantined</th><th>unpaired</th><th>pairs written</th><th>ms</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="note">Preference counts rows: “exported” are the rows that are part of a written pair. Every other stage: rows in = exported + quarantined.</p>
</section>`;
}

function quarantineStage(receipt: StageReceipt, sample: QuarantineSample | undefined): SafeHtml {
  const reasons = Object.entries(receipt.record_counts.by_reason);
  const status =
    sample === undefined
      ? html`<p class="note">No quarantine file was read for this stage.</p>`
      : html`<p class="note">From <code>${sample.file}</code>: ${sample.detail}${sample.unreadable_lines > 0 ? html` <span class="bad">${count(sample.unreadable_lines)} line(s) were no quarantine row and are not shown.</span>` : html``}</p>`;
  const blocks = reasons.map(([reason, n]) => {
    const rows = sample?.reasons.find((r) => r.reason === reason)?.rows ?? [];
    const examples =
      rows.length === 0
        ? html``
        : html`<table><thead><tr><th>where</th><th>errors</th><th>start of the source record</th></tr></thead><tbody>${rows.map(
            (row) =>
              html`<tr><td><code>${row.source_file}:${row.line_offset}</code></td><td>${row.errors.length > 0 ? html`<ul>${row.errors.map((e) => html`<li>${e}</li>`)}</ul>` : html``}${row.errors_omitted > 0 ? html`<span class="note">and ${count(row.errors_omitted)} more</span>` : html``}</td><td><pre class="record">${row.record_start}${row.record_cut ? '…' : ''}</pre></td></tr>`,
          )}</tbody></table>`;
    return html`<h4>${reason}: ${count(n)} ${n === 1 ? 'row' : 'rows'}${rows.length > 0 ? html` <span class="note">(first ${count(rows.length)} shown)</span>` : html``}</h4>${examples}`;
  });
  return html`<h3>${receipt.stage}</h3>${status}${blocks}`;
}

async function quarantineSection(data: ReportData): Promise<SafeHtml> {
  const bars: ReasonBar[] = [];
  const stages: SafeHtml[] = [];
  for (const receipt of data.receipts) {
    const reasons = Object.entries(receipt.record_counts.by_reason);
    if (reasons.length === 0) continue;
    for (const [reason, n] of reasons) bars.push({ label: `${receipt.stage} · ${reason}`, stage: receipt.stage, rows: n });
    stages.push(quarantineStage(receipt, data.quarantine.find((q) => q.stage === receipt.stage)));
  }
  if (bars.length === 0) return html`<section id="quarantine"><h2>Quarantine</h2><p>No row was quarantined.</p></section>`;
  const chart = await renderChart(
    reasonsSpec(data.summary.stages.map((stage) => stage.stage), bars),
    { title: 'Quarantined rows by stage and reason', description: 'One bar per stage and quarantine reason; the sections below list the counts and up to five example rows of each.' },
    'reasons',
  );
  return html`<section id="quarantine"><h2>Quarantine</h2>
${chart}
<p class="note">Counts come from each stage’s receipt (preference counts quarantined pairs here too). Examples are the first rows of each reason in the stage’s quarantine file, shown as text.</p>
${stages}
</section>`;
}

function firewallProof(data: ReportData): SafeHtml {
  const receipt = receiptOf(data, 'export-sft');
  const forbidden = [...SFT_FORBIDDEN_CATEGORIES];
  if (receipt === undefined) return html`<h3>SFT firewall</h3><p>export-sft did not run in this run: no SFT output to check.</p>`;
  const found = forbidden.map((category) => [category, receipt.record_counts.by_category[category] ?? 0] as const);
  const total = found.reduce((sum, [, n]) => sum + n, 0);
  const { validation } = receipt;
  return html`<h3>SFT firewall</h3>
<p>Forbidden categories in the SFT output: <strong class="${total === 0 ? 'ok' : 'bad'}">${count(total)}</strong> (${found.map(([category, n], i) => html`${i > 0 ? ', ' : ''}${category}: ${count(n)}`)}), counted from the ${count(receipt.record_counts.out)} rows written.</p>
<p>Re-checked by export-sft’s validation, which fails the run when a written row holds a forbidden quality_score: <strong class="${validation.passed ? 'ok' : 'bad'}">${validation.passed ? 'passed' : 'failed'}</strong></p>
${validation.errors.length > 0 ? html`<ul>${validation.errors.map((e) => html`<li>${e}</li>`)}</ul>` : html``}`;
}

async function categorySection(data: ReportData): Promise<SafeHtml> {
  const segments: CategorySegment[] = [];
  const rows: SafeHtml[] = [];
  const stages: RunStage[] = [];
  for (const receipt of data.receipts) {
    const counts = receipt.record_counts.by_category;
    if (Object.keys(counts).length === 0) continue;
    stages.push(receipt.stage);
    for (const category of CATEGORIES) {
      const n = counts[category] ?? 0;
      if (n > 0) segments.push({ stage: receipt.stage, category, rows: n });
    }
    rows.push(html`<tr><td>${receipt.stage}</td>${CATEGORIES.map((category: Category) => html`<td class="n">${count(counts[category] ?? 0)}</td>`)}</tr>`);
  }
  const mix =
    segments.length === 0
      ? html`<p>No stage counted categories in this run.</p>`
      : html`${await renderChart(
          categorySpec(stages, segments),
          { title: 'Category mix per stage', description: 'Score counts every scored row; the exports count the rows they wrote. The table below has the numbers.' },
          'categories',
        )}
<table><thead><tr><th>stage</th>${CATEGORIES.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`;
  return html`<section id="categories"><h2>Categories and the SFT firewall</h2>
${mix}
${firewallProof(data)}
</section>`;
}

/** The first receipt, in stage order, that sampled `metric` (as drift picks it). */
function sampleOf(receipts: readonly StageReceipt[], metric: string): { stage: RunStage; values: number[] } | undefined {
  for (const receipt of receipts) {
    const values = receipt.samples[metric];
    if (values !== undefined) return { stage: receipt.stage, values };
  }
  return undefined;
}

const bucketBars = (result: PsiResult, sides: ReadonlyArray<typeof THIS_RUN | typeof PRIOR_RUN>): HistogramBar[] =>
  sides.flatMap((side) => result.buckets.map((b) => ({ side, lower: b.lower, upper: b.upper, share: side === THIS_RUN ? b.current : b.prior })));

async function histogram(data: ReportData, metric: string, distribution: DriftDistribution | undefined): Promise<SafeHtml> {
  const current = sampleOf(data.receipts, metric);
  const prior = data.prior === undefined ? undefined : sampleOf(data.prior.receipts, metric);
  const sizes = html`<p class="note">Sample sizes: this run ${current === undefined ? 'none' : count(current.values.length)}${current === undefined ? '' : ` (${current.stage})`}, prior run ${prior === undefined ? 'none' : count(prior.values.length)}. Samples are the ≤ 10,000 records with the smallest sha256 of their id.</p>`;
  if (current === undefined || current.values.length === 0) {
    return html`<h3><code>${metric}</code></h3><p>No values sampled in this run (the stage that samples it did not run or wrote no rows).</p>${sizes}`;
  }
  let result: PsiResult;
  let sides: Array<typeof THIS_RUN | typeof PRIOR_RUN>;
  let band: SafeHtml;
  let title: string;
  if (prior !== undefined && prior.values.length > 0) {
    result = psi(prior.values, current.values);
    sides = [PRIOR_RUN, THIS_RUN];
    const recorded = distribution === undefined ? undefined : distribution.psi;
    const verdict = distribution?.verdict ?? result.verdict;
    title = `${metric}: this run against the prior, PSI ${psiValue(recorded ?? result.psi)} (${verdict})`;
    const recheck =
      recorded === undefined
        ? html`<span class="bad">drift.json has no PSI for this metric</span>; recomputed from the samples: ${psiValue(result.psi)}`
        : recorded === result.psi
          ? html`recomputed from the two runs’ samples: <span class="ok">the same</span>`
          : html`recomputed from the two runs’ samples: <span class="bad">${psiValue(result.psi)}, not what drift.json holds</span>`;
    band = html`<p>PSI <strong>${psiValue(recorded ?? result.psi)}</strong>, band <strong class="${verdict === 'stable' ? 'ok' : 'bad'}">${verdict}</strong> (stable &lt; 0.10 ≤ minor &lt; 0.25 ≤ major); ${recheck}.</p>`;
  } else {
    // No prior sample: the buckets span this run's own range, and there is no PSI to show.
    result = psi(current.values, current.values);
    sides = [THIS_RUN];
    title = `${metric}: this run (no prior sample to compare)`;
    band = html`<p>No PSI: ${data.drift.prior_run_id === null ? 'this is the first run, there is no prior.' : data.prior === undefined ? 'the prior run’s receipts are gone.' : 'the prior run sampled no values.'}</p>`;
  }
  const chart = await renderChart(
    histogramSpec(bucketBars(result, sides)),
    { title, description: `Share of each run’s sample in 10 equal-width buckets of ${metric}; the table below has the bucket bounds and shares.` },
    'histogram',
  );
  // Buckets as columns: ten narrow columns read better than ten rows of three numbers.
  const table = html`<table class="buckets"><thead><tr><th>bucket</th>${result.buckets.map((_, i) => html`<th>${i + 1}</th>`)}</tr></thead><tbody>
<tr><th>from</th>${result.buckets.map((b) => html`<td class="n">${bound(b.lower)}</td>`)}</tr>
<tr><th>to</th>${result.buckets.map((b) => html`<td class="n">${bound(b.upper)}</td>`)}</tr>
${sides.map((side) => html`<tr><th>${side}</th>${result.buckets.map((b) => html`<td class="n">${percent(side === THIS_RUN ? b.current : b.prior)}</td>`)}</tr>`)}
</tbody></table>`;
  return html`<h3><code>${metric}</code></h3>${band}${chart}${table}${sizes}`;
}

async function distributionSection(data: ReportData): Promise<SafeHtml> {
  const metrics = new Set<string>(data.drift.distributions.map((d) => d.metric));
  for (const receipt of data.receipts) for (const metric of Object.keys(receipt.samples)) metrics.add(metric);
  const blocks: SafeHtml[] = [];
  for (const metric of [...metrics].sort(byCodeUnits)) blocks.push(await histogram(data, metric, data.drift.distributions.find((d) => d.metric === metric)));
  return html`<section id="distributions"><h2>Text lengths</h2>
<p class="note">Each receipt samples text lengths in characters; drift compares them with the prior run by the Population Stability Index over 10 equal-width buckets of the combined range (docs/receipts.md).</p>
${blocks.length === 0 ? html`<p>No stage sampled any values.</p>` : blocks}
</section>`;
}

function driftSection(data: ReportData): SafeHtml {
  const { drift } = data;
  const rows = drift.metrics.map(
    (m) =>
      html`<tr class="metric-${m.flag}"><td><code>${m.metric}</code></td><td class="n">${m.prior === null ? '-' : count(m.prior)}</td><td class="n">${count(m.current)}</td><td class="n">${m.pct_change === null ? '-' : signedPercent(m.pct_change)}</td><td>${m.flag === 'warn' ? html`<span class="flag-warn">warn</span>` : m.flag}</td></tr>`,
  );
  const warned = drift.metrics.filter((m) => m.flag === 'warn').length;
  return html`<section id="drift"><h2>Count drift</h2>
<p>Severity <strong class="flag-${drift.severity}">${drift.severity}</strong>${drift.prior_run_id === null ? ': first run, every metric is first_run.' : html` against <code>${drift.prior_run_id}</code>; ${count(warned)} metric(s) warn.`}
Deterministic violation: <strong class="${drift.deterministic_violation ? 'bad' : 'ok'}">${drift.deterministic_violation ? 'yes' : 'no'}</strong>.</p>
${drift.flags.length > 0 ? html`<p>Flags:</p><ul>${drift.flags.map((f) => html`<li><code>${f}</code></li>`)}</ul>` : html`<p>No flags.</p>`}
<table><thead><tr><th>metric</th><th>prior</th><th>current</th><th>pct_change</th><th>flag</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

async function baselineSection(data: ReportData): Promise<SafeHtml> {
  const history = data.baselines;
  const problems =
    history.problem_count === 0
      ? html``
      : html`<p class="bad">${count(history.problem_count)} line(s) of <code>${history.file}</code> are no baseline entry and are left out:</p><ul>${history.problems.map((p) => html`<li>line ${p.line}: ${p.message}</li>`)}</ul>`;
  if (history.entries.length === 0) {
    return html`<section id="baselines"><h2>Audit baselines</h2><p>${history.exists ? html`<code>${history.file}</code> holds no entry.` : html`No <code>${history.file}</code> yet.`}</p>${problems}</section>`;
  }
  const metrics = HISTORY_METRICS.filter((metric) => history.entries.some((entry) => Object.hasOwn(entry.metrics, metric)));
  const points: HistoryPoint[] = [];
  history.entries.forEach((entry, i) => {
    for (const metric of metrics) if (Object.hasOwn(entry.metrics, metric)) points.push({ run: i + 1, metric, value: entry.metrics[metric]! });
  });
  const first = history.total_entries - history.entries.length + 1;
  const chart = await renderChart(
    historySpec(metrics, points),
    { title: `Counts per run over the last ${history.entries.length} audit baseline entries`, description: 'One line per count, one point per run-all, oldest first; the table below lists the same entries.' },
    'history',
  );
  const isThisRun = (i: number, runId: string): boolean => history.this_run_found && i === history.entries.length - 1 && runId === data.summary.run_id;
  const rows = history.entries.map(
    (entry, i) =>
      html`<tr${isThisRun(i, entry.run_id) ? html` class="this-run"` : html``}><td class="n">${first + i}</td><td><code>${entry.run_id}</code>${isThisRun(i, entry.run_id) ? html` <strong>(this run)</strong>` : html``}</td><td>${entry.recorded_at}</td>${metrics.map((metric) => html`<td class="n">${Object.hasOwn(entry.metrics, metric) ? count(entry.metrics[metric]!) : '-'}</td>`)}</tr>`,
  );
  const scope = history.this_run_found
    ? `up to and including this run’s entry (later runs are not shown)`
    : `the last ones in the file: this run has no entry in it`;
  return html`<section id="baselines"><h2>Audit baselines</h2>
<p class="note">From <code>${history.file}</code>: entries ${count(first)}–${count(history.total_entries)} of ${count(history.total_entries)}, ${scope}. At most ${count(history.limit)} entries are kept for this page.</p>
${problems}
${chart}
<table><thead><tr><th>#</th><th>run id</th><th>recorded_at</th>${metrics.map((m) => html`<th>${m}</th>`)}</tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

function shardSection(shards: readonly ShardReport[]): SafeHtml {
  const missing = shards.filter((s) => s.status === 'missing').length;
  // A run planned phase by phase ran every shard once per stage: the stage is a column then.
  const staged = shards.some((s) => s.stage !== undefined);
  const rows = shards.map(
    (s) =>
      html`<tr class="shard-${s.status}">${staged ? html`<td>${s.stage ?? ''}</td>` : html``}<td class="n">${s.shard}</td><td>${s.status === 'missing' ? html`<span class="bad">missing</span>` : 'done'}</td><td class="n">${count(s.rows_in)}</td><td class="n">${count(s.rows_out)}</td><td>${s.outputs.length === 0 ? '-' : html`<ul>${s.outputs.slice(0, MAX_LISTED_PARTS).map((o) => html`<li><code>${o.path}</code> ${count(o.bytes)} bytes <span class="hash">${o.sha256}</span></li>`)}${s.outputs.length > MAX_LISTED_PARTS ? html`<li>${count(s.outputs.length - MAX_LISTED_PARTS)} more files, ${count(s.outputs.slice(MAX_LISTED_PARTS).reduce((sum, o) => sum + o.bytes, 0))} bytes</li>` : html``}</ul>`}</td></tr>`,
  );
  return html`<section id="shards"><h2>Shards</h2>
<p>${count(shards.length)} shard(s)${staged ? html` over ${count(new Set(shards.map((s) => s.stage)).size)} stage(s)` : html``}, ${missing === 0 ? 'all done' : html`<span class="bad">${count(missing)} missing</span>`}.</p>
<table><thead><tr>${staged ? html`<th>stage</th>` : html``}<th>shard</th><th>status</th><th>rows in</th><th>rows out</th><th>outputs (path, bytes, sha256)</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

function receiptSection(data: ReportData): SafeHtml {
  const files = (stage: RunStage, kind: 'inputs' | 'outputs', list: readonly FileDigest[]): SafeHtml => {
    const listed = list.slice(0, MAX_LISTED_FILES);
    const bytes = list.reduce((sum, file) => sum + file.bytes, 0);
    return html`<h4>${kind === 'inputs' ? 'Inputs' : 'Outputs'} (${count(list.length)} files, ${count(bytes)} bytes)</h4>
<table><thead><tr><th>path</th><th>bytes</th><th>sha256</th></tr></thead><tbody>${listed.map((f) => html`<tr><td><code>${f.path}</code></td><td class="n">${count(f.bytes)}</td><td class="hash">${f.sha256}</td></tr>`)}</tbody></table>
${list.length > listed.length ? html`<p class="note">${count(list.length - listed.length)} more files are listed in ${stage}.json; ${kind === 'inputs' ? 'input_hash' : 'output_hash'} covers them all.</p>` : html``}`;
  };
  const blocks = data.receipts.map(
    (r) => html`<h3>${r.stage}</h3>
<table><tbody><tr><th>input_hash</th><td class="hash">${r.input_hash}</td></tr><tr><th>output_hash</th><td class="hash">${r.output_hash}</td></tr><tr><th>recorded_at</th><td>${r.recorded_at}</td></tr><tr><th>started_at</th><td>${timing('started_at', r.started_at)}</td></tr><tr><th>finished_at</th><td>${timing('finished_at', r.finished_at)}</td></tr></tbody></table>
${files(r.stage, 'outputs', r.outputs)}${files(r.stage, 'inputs', r.inputs)}`,
  );
  return html`<section id="receipts"><h2>Receipts</h2>
<p class="note">input_hash and output_hash are the sha256 of the lines <code>path\\tsha256</code> of each file, sorted by path; every file was hashed while it streamed. run_hash <code>${data.summary.run_hash}</code> covers the stages’ output hashes.</p>
${blocks.length === 0 ? html`<p>No stage ran.</p>` : blocks}
</section>`;
}

/**
 * The page for one run. Async only because Vega's dataflow is: it reads no file and no clock, so
 * the same data always gives the same string.
 */
export async function renderReportHtml(data: ReportData): Promise<string> {
  const sections: SafeHtml[] = [
    verdictSection(data),
    await funnelSection(data),
    await quarantineSection(data),
    await categorySection(data),
    await distributionSection(data),
    driftSection(data),
    await baselineSection(data),
  ];
  if (data.shards !== undefined) sections.push(shardSection(data.shards));
  sections.push(receiptSection(data));
  const nav = SECTIONS.filter(([id]) => id !== 'shards' || data.shards !== undefined);
  const page = html`<!doctype html>
<html lang="en">
<head>
${HEAD_META}
<title>distill-stream run ${data.summary.run_id}: ${data.summary.overall_passed ? 'passed' : 'FAILED'}</title>
<style>${STYLE}</style>
</head>
<body>
<nav aria-label="sections"><ol>${nav.map(([id, title]) => html`<li><a href="#${id}">${title}</a></li>`)}</ol></nav>
${sections}
</body>
</html>
`;
  return page.toString();
}

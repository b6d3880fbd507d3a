/**
 * Generates a realistic standard-layout archive of any size in constant memory: raw `_kb` rows for
 * eight sources (one file at a time, written with stream backpressure), then the evidence and
 * scored-run trees built by the real collect and score stages. Deterministic: the same seed and
 * record count give byte-identical files.
 *
 *   npm run gen -- --records 100000 --out /tmp/archive [--seed 1] [--kb-only]
 *   npm run gen -- --size 1GB --out /tmp/archive
 *
 * Sizes are binary (1 MB = 2^20 bytes). Rows group 2–8 runs per task so preference pairs form, spread
 * every scorer rule over all its outcomes (docs/scoring.md) and mix in a few percent of bad raw rows
 * (malformed JSON, missing created_at, duplicate run_ids, wrong types) and ~1% unsafe file paths.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCollect, runScore } from '../pipelines/stage.js';
import { walkInputFiles } from '../src/io/walk.js';
import { LAYOUT } from '../src/layout.js';
import { mulberry32 } from './prng.js';
import { DEFAULT_MAX_LINE_BYTES } from '../src/io/line-splitter.js';

export const GENERATOR_RECORDED_AT = '2026-05-01T00:00:00.000Z';
export const DEFAULT_SEED = 1;
const MAX_LINE_BYTES = DEFAULT_MAX_LINE_BYTES;

// ---------------------------------------------------------------------------------------------
// Seeded randomness

class Rng {
  readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  hex(length: number): string {
    let out = '';
    while (out.length < length) out += Math.floor(this.next() * 0x100000000).toString(16).padStart(8, '0');
    return out.slice(0, length);
  }
}

/** A weighted choice, its cumulative table built once. */
class Weighted<T> {
  private readonly cumulative: number[] = [];
  private readonly values: T[] = [];
  private readonly total: number;

  constructor(entries: ReadonlyArray<readonly [weight: number, value: T]>) {
    let sum = 0;
    for (const [weight, value] of entries) {
      sum += weight;
      this.cumulative.push(sum);
      this.values.push(value);
    }
    this.total = sum;
  }

  pick(rng: Rng): T {
    const r = rng.next() * this.total;
    let i = 0;
    while (this.cumulative[i]! <= r) i++;
    return this.values[i]!;
  }
}

/** Derives an independent 32-bit seed per (seed, stream) so each file can be generated on its own. */
function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Text: lines drawn from a seeded pool, so a 4 KB text costs a few dozen picks, not hundreds

const ASCII_WORDS = (
  'the patch review finding severity input validation handler request session token cache retry timeout ' +
  'migration schema index query latency regression coverage test assert null boundary config deploy rollback ' +
  'permit contractor risk filing citation event grounded answer source evidence fix refactor module function ' +
  'returns throws error unchecked race lock buffer stream parse encode offset limit user admin payload header ' +
  'upstream downstream worker queue backoff idempotent transaction commit rollback flaky snapshot fixture'
).split(' ');
const ACCENTED_WORDS = ['sévérité', 'élevée', 'façade', 'naïve', 'café', 'Ångström', 'über', 'déjà', 'señal', 'conclusão', 'prüfung', 'résumé', 'ação', 'zażółć'];
const CJK_WORDS = ['审查', '修正', 'テスト', '検証', '리뷰', '확인', '数据', '错误', '風險', '承包商'];
const SYMBOL_WORDS = ['✓', '✗', '⚠️', '🚀', '😀', '🔥', '📎', '🧪', '—', '→', '…', '«ok»', '"quoted"', '`parse()`', 'C:\\temp', 'a\tb'];
const WORD_CLASSES = new Weighted<readonly string[]>([
  [85, ASCII_WORDS],
  [7, ACCENTED_WORDS],
  [4, CJK_WORDS],
  [4, SYMBOL_WORDS],
]);
const LINE_STARTS = ['', '', '', '- ', '- Finding: ', '* ', '> ', '1. ', 'Patch: ', 'Severity: ', 'Note — '];
const POOL_LINES = 4096;

interface TextPool {
  lines: string[];
  bytes: number[];
}

function buildTextPool(seed: number): TextPool {
  const rng = new Rng(deriveSeed(seed, 1000));
  const lines: string[] = [];
  for (let i = 0; i < POOL_LINES; i++) {
    const words: string[] = [];
    const count = rng.int(4, 22);
    for (let w = 0; w < count; w++) words.push(rng.pick(WORD_CLASSES.pick(rng)));
    lines.push(`${rng.pick(LINE_STARTS)}${words.join(' ')}${rng.chance(0.7) ? '.' : ''}`);
  }
  return { lines, bytes: lines.map((line) => Buffer.byteLength(line)) };
}

/** A 0.5–4 KB multi-line text (UTF-8 bytes), with a heading, paragraphs and now and then a code block. */
function makeText(rng: Rng, pool: TextPool, heading: string): string {
  const target = rng.int(512, 4096);
  const parts = [heading];
  let bytes = Buffer.byteLength(heading);
  while (bytes < target) {
    if (rng.chance(0.12)) parts.push('');
    if (rng.chance(0.03)) {
      parts.push('```ts', `\tif (input == null) throw new Error("unchecked input"); // ${rng.hex(8)}`, '```');
      bytes += 70;
    }
    const i = Math.floor(rng.next() * POOL_LINES);
    parts.push(pool.lines[i]!);
    bytes += pool.bytes[i]! + 1;
  }
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Sources: task ids, roles, signals spread over every outcome of each scorer rule (docs/scoring.md)

type Signals = Record<string, unknown> | undefined;
type SignalMaker = (rng: Rng) => Signals;

interface Task {
  id: string;
  /** The file the task is about: source_files[0] when the row lists files. */
  subject: string | undefined;
  runsLeft: number;
}

interface SourcePlan {
  name: string;
  /** Share of all records. */
  weight: number;
  task: (rng: Rng, n: number) => Omit<Task, 'runsLeft'>;
  /** Chance that a row lists source_files (when the task has a subject file). */
  filesChance: number;
  roles: Weighted<string | undefined>;
  signals: Weighted<SignalMaker>;
  metadata?: (rng: Rng) => Record<string, unknown> | undefined;
}

const DIRS = ['src', 'src/core', 'src/io', 'lib', 'app/api', 'packages/web/src', 'services/billing', 'tests', 'docs'];
const FILE_NAMES = ['index', 'parser', 'auth', 'session', 'billing', 'router', 'cache', 'schema', 'worker', 'upload', 'utils', 'config'];
const EXTENSIONS = ['.ts', '.ts', '.tsx', '.py', '.go', '.rs', '.md', '.sql'];
const UNSAFE_PATHS = ['/etc/passwd', '/home/agent/.ssh/id_rsa', '../../secrets.env', 'src/../../outside.ts'];
const PHASES = ['design', 'build', 'test', 'release', 'security', 'migration'];
const FEATURES = ['login', 'signup', 'checkout', 'search', 'export', 'billing', 'onboarding'];
const SCENARIOS = ['flood', 'wildfire', 'outage', 'recall', 'heatwave'];
const TASK_CLASSES = ['retrieval', 'summarize', 'codegen', 'triage', 'extract'];
const SITES = ['docs', 'pricing', 'changelog', 'status', 'blog'];
const RECOMMENDATIONS = ['approve', 'deny', 'approve_with_conditions', 'escalate'];
const RISK_MARKERS = ['late_filing', 'unlicensed_sub', 'lien', 'insurance_gap', 'prior_violation', 'bond_shortfall'];
const CONTRACTORS = ['Acme Ltd', 'Müller Bau GmbH', 'Société Générale de Construction', '株式会社タナカ建設', "O'Brien & Sons", 'Pérez Hermanos S.A.', 'Nordic Build AB'];
const CORPORA = ['prd', 'change-proposal', 'runbook', 'api-docs', 'incident-log', 'permits-2025'];
const MODEL_NAMES = new Weighted<string | undefined>([
  [25, 'gpt-omni'],
  [20, 'claude-opus'],
  [15, 'claude-sonnet'],
  [10, 'mini'],
  [10, 'llama-3.1-70b'],
  [10, 'qwen2.5-coder-32b'],
  [5, 'mistral-large'],
  [5, undefined],
]);

const repoPath = (rng: Rng, n: number): string => `${rng.pick(DIRS)}/${rng.pick(FILE_NAMES)}-${n.toString(36)}${rng.pick(EXTENSIONS)}`;
const roles = (entries: ReadonlyArray<readonly [number, string | undefined]>): Weighted<string | undefined> => new Weighted(entries);
const signals = (entries: ReadonlyArray<readonly [number, SignalMaker]>): Weighted<SignalMaker> => new Weighted(entries);
const noSignals: SignalMaker = () => undefined;

const SOURCES: readonly SourcePlan[] = [
  {
    name: 'scrum_reviews',
    weight: 20,
    task: (rng, n) => {
      const file = repoPath(rng, n);
      return { id: `repo:${file}`, subject: file };
    },
    filesChance: 0.95,
    roles: roles([[60, 'executor'], [25, 'reviewer'], [8, 'planner'], [3, 'critic'], [4, undefined]]),
    signals: signals([
      [28, (rng) => ({ accepted_on_attempt: 1, max_attempts: rng.int(2, 5) })],
      [22, (rng) => {
        const max = rng.int(2, 5);
        return { accepted_on_attempt: rng.int(2, max), max_attempts: max };
      }],
      [22, (rng) => {
        const max = rng.int(2, 5);
        return { accepted_on_attempt: null, attempts: max + rng.int(0, 1), max_attempts: max };
      }],
      [4, (rng) => {
        const max = rng.int(2, 5);
        return { accepted_on_attempt: null, attempts: max - 1, max_attempts: max };
      }],
      [3, () => ({ accepted_on_attempt: null, max_attempts: 3 })],
      [3, (rng) => ({ accepted_on_attempt: rng.int(4, 7), max_attempts: 3 })],
      [3, () => ({ accepted_on_attempt: 2 })],
      [3, () => ({ attempts: 2 })],
      [3, (rng) => ({ accepted_on_attempt: rng.pick(['1', true, 1.5]) })],
      [2, noSignals],
    ]),
  },
  {
    name: 'observer_reviews',
    weight: 15,
    task: (rng, n) => ({ id: `obs:${rng.pick(FEATURES)}-${n}`, subject: repoPath(rng, n) }),
    filesChance: 0.8,
    roles: roles([[80, 'reviewer'], [10, 'executor'], [5, 'planner'], [5, undefined]]),
    signals: signals([
      [35, () => ({ verdict: 'accept' })],
      [20, () => ({ verdict: 'cycle' })],
      [30, () => ({ verdict: 'reject' })],
      [6, (rng) => ({ verdict: rng.pick(['ACCEPT', 'needs-info', 'maybe']) })],
      [4, () => ({ confidence: 0.7 })],
      [3, () => ({ verdict: true })],
      [2, noSignals],
    ]),
  },
  {
    name: 'audits',
    weight: 10,
    task: (rng, n) => ({ id: `phase:${rng.pick(PHASES)}-${n}`, subject: rng.chance(0.5) ? repoPath(rng, n) : undefined }),
    filesChance: 0.9,
    roles: roles([[70, 'reviewer'], [15, 'executor'], [10, 'planner'], [5, undefined]]),
    signals: signals([
      [12, () => ({ max_severity: 'none' })],
      [10, () => ({ max_severity: 'info' })],
      [12, () => ({ max_severity: 'low' })],
      [12, () => ({ max_severity: 'medium' })],
      [12, () => ({ max_severity: 'high' })],
      [8, () => ({ max_severity: 'critical' })],
      [10, () => ({ passed: true })],
      [8, () => ({ passed: false })],
      [4, (rng) => ({ max_severity: null, passed: rng.chance(0.5) })],
      [4, () => ({ max_severity: 'severe' })],
      [3, () => ({ max_severity: 5 })],
      [3, () => ({ findings: 0 })],
      [2, () => ({ passed: 'yes' })],
      [2, noSignals],
    ]),
  },
  {
    name: 'auto_apply',
    weight: 15,
    task: (rng, n) => {
      const file = repoPath(rng, n);
      return { id: `patch:${file}`, subject: file };
    },
    filesChance: 0.97,
    roles: roles([[85, 'applier'], [8, 'executor'], [4, 'planner'], [3, undefined]]),
    signals: signals([
      [35, () => ({ apply_status: 'applied', tests_passed: true })],
      [15, () => ({ apply_status: 'applied', tests_passed: false })],
      [5, () => ({ apply_status: 'applied' })],
      [2, () => ({ apply_status: 'applied', tests_passed: 'true' })],
      [15, () => ({ apply_status: 'reverted' })],
      [15, () => ({ apply_status: 'failed' })],
      [5, () => ({ apply_status: 'pending' })],
      [3, () => ({ tests_passed: true })],
      [3, () => ({ apply_status: 1 })],
      [2, noSignals],
    ]),
  },
  {
    name: 'contract_analyses',
    weight: 10,
    task: (_rng, n) => ({ id: `permit:P-${100000 + n}`, subject: `permits/P-${100000 + n}/application.pdf` }),
    filesChance: 0.2,
    roles: roles([[75, 'executor'], [15, 'reviewer'], [7, 'planner'], [3, undefined]]),
    signals: signals([
      [40, (rng) => ({ recommendation: rng.pick(RECOMMENDATIONS), risk_markers: RISK_MARKERS.filter(() => rng.chance(0.3)).concat(rng.pick(RISK_MARKERS)) })],
      [15, (rng) => ({ recommendation: rng.pick(RECOMMENDATIONS), risk_markers: [] })],
      [8, (rng) => ({ recommendation: rng.pick(RECOMMENDATIONS) })],
      [5, (rng) => ({ recommendation: rng.pick(RECOMMENDATIONS), risk_markers: null })],
      [5, () => ({ recommendation: '', risk_markers: ['lien'] })],
      [5, () => ({ risk_markers: ['lien'] })],
      [3, () => ({ recommendation: null })],
      [3, () => ({ recommendation: 3 })],
      [3, () => ({ recommendation: 'approve', risk_markers: 'late_filing' })],
      [3, noSignals],
    ]),
    metadata: (rng) => {
      const r = rng.next();
      if (r < 0.05) return undefined;
      const contractor = r < 0.85 ? rng.pick(CONTRACTORS) : r < 0.93 ? '' : 4711;
      return { contractor, permit_value_usd: rng.int(5, 5000) * 1000, jurisdiction: rng.pick(['Travis County', 'Île-de-France', '東京都', 'Ontario']) };
    },
  },
  {
    name: 'outcomes',
    weight: 10,
    task: (rng, n) => ({ id: `scenario:${rng.pick(SCENARIOS)}-${n}:v${rng.int(1, 4)}`, subject: `scenarios/${rng.pick(SCENARIOS)}.yaml` }),
    filesChance: 0.3,
    roles: roles([[80, 'executor'], [12, 'planner'], [5, 'reviewer'], [3, undefined]]),
    signals: signals([
      [35, (rng) => ({ outcome: 'success', citations: rng.int(1, 6) })],
      [12, () => ({ outcome: 'success', citations: 0 })],
      [15, () => ({ outcome: 'partial' })],
      [20, () => ({ outcome: 'failure' })],
      [4, () => ({ outcome: 'success' })],
      [2, () => ({ outcome: 'success', citations: -1 })],
      [2, () => ({ outcome: 'success', citations: '2' })],
      [4, () => ({ outcome: 'timeout' })],
      [3, () => ({ citations: 2 })],
      [2, () => ({ outcome: 1 })],
      [1, noSignals],
    ]),
  },
  {
    name: 'mode_experiments',
    weight: 12,
    task: (rng, n) => {
      const taskClass = rng.pick(TASK_CLASSES);
      return { id: `${taskClass}-${n.toString(36)}`, subject: `eval/${taskClass}.yaml` };
    },
    filesChance: 0.6,
    roles: roles([[80, 'executor'], [10, 'reviewer'], [7, 'planner'], [3, undefined]]),
    signals: signals([
      // 1 - r² skews toward grounded runs: about a third each accepted, partially accepted, rejected.
      [86, (rng) => ({ grounded_fraction: Math.round((1 - rng.next() ** 2) * 1000) / 1000, samples: rng.int(10, 200) })],
      [2, () => ({ grounded_fraction: 0.9 })],
      [2, () => ({ grounded_fraction: 0.6 })],
      [4, () => ({ grounded_fraction: 'high' })],
      [3, () => ({ samples: 50 })],
      [2, () => ({ grounded_fraction: null })],
      [1, noSignals],
    ]),
  },
  {
    name: 'web_extractions',
    weight: 8,
    task: (rng, n) => {
      const site = rng.pick(SITES);
      return { id: `crawl:${site}-${n}`, subject: `crawl/${site}/index.html` };
    },
    filesChance: 0.4,
    roles: roles([[70, 'executor'], [15, 'extractor'], [10, 'planner'], [5, undefined]]),
    signals: signals([
      [70, (rng) => ({ pages: rng.int(1, 40), selectors_matched: rng.int(0, 12) })],
      [30, noSignals],
    ]),
  },
];

// ---------------------------------------------------------------------------------------------
// Rows

/** created_at spans 30 days before recorded_at, rising through each file with a few hours of jitter. */
const SPAN_START_MS = Date.UTC(2026, 3, 1);
const SPAN_MS = 30 * 24 * 3600 * 1000;
const JITTER_MS = 6 * 3600 * 1000;
const OFFSETS = [
  ['+02:00', 120],
  ['-05:00', -300],
  ['+05:30', 330],
  ['+09:00', 540],
] as const;

function createdAt(rng: Rng, fraction: number): string {
  const ms = Math.floor(SPAN_START_MS + fraction * SPAN_MS + (rng.next() - 0.5) * JITTER_MS);
  const r = rng.next();
  if (r < 0.7) return new Date(ms).toISOString();
  if (r < 0.85) return `${new Date(ms).toISOString().slice(0, 19)}Z`;
  const [suffix, minutes] = rng.pick(OFFSETS);
  return `${new Date(ms + minutes * 60_000).toISOString().slice(0, 19)}${suffix}`;
}

/** Bad raw rows (docs/quarantine.md: schema_violation and duplicate_id), about 3% of all. */
type Defect = 'none' | 'malformed' | 'no_created_at' | 'duplicate_id' | 'wrong_type' | 'blank_line';
const DEFECTS = new Weighted<Defect>([
  [969, 'none'],
  [10, 'malformed'],
  [5, 'no_created_at'],
  [7, 'duplicate_id'],
  [8, 'wrong_type'],
  [1, 'blank_line'],
]);
const WRONG_TYPES: ReadonlyArray<readonly [field: string, value: unknown]> = [
  ['model_role', null],
  ['task_id', 42],
  ['source_files', 'src/app.ts'],
  ['created_at', '2026-02-30T10:00:00Z'],
  ['text', 12],
  ['run_id', ''],
  ['retrieved_context', { pathway_fingerprints_seen: -1 }],
];

interface GeneratedLine {
  line: string;
  /** The row should pass collect (not a bad row, not a blank line). */
  good: boolean;
}

const runId = (source: string, n: number): string => `${source}-${String(n).padStart(7, '0')}`;

/** The `count` raw lines of one source, from its own derived seed. */
function* sourceLines(plan: SourcePlan, sourceIndex: number, count: number, seed: number, pool: TextPool): Generator<GeneratedLine> {
  const rng = new Rng(deriveSeed(seed, sourceIndex));
  let task: Task | undefined;
  let tasks = 0;
  let previousText = '';
  for (let n = 0; n < count; n++) {
    const defect = DEFECTS.pick(rng);
    if (defect === 'blank_line') {
      yield { line: rng.pick(['', '   ', '\t']), good: false };
      continue;
    }
    if (task === undefined || task.runsLeft === 0) {
      task = { ...plan.task(rng, tasks++), runsLeft: rng.int(2, 8) };
      previousText = '';
    }
    task.runsLeft--;
    const row: Record<string, unknown> = {
      run_id: defect === 'duplicate_id' && n > 0 ? runId(plan.name, rng.int(Math.max(0, n - 50), n - 1)) : runId(plan.name, n),
      task_id: task.id,
    };
    const role = plan.roles.pick(rng);
    if (role !== undefined) row.model_role = role;
    const model = MODEL_NAMES.pick(rng);
    if (model !== undefined) row.model_name = model;
    // A few runs repeat the text of the task's previous run (preference: invalid_preference_pairing),
    // a few are blank or have none (empty_content).
    const textKind = rng.next();
    if (textKind < 0.005 && previousText !== '') row.text = previousText;
    else if (textKind < 0.008) row.text = '  \n\t ';
    else if (textKind >= 0.01) {
      previousText = makeText(rng, pool, `## ${task.id} — run ${n}`);
      row.text = previousText;
    }
    if (task.subject !== undefined && rng.chance(plan.filesChance)) {
      const files = [task.subject];
      for (let extra = rng.int(0, 2); extra > 0; extra--) files.push(repoPath(rng, rng.int(0, 5000)));
      if (rng.chance(0.01)) files[rng.int(0, files.length - 1)] = rng.pick(UNSAFE_PATHS);
      row.source_files = files;
    }
    if (rng.chance(0.6)) {
      const context: Record<string, unknown> = {};
      if (rng.chance(0.8)) context.matrix_corpora = CORPORA.filter(() => rng.chance(0.3));
      if (rng.chance(0.8)) context.pathway_fingerprints_seen = rng.int(0, 12);
      row.retrieved_context = context;
    }
    const metadata = plan.metadata?.(rng) ?? (rng.chance(0.3) ? { duration_ms: rng.int(200, 90_000), tool_calls: rng.int(0, 30) } : undefined);
    if (metadata !== undefined) row.metadata = metadata;
    const rowSignals = plan.signals.pick(rng)(rng);
    if (rowSignals !== undefined) row.signals = rowSignals;
    if (defect !== 'no_created_at') row.created_at = createdAt(rng, n / count);
    // Fields collect drops (they still enter sig_hash).
    if (rng.chance(0.25)) row.trace_id = rng.hex(16);
    if (defect === 'wrong_type') {
      const [field, value] = rng.pick(WRONG_TYPES);
      row[field] = value;
    }
    const line = JSON.stringify(row);
    if (defect === 'malformed') {
      yield { line: line.slice(0, rng.int(10, line.length - 1)), good: false };
      continue;
    }
    yield { line, good: defect === 'none' || defect === 'duplicate_id' };
  }
}

/** Records per source: shares by weight, the remainder to the first sources, in a fixed order. */
function recordsPerSource(records: number): number[] {
  const total = SOURCES.reduce((sum, plan) => sum + plan.weight, 0);
  const counts = SOURCES.map((plan) => Math.floor((records * plan.weight) / total));
  let left = records - counts.reduce((sum, n) => sum + n, 0);
  for (let i = 0; left > 0; i = (i + 1) % counts.length, left--) counts[i]!++;
  return counts;
}

/** Joins lines into ~64 KB chunks: one write per chunk, not per row. */
function* chunks(lines: Iterable<GeneratedLine>): Generator<string> {
  let parts: string[] = [];
  let length = 0;
  for (const { line } of lines) {
    parts.push(line, '\n');
    length += line.length + 1;
    if (length >= 64 * 1024) {
      yield parts.join('');
      parts = [];
      length = 0;
    }
  }
  if (parts.length > 0) yield parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Size estimate

/**
 * Bytes an evidence row adds to its raw row: schema_version and the provenance object (~220 bytes)
 * less the trace_id collect drops from a quarter of the rows. With the scored-run line (422 bytes on
 * average), measured on a 16,000-record archive: the estimate lands within 1% of the real size.
 */
const EVIDENCE_OVERHEAD_BYTES = 200;
const SCORED_ROW_BYTES = 420;
const SAMPLE_PER_SOURCE = 2000;

/** Records for an archive whose evidence + scored bytes come to about `bytes`, from a sample of the real rows. */
export function recordsForSize(bytes: number, seed = DEFAULT_SEED): number {
  const pool = buildTextPool(seed);
  const total = SOURCES.reduce((sum, plan) => sum + plan.weight, 0);
  let perRecord = 0;
  SOURCES.forEach((plan, index) => {
    let sum = 0;
    for (const { line, good } of sourceLines(plan, index, SAMPLE_PER_SOURCE, seed, pool)) {
      if (good) sum += Buffer.byteLength(line) + 1 + EVIDENCE_OVERHEAD_BYTES + SCORED_ROW_BYTES;
    }
    perRecord += (sum / SAMPLE_PER_SOURCE) * (plan.weight / total);
  });
  return Math.max(SOURCES.length, Math.round(bytes / perRecord));
}

const UNITS: Record<string, number> = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 };

/** `1GB`, `50MB`, `1.5GB`, `123456` (bytes); binary units. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?B)?$/i.exec(text.trim());
  if (match === null) throw new RangeError(`not a size: '${text}' (try 50MB or 1GB)`);
  return Math.round(Number(match[1]) * UNITS[(match[2] ?? 'B').toUpperCase()]!);
}

// ---------------------------------------------------------------------------------------------
// The archive

export interface GenerateOptions {
  out: string;
  records: number;
  seed?: number;
  kbOnly?: boolean;
  /** Progress lines; silent when absent. */
  log?: (message: string) => void;
}

export interface StageCounts {
  in: number;
  out: number;
  quarantined: number;
}

export interface ArchiveSummary {
  records: number;
  seed: number;
  kbBytes: number;
  evidenceBytes: number;
  scoredBytes: number;
  collect: StageCounts | undefined;
  score: StageCounts | undefined;
}

/** Total bytes of the `*.jsonl` files under a folder, in walk order (the index folder holds none). */
async function jsonlBytes(folder: string): Promise<number> {
  let bytes = 0;
  for await (const file of walkInputFiles(folder)) bytes += file.size;
  return bytes;
}

export async function generateArchive(options: GenerateOptions): Promise<ArchiveSummary> {
  const seed = options.seed ?? DEFAULT_SEED;
  const log = options.log ?? (() => {});
  if (!Number.isSafeInteger(options.records) || options.records < 0) throw new RangeError(`records must be a non-negative integer, got ${options.records}`);
  const root = path.resolve(options.out);
  const kb = path.join(root, LAYOUT.kb);
  await mkdir(kb, { recursive: true });
  const pool = buildTextPool(seed);
  const counts = recordsPerSource(options.records);
  let started = performance.now();
  for (const [index, plan] of SOURCES.entries()) {
    const lines = sourceLines(plan, index, counts[index]!, seed, pool);
    await pipeline(Readable.from(chunks(lines)), createWriteStream(path.join(kb, `${plan.name}.jsonl`)));
  }
  const kbBytes = await jsonlBytes(kb);
  log(`_kb: ${options.records} records, ${mb(kbBytes)} MB in ${seconds(started)} s`);
  const summary: ArchiveSummary = { records: options.records, seed, kbBytes, evidenceBytes: 0, scoredBytes: 0, collect: undefined, score: undefined };
  if (options.kbOnly) return summary;

  const run = { root, recordedAt: GENERATOR_RECORDED_AT, maxLineBytes: MAX_LINE_BYTES };
  started = performance.now();
  const { counts: collect } = await runCollect(run);
  summary.collect = { in: collect.in, out: collect.out, quarantined: collect.quarantined };
  summary.evidenceBytes = await jsonlBytes(path.join(root, LAYOUT.evidence));
  log(`collect: in=${collect.in} out=${collect.out} quarantined=${collect.quarantined}, ${mb(summary.evidenceBytes)} MB in ${seconds(started)} s`);
  started = performance.now();
  const { counts: score } = await runScore(run);
  summary.score = { in: score.in, out: score.out, quarantined: score.quarantined };
  summary.scoredBytes = await jsonlBytes(path.join(root, LAYOUT.scoredRuns));
  log(`score: in=${score.in} out=${score.out} quarantined=${score.quarantined}, ${mb(summary.scoredBytes)} MB in ${seconds(started)} s`);
  return summary;
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1);

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = 'usage: generate --out DIR (--records N | --size 1GB) [--seed S] [--kb-only]';

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      records: { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string' },
      'kb-only': { type: 'boolean', default: false },
    },
  });
  if (values.out === undefined || (values.records === undefined) === (values.size === undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`--seed must be an integer, got '${values.seed}'`);
  const target = values.size === undefined ? undefined : parseSize(values.size);
  const records = target === undefined ? Number(values.records) : recordsForSize(target, seed);
  const log = (message: string): void => void process.stderr.write(`${message}\n`);
  if (target !== undefined) log(`--size ${values.size}: ${records} records (seed ${seed})`);
  const summary = await generateArchive({ out: values.out, records, seed, kbOnly: values['kb-only'], log });
  const archiveBytes = summary.evidenceBytes + summary.scoredBytes;
  if (!summary.collect) log(`wrote ${mb(summary.kbBytes)} MB of _kb rows to ${path.resolve(values.out)}`);
  else {
    const vsTarget = target === undefined ? '' : ` (${((archiveBytes / target) * 100).toFixed(1)}% of the target)`;
    log(`evidence + scored: ${archiveBytes} bytes = ${mb(archiveBytes)} MB${vsTarget}; _kb ${mb(summary.kbBytes)} MB; in ${path.resolve(values.out)}`);
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`generate: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof RangeError || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1;
  });
}

/**
 * The built-in ruleset, compiled from its rules file, against the same rules written as plain
 * functions (test/hand-written-oracle.ts, the property tests' oracle), in one process
 * (`npm run bench:rules`). The two run in alternating rounds over the same 1,000 evidence records
 * per source, so load on a shared machine falls on both alike; the table gives the 25th percentile
 * and median of the rounds in ns/record, and their ratio. Outputs are checked equal before timing.
 */
import os from 'node:os';
import { toEvidenceRecord } from '../src/core/evidence.js';
import { Rejection } from '../src/core/rejection.js';
import { scoreEvidence } from '../src/core/scorer.js';
import { instructionFor } from '../src/core/synthesis.js';
import type { JoinedEvidence } from '../src/records.js';
import type { EvidenceRecord } from '../src/records.js';
import { handWrittenInstruction, handWrittenScore } from '../test/hand-written-oracle.js';
import { evidenceText } from '../src/core/evidence-text.js';

const RECORDS = 1000;
const ROUNDS = 400;
const WARMUP_ROUNDS = 200;

/** One row per built-in rule, with signals that reach a decision, and scrum's longest path. */
const CASES: ReadonlyArray<[name: string, source: string, signals: Record<string, unknown>]> = [
  ['scrum_reviews', 'scrum_reviews', { accepted_on_attempt: 1, max_attempts: 3 }],
  ['scrum_reviews (null)', 'scrum_reviews', { accepted_on_attempt: null, attempts: 3, max_attempts: 3 }],
  ['observer_reviews', 'observer_reviews', { verdict: 'accept' }],
  ['audits', 'audits', { max_severity: 'low' }],
  ['auto_apply', 'auto_apply', { apply_status: 'applied', tests_passed: true }],
  ['contract_analyses', 'contract_analyses', { recommendation: 'approve', risk_markers: ['late'] }],
  ['outcomes', 'outcomes', { outcome: 'success', citations: 2 }],
  ['mode_experiments', 'mode_experiments', { grounded_fraction: 0.93 }],
  ['web_extractions', 'web_extractions', {}],
];

function records(source: string, signals: Record<string, unknown>): EvidenceRecord[] {
  return Array.from({ length: RECORDS }, (_, n) => {
    const raw = { run_id: `${source}-${n}`, task_id: `task:${n % 97}`, text: 'x', signals, created_at: '2026-05-01T10:00:00Z' };
    const record = toEvidenceRecord(raw, { source_file: `data/_kb/${source}.jsonl`, line_offset: n }, '2026-05-01T00:00:00.000Z');
    if (record instanceof Rejection) throw new Error(`bench input rejected: ${record.errors.join('; ')}`);
    return record;
  });
}

function joined(n: number): JoinedEvidence {
  const sources = ['scrum_reviews', 'audits', 'contract_analyses', 'web_extractions'];
  return {
    task_id: `phase:${n}`,
    model_role: 'executor',
    model_name: 'm',
    source_files: ['src/a.ts'],
    matrix_corpora: [],
    pathway_fingerprints_seen: 0,
    contractor: n % 2 === 0 ? '' : 'Acme',
    source_file: `data/_kb/${sources[n % sources.length]!}.jsonl`,
    text: evidenceText('t'),
  };
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench input check failed: ${what}`);
}

const microseconds = (run: () => void): number => {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1000;
};

const quantile = (values: readonly number[], q: number): number => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;

function main(): void {
  const pairs: [name: string, handWritten: () => void, rules: () => void][] = [];
  for (const [name, source, signals] of CASES) {
    const rows = records(source, signals);
    check(rows.every((row) => JSON.stringify(scoreEvidence(row)) === JSON.stringify(handWrittenScore(row))), `same scores for ${name}`);
    pairs.push([`scorer: ${name}`, () => rows.forEach((row) => handWrittenScore(row)), () => rows.forEach((row) => scoreEvidence(row))]);
  }
  const evidence = Array.from({ length: RECORDS }, (_, n) => joined(n));
  check(evidence.every((e) => instructionFor(e) === handWrittenInstruction(e)), 'same instructions');
  pairs.push(['instruction (4 sources)', () => evidence.forEach((e) => handWrittenInstruction(e)), () => evidence.forEach((e) => instructionFor(e))]);

  for (const [, handWritten, rules] of pairs) {
    for (let round = 0; round < WARMUP_ROUNDS; round++) {
      handWritten();
      rules();
    }
  }
  const lines: string[] = [];
  for (const [name, handWritten, rules] of pairs) {
    const a: number[] = [];
    const b: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so neither always runs on a warmer cache.
      if (round % 2 === 0) {
        a.push(microseconds(handWritten));
        b.push(microseconds(rules));
      } else {
        b.push(microseconds(rules));
        a.push(microseconds(handWritten));
      }
    }
    const ns = (values: number[], q: number): string => ((quantile(values, q) * 1000) / RECORDS).toFixed(0);
    lines.push(`| ${name} | ${ns(a, 0.25)} | ${ns(a, 0.5)} | ${ns(b, 0.25)} | ${ns(b, 0.5)} | ${(quantile(b, 0.25) / quantile(a, 0.25)).toFixed(2)} |`);
  }
  process.stdout.write(
    `distill-stream rules vs hand-written, ${new Date().toISOString()}\n` +
      `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}; Node ${process.version}\n` +
      `${RECORDS} records per round, ${ROUNDS} alternating rounds; ns/record\n\n` +
      `| step | hand-written p25 | median | rules p25 | median | ratio (p25) |\n|---|---:|---:|---:|---:|---:|\n${lines.join('\n')}\n`,
  );
}

main();

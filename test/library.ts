/**
 * The library called in-process, pinned the way the CLI tests pin their runs. A test that checks a
 * gate or a stage's bytes calls these instead of spawning the CLI: the same code runs, without a
 * Node start-up and the whole command table loaded per call.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StageNotes } from '../pipelines/hints.js';
import { runAll, type RunAllOptions, type RunAllResult } from '../pipelines/run-all.js';
import { printStageSummary } from '../src/cli/summary.js';
import { Terminal } from '../src/cli/terminal.js';
import { toEvidenceRecord } from '../src/core/evidence.js';
import { Rejection } from '../src/core/rejection.js';
import { toScoredRun } from '../src/core/scorer.js';
import type { StageCounts } from '../src/engine/counts.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import type { EvidenceRecord, ScoredRun } from '../src/records.js';
import { PACKAGE_ROOT } from './helpers.js';

/** The tool version the CLI stamps into receipts (package.json's). */
export const TOOL_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Each dataset and quarantine export-all writes on the standard layout, and its golden in data-fixtures/golden. */
export const EXPORT_GOLDENS: ReadonlyArray<readonly [file: string, golden: string]> = [
  ['exports/sft/instruction_response.jsonl', 'sft.jsonl'],
  ['exports/quarantine/sft.jsonl', 'sft.quarantine.jsonl'],
  ['exports/rag/playbooks.jsonl', 'rag.jsonl'],
  ['exports/quarantine/rag.jsonl', 'rag.quarantine.jsonl'],
  ['exports/preference/chosen_rejected.jsonl', 'preference.jsonl'],
  ['exports/quarantine/preference.jsonl', 'preference.quarantine.jsonl'],
];

/** `--max-line-bytes 65536`, the fixture's line limit. */
export const FIXTURE_MAX_LINE_BYTES = 65536;

/** run-all's options as `distill-stream run-all --root ROOT --run-id ID --recorded-at … --max-line-bytes 65536` gives them. */
export const runAllOptions = (root: string, runId: string, recordedAt: string, options: Partial<RunAllOptions> = {}): RunAllOptions => ({
  root,
  runId,
  recordedAt,
  toolVersion: TOOL_VERSION,
  maxLineBytes: FIXTURE_MAX_LINE_BYTES,
  flags: {},
  continueOnFailure: false,
  driftThreshold: undefined,
  ...options,
});

/** run-all on `root` as `distill-stream run-all --root ROOT --run-id ID --recorded-at … --max-line-bytes 65536` runs it. */
export const runAllOn = (root: string, runId: string, recordedAt: string, options: Partial<RunAllOptions> = {}): Promise<RunAllResult> => runAll(runAllOptions(root, runId, recordedAt, options));

/** The summary line a stage command prints on stderr for these counts (`--json` when asked), without its newline. */
export function summaryLine(stage: string, counts: StageCounts, options: { json?: boolean; index?: IndexReport; notes?: StageNotes } = {}): string {
  let text = '';
  const sink = { write: (chunk: string): boolean => ((text += chunk), true) } as unknown as NodeJS.WritableStream;
  printStageSummary(new Terminal(sink), options.json ?? false, stage, counts, options.index, options.notes);
  return text.replace(/\n$/, '');
}

/** The `--json` summary of a stage run, as the CLI prints it. */
export interface JsonSummary {
  stage: string;
  read: number;
  exported: number;
  quarantined: number;
  unpaired?: number;
  quarantined_pairs?: number;
  by_reason: Record<string, number>;
}

export const jsonSummary = (stage: string, counts: StageCounts): JsonSummary => JSON.parse(summaryLine(stage, counts, { json: true })) as JsonSummary;

/** A raw scrum_reviews row that passes every SFT gate, with `overrides`. */
export const scrumRow = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  run_id: 'r1',
  task_id: 't1',
  model_role: 'executor',
  text: 'A good answer.',
  signals: { accepted_on_attempt: 1 },
  created_at: '2026-05-01T00:00:00Z',
  ...overrides,
});

/** Writes the evidence of raw `rows` (as collect makes it from data/_kb/scrum_reviews.jsonl) to `file`; their ScoredRuns, for the test to feed an export. */
export async function writeEvidence(file: string, rows: ReadonlyArray<Record<string, unknown>>): Promise<ScoredRun[]> {
  const recordedAt = '2026-05-01T00:00:00.000Z';
  const records = rows.map((row, line) => {
    const record = toEvidenceRecord(row, { source_file: 'data/_kb/scrum_reviews.jsonl', line_offset: line }, recordedAt);
    assert.ok(!(record instanceof Rejection));
    return record as EvidenceRecord;
  });
  await writeFile(file, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
  return records.map((record) => toScoredRun(record, recordedAt));
}

/**
 * The library called in-process, pinned the way the CLI tests pin their runs. A test that checks a
 * gate or a stage's bytes calls these instead of spawning the CLI: the same code runs, without a
 * Node start-up and the whole command table loaded per call.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runAll, type RunAllOptions, type RunAllResult } from '../pipelines/run-all.js';
import { printStageSummary } from '../src/cli/summary.js';
import { Terminal } from '../src/cli/terminal.js';
import type { StageCounts } from '../src/engine/counts.js';
import type { IndexReport } from '../src/io/evidence-index.js';
import { PACKAGE_ROOT } from './helpers.js';

/** The tool version the CLI stamps into receipts (package.json's). */
export const TOOL_VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** `--max-line-bytes 65536`, the fixture's line limit. */
export const FIXTURE_MAX_LINE_BYTES = 65536;

/** run-all on `root` as `distill-stream run-all --root ROOT --run-id ID --recorded-at … --max-line-bytes 65536` runs it. */
export function runAllOn(root: string, runId: string, recordedAt: string, options: Partial<RunAllOptions> = {}): Promise<RunAllResult> {
  return runAll({
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
}

/** The summary line a stage command prints on stderr for these counts (`--json` when asked), without its newline. */
export function summaryLine(stage: string, counts: StageCounts, options: { json?: boolean; index?: IndexReport } = {}): string {
  let text = '';
  const sink = { write: (chunk: string): boolean => ((text += chunk), true) } as unknown as NodeJS.WritableStream;
  printStageSummary(new Terminal(sink), options.json ?? false, stage, counts, options.index);
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

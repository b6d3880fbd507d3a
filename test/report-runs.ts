/** Real runs for the report page's tests: the fixture archive through run-all (in-process), with hostile strings injected. */
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunAllResult } from '../pipelines/run-all.js';
import { runAllOn } from './library.js';

export const RECORDED_AT = '2026-05-02T00:00:00.000Z';

/** Strings that break out of HTML, attributes, SVG or scripts when they are not escaped. */
export const HOSTILE = {
  script: '</script><script>alert(1)</script>',
  img: '<img src=x onerror=alert(1)>',
  svg: '</svg><script>alert(2)</script>',
  quotes: `"double" 'single'`,
  separator: 'line\u2028separator\u2029end',
} as const;
export const HOSTILE_TEXT = Object.values(HOSTILE).join(' ');

/** A _kb source whose name is markup; run-all reads it like any other source. */
export const HOSTILE_KB_FILE = `hostile<img src=x onerror=alert(1)>'".jsonl`;
/** A run id the CLI accepts (one path segment) that is markup, quotes and a line separator. */
export const HOSTILE_RUN_ID = `run <img src=x onerror=alert(1)> "q" 'a' \u2028 end`;

/**
 * Adds a raw row that collect quarantines (no created_at) from a source named with markup; its
 * run_id, task_id and text carry every hostile string into the quarantine row's source record.
 */
export async function addHostileSource(root: string): Promise<void> {
  const row = { run_id: HOSTILE.script, task_id: `${HOSTILE.img} ${HOSTILE.quotes}`, text: `${HOSTILE.svg} ${HOSTILE.separator}` };
  await writeFile(path.join(root, 'data/_kb', HOSTILE_KB_FILE), `${JSON.stringify(row)}\n`);
}

/** Longer outcome texts, so this run's text lengths differ from the prior's and PSI has something to measure. */
export async function addLongOutcomes(root: string, n: number): Promise<void> {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const text = `Event ${i}: ${'evacuated the valley and reported back [1][2]. '.repeat(20 + i * 7)}`;
    rows.push(JSON.stringify({ run_id: `out-long-${i}`, task_id: 'scenario:flood:v3', model_role: 'executor', text, signals: { outcome: 'success', citations: 2 }, created_at: '2026-05-02T09:00:00Z' }));
  }
  await appendFile(path.join(root, 'data/_kb/outcomes.jsonl'), `${rows.join('\n')}\n`);
}

/** run-all on `root` with recorded_at pinned (and the fixture's line limit); `failValidation` names a stage whose validation fails. */
export function runAll(root: string, runId: string, failValidation?: string): Promise<RunAllResult> {
  return runAllOn(root, runId, RECORDED_AT, failValidation === undefined ? {} : { failValidation });
}

/** The page with its timing fields (the only bytes pinned runs may differ in) blanked. */
export const maskTimings = (page: string): string => page.replace(/(data-timing="(?:started_at|finished_at|duration_ms)">)[^<]*/g, '$1-');

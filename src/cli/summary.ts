import { notesJson, notesLines, type StageNotes } from '../../pipelines/hints.js';
import { PairCounts, sortedCounts, type StageCounts } from '../engine/counts.js';
import type { IndexReport } from '../io/evidence-index.js';
import type { Session } from './command.js';
import type { Terminal } from './terminal.js';
import { jobsOf } from './common-options.js';

/**
 * The one summary line of a stage on stderr: `[sft] read=40 exported=11 quarantined=29 {reason: n, …}`,
 * or its JSON; before it, a warning line for each entry of a folder read that was not read; then, in
 * text, a line per source scored without a rule and per hint (the JSON carries them as
 * `unruled_sources` and `hints`).
 */
export function printStageSummary(terminal: Terminal, json: boolean, stage: string, counts: StageCounts, index?: IndexReport, notes?: StageNotes): void {
  const byReason = sortedCounts(counts.byReason);
  const pairs = counts instanceof PairCounts ? { unpaired: counts.unpaired, quarantined_pairs: counts.quarantinedPairs } : undefined;
  const splits = counts.bySplit.size > 0 ? Object.fromEntries(counts.bySplit) : undefined;
  if (json) {
    const skippedPart = counts.skipped.length > 0 ? { not_read: counts.skipped } : {};
    const indexPart = index === undefined ? {} : { index: { files: index.files, rows: index.rows, unjoinable: index.unjoinable } };
    terminal.line(JSON.stringify({ stage, read: counts.in, exported: counts.out, quarantined: counts.quarantined, ...pairs, by_reason: byReason, ...(splits ? { by_split: splits } : {}), ...skippedPart, ...indexPart, ...(notes === undefined ? {} : notesJson(notes)) }));
    return;
  }
  const reasons = Object.entries(byReason).map(([reason, n]) => `${reason}: ${n}`).join(', ');
  const pairPart = pairs === undefined ? '' : ` unpaired=${pairs.unpaired} quarantined_pairs=${pairs.quarantined_pairs}`;
  const splitPart = splits === undefined ? '' : ` splits {${Object.entries(splits).map(([split, n]) => `${split}: ${n}`).join(', ')}}`;
  const skippedPart = counts.skipped.length > 0 ? ` not_read=${counts.skipped.length}` : '';
  for (const entry of counts.skipped) terminal.line(`[${stage}] warning: not read: ${entry}`);
  terminal.line(`[${stage}] read=${counts.in} exported=${counts.out} quarantined=${counts.quarantined}${pairPart}${skippedPart} {${reasons}}${splitPart}`);
  for (const line of notes === undefined ? [] : notesLines(stage, notes)) terminal.line(line);
}

/** `[index] files=… read=… rows=… unjoinable=… 12ms` (text mode only: the JSON summary carries the index). */
export function printIndexLine(terminal: Terminal, json: boolean, index: IndexReport): void {
  if (!json) terminal.line(`[index] files=${index.files} read=${index.filesRead} rows=${index.rows} unjoinable=${index.unjoinable} ${Math.round(index.durationMs)}ms`);
}

/** The LLaMA-Factory dataset_info.json entries of a dataset written, printed for the user to paste (never written into their file). */
export function printDatasetInfo(terminal: Terminal, stage: string, datasetInfo: Record<string, unknown> | undefined): void {
  if (datasetInfo !== undefined) terminal.line(`[${stage}] LLaMA-Factory dataset_info.json entries (dataset_dir: the output's folder): ${JSON.stringify(datasetInfo)}`);
}

/**
 * What a dataset command passes its pipeline from the session: the parsed flags, its inputs, and
 * the terminal as the progress line and the `[index]` line's destination.
 */
export function datasetRunOptions({ args, cwd, terminal, stdinIsTerminal }: Session) {
  const json = args.values['json'] === true;
  return {
    ...args.values,
    jobs: jobsOf(args.values),
    cwd,
    inputs: args.positionals,
    stdinIsTerminal,
    progress: terminal,
    onIndexReady: (report: IndexReport) => printIndexLine(terminal, json, report),
  };
}

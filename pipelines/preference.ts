import { Writable } from 'node:stream';
import { IdSet } from '../src/core/id-set.js';
import { admitScoredRun } from '../src/core/gates.js';
import { Rejection } from '../src/core/rejection.js';
import { drained } from '../src/io/drain.js';
import { ExternalSorter } from '../src/io/external-sort.js';
import type { QuarantineWriter } from '../src/io/quarantine.js';
import type { EvidenceLookup } from '../src/stages/export-row.js';
import { comparePreferenceRows, pairTask, preferenceRow, type PreferenceFormat, type PreferenceRow } from '../src/stages/preference.js';
import { RowStage } from '../src/stages/row-stage.js';
import { StageStats } from '../src/stages/stats.js';
import { validators } from '../src/schemas/validators.js';
import { withEvidenceIndex, type ExportResult, type ExportRun } from './export.js';
import { streamRows, withOutput, withQuarantine } from './row-export.js';

export interface PreferenceOptions {
  recordedAt: string;
  format?: PreferenceFormat;
}

const identity = <T>(items: T[]): T[] => items;

/**
 * The preference export (SPEC §5) in two passes. Pass 1 streams the scored rows through the row
 * gates (row quarantines are written in input order) and spills the pairable rows — ids,
 * categories and locations, never texts — to an external sort by (task_id, list, run id, input
 * order). Pass 2 walks the sorted rows a task at a time and writes pairs, fetching the two texts
 * from the evidence index only when a pair is checked; pair quarantines follow the row ones.
 */
export function runPreference(run: ExportRun & PreferenceOptions): Promise<ExportResult> {
  return withEvidenceIndex(run, async (lookup, index) => {
    const stats = new StageStats();
    await withQuarantine(run.quarantine, stats, 'preference', run.recordedAt, async (quarantine) => {
      const sorter = new ExternalSorter<PreferenceRow>(comparePreferenceRows);
      let seq = 0;
      let validRows = 0;
      const admit = (value: unknown, location: { source_file: string; line_offset: number }): PreferenceRow | null | Rejection => {
        const scored = admitScoredRun(value);
        if (scored instanceof Rejection) return scored;
        return preferenceRow(scored, location, seq++) ?? null; // null: valid but never paired (needs_human_review)
      };
      const spill = new Writable({
        objectMode: true,
        write: (rows: Array<PreferenceRow | null>, _encoding, callback) => {
          (async () => {
            for (const row of rows) {
              validRows++;
              if (row !== null) await sorter.add(row);
            }
          })().then(() => callback(), callback);
        },
      });
      await streamRows(run.inputs, new RowStage(admit, quarantine, stats, identity), spill, { maxLineBytes: run.maxLineBytes, stats });
      stats.out = 0; // pass 1 counted valid rows as its outputs; the stage's output is pairs
      await withOutput(run.output, stats, async (output) => {
        const rowsInPairs = await writePairs(sorter.sorted(), { lookup, output, quarantine, stats, recordedAt: run.recordedAt, format: run.format ?? 'spec' });
        stats.unpaired = validRows - rowsInPairs;
        output.end();
      });
    });
    return { stats, index };
  });
}

interface PairWriting {
  lookup: EvidenceLookup;
  output: Writable;
  quarantine: QuarantineWriter;
  stats: StageStats;
  recordedAt: string;
  format: PreferenceFormat;
}

/** Pass 2: pairs task by task in (task_id, k) order; returns how many rows ended in a written pair. */
async function writePairs(rows: AsyncIterable<PreferenceRow>, writing: PairWriting): Promise<number> {
  const context = { lookup: writing.lookup, validate: validators().preferenceSample, written: new IdSet(), recordedAt: writing.recordedAt, format: writing.format };
  let rowsInPairs = 0;
  let task: string | undefined;
  let accepted: PreferenceRow[] = [];
  let rejections: PreferenceRow[] = [];
  const finishTask = async (): Promise<void> => {
    const paired = new Set<number>();
    for (const outcome of pairTask(accepted, rejections, context)) {
      if (outcome.kind === 'quarantined') {
        writing.quarantine.add(outcome.rejection, outcome.record, outcome.chosen.location, 'pair');
        await writing.quarantine.flushed();
        continue;
      }
      paired.add(outcome.chosen.seq).add(outcome.rejected.seq);
      writing.stats.out++;
      if (!writing.output.write(outcome.line)) await drained(writing.output);
    }
    rowsInPairs += paired.size;
    accepted = [];
    rejections = [];
  };
  for await (const row of rows) {
    if (row.task_id !== task) {
      await finishTask();
      task = row.task_id;
    }
    (row.rank === 0 ? accepted : rejections).push(row);
  }
  await finishTask();
  return rowsInPairs;
}

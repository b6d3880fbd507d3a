import { Writable } from 'node:stream';
import { admitScoredRun } from '../src/core/gates.js';
import { IdSet } from '../src/core/id-set.js';
import { Rejection } from '../src/core/rejection.js';
import { drained } from '../src/io/drain.js';
import { ExternalSorter } from '../src/io/external-sort.js';
import type { QuarantineWriter } from '../src/io/quarantine.js';
import type { SourceLocation } from '../src/records.js';
import { validators } from '../src/schemas/validators.js';
import type { EvidenceLookup } from '../src/stages/export-row.js';
import { comparePreferenceRows, pairTask, preferenceRow, type PreferenceFormat, type PreferenceRow } from '../src/stages/preference.js';
import { RowStage } from '../src/stages/row-stage.js';
import { StageStats } from '../src/stages/stats.js';
import { withEvidenceIndex, type ExportResult, type ExportRun } from './export.js';
import { streamRows, withOutput, withQuarantine } from './row-export.js';

export interface PreferenceOptions {
  recordedAt: string;
  format?: PreferenceFormat;
}

/**
 * The preference export (SPEC §5) in two passes. Pass 1 (`admit` + `spill`) gates the scored rows
 * (row quarantines are written in input order) and spills the pairable rows — ids, categories and
 * locations, never texts — to an external sort by (task_id, list, run id, input order). Pass 2
 * (`writePairs`) walks the sorted rows a task at a time, fetching the two texts from the evidence
 * index only when a pair is checked; pair quarantines follow the row ones.
 */
export class PreferencePairer {
  private readonly sorter = new ExternalSorter<PreferenceRow>(comparePreferenceRows);
  private seq = 0;
  private validRows = 0;

  /** Pass 1 gate chain: a pairable row, null for a valid row that is never paired (needs_human_review), or a Rejection. */
  readonly admit = (value: unknown, location: SourceLocation): PreferenceRow | null | Rejection => {
    const scored = admitScoredRun(value);
    if (scored instanceof Rejection) return scored;
    return preferenceRow(scored, location, this.seq++) ?? null;
  };

  readonly spill = async (rows: Array<PreferenceRow | null>): Promise<void> => {
    for (const row of rows) {
      this.validRows++;
      if (row !== null) await this.sorter.add(row);
    }
  };

  /** Pass 2: pairs in (task_id, k) order to `output`; sets the stage's out and unpaired counts. */
  async writePairs(output: Writable, quarantine: QuarantineWriter, stats: StageStats, options: { lookup: EvidenceLookup; recordedAt: string; format: PreferenceFormat }): Promise<void> {
    const context = { lookup: options.lookup, validate: validators().preferenceSample, written: new IdSet(), recordedAt: options.recordedAt, format: options.format };
    let rowsInPairs = 0;
    let pairs = 0;
    let task: string | undefined;
    let accepted: PreferenceRow[] = [];
    let rejections: PreferenceRow[] = [];
    const finishTask = async (): Promise<void> => {
      const paired = new Set<number>();
      for (const outcome of pairTask(accepted, rejections, context)) {
        if (outcome.kind === 'quarantined') {
          quarantine.add(outcome.rejection, outcome.record, outcome.chosen.location, 'pair');
          await quarantine.flushed();
          continue;
        }
        if (outcome.chosen.evidence_run_id === outcome.rejected.evidence_run_id) stats.violations.push(`self-pair written for ${outcome.chosen.evidence_run_id}`);
        paired.add(outcome.chosen.seq).add(outcome.rejected.seq);
        pairs++;
        if (!output.write(outcome.line)) await drained(output);
      }
      rowsInPairs += paired.size;
      accepted = [];
      rejections = [];
    };
    for await (const row of this.sorter.sorted()) {
      if (row.task_id !== task) {
        await finishTask();
        task = row.task_id;
      }
      (row.rank === 0 ? accepted : rejections).push(row);
    }
    await finishTask();
    stats.out = pairs; // pass 1 counted valid rows as its outputs; the stage's output is pairs
    stats.paired = rowsInPairs;
    stats.unpaired = this.validRows - rowsInPairs;
  }
}

const identity = <T>(items: T[]): T[] => items;

export function runPreference(run: ExportRun & PreferenceOptions): Promise<ExportResult> {
  return withEvidenceIndex(run, async (lookup, index) => {
    const stats = new StageStats();
    const pairer = new PreferencePairer();
    await withQuarantine(run.quarantine, stats, 'preference', run.recordedAt, async (quarantine) => {
      const spill = new Writable({
        objectMode: true,
        write: (rows: Array<PreferenceRow | null>, _encoding, callback) => void pairer.spill(rows).then(() => callback(), callback),
      });
      await streamRows(run.inputs, new RowStage(pairer.admit, quarantine, stats, identity), spill, { maxLineBytes: run.maxLineBytes, stats, onBytes: run.onBytes });
      await withOutput(run.output, stats, (output) => pairer.writePairs(output, quarantine, stats, { lookup, recordedAt: run.recordedAt, format: run.format ?? 'spec' }));
    });
    return { stats, index };
  });
}

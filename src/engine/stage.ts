import type { IdSet } from '../core/id-set.js';
import type { Rejection } from '../core/rejection.js';
import type { Ruleset } from '../core/ruleset.js';
import type { InputSource } from '../io/line-source.js';
import type { ColumnShape } from '../io/parquet.js';
import type { PartitionedLine } from '../io/partition-writer.js';
import type { OptionTable, OptionValues } from '../options.js';
import type { EvidenceLookup, SourceLocation, StageName } from '../records.js';
import type { RunStage } from '../receipts.js';
import { quarantineFile } from '../layout.js';
import type { PairCounts, StageCounts } from './counts.js';
import type { RowFunction } from './row.js';
import type { WrittenRows } from './written.js';

/** What a stage reads on the standard layout. */
export type StageReads = 'kb' | 'evidence' | 'scored-runs';

/**
 * How a stage's work splits over shards: `rows` — any contiguous cut of the input (cross-shard
 * duplicates are settled at merge by the key named); `task` — rows are gated anywhere, but pairing
 * needs every row of a task together, so it happens at merge.
 */
export type SplitKey =
  | {
      by: 'rows';
      duplicatesBy: 'written-id' | 'run-id' | 'none';
      /** The error of a duplicate the merge finds, worded as the stage words one (from the row's key and parsed record). */
      duplicateError?: (key: string, record: unknown) => string;
    }
  | { by: 'task' };

/** One of a stage's own promises, checked into its receipt: the errors it found (none: it holds). */
export type Invariant<C extends StageCounts = StageCounts> = (counts: C) => string[];

interface StageCommon<F extends OptionTable> {
  /** Its command, and the `stage` of its quarantine rows. */
  name: StageName;
  /** Its name in run-all's receipts and summary. */
  receipt: RunStage;
  /** One line for help. */
  summary: string;
  reads: StageReads;
  /** The layout path it writes on the standard layout: a dataset file, or a tree it rebuilds. */
  writes: string;
  /** Flags that change its gates: its command takes them, and so do export-all and run-all. */
  flags: F;
  /** The receipt sample its kept rows feed (text lengths, keyed by the kept row's id). */
  sampleMetric: string | undefined;
  split: SplitKey;
  /** Whether the scoring rules decide its output (score) or its instructions (sft, preference): a rules file given is then one of its inputs. */
  usesRules: boolean;
  /** How an audit re-checks each row it wrote (on the layout, in its first view): schema, category counted, its promises on one row. */
  written: WrittenRows;
}

export interface RunContext<F extends OptionTable> {
  flags: OptionValues<F>;
  recordedAt: string;
  /** The scoring rules and instruction templates of the run: the built-in ones unless a rules file was given. */
  ruleset: Ruleset;
}

/** A dataset export (sft, rag): scored runs joined with their evidence → one JSONL dataset. */
export interface DatasetStage<F extends OptionTable = OptionTable> extends StageCommon<F> {
  kind: 'dataset';
  /** The views `--format` chooses from; the first is the default (the record itself). */
  views: readonly string[];
  /** Each view's Parquet columns (`--out FILE.parquet`). */
  columns: Readonly<Record<string, ColumnShape>>;
  /** Options of the written view: only the stage's own command takes them (export-all writes the record itself). */
  viewFlags?: OptionTable;
  invariants: readonly Invariant[];
  /** The gate chain of a run, specialised once for its options. */
  rows(context: RunContext<F> & { view: string; lookup: EvidenceLookup }): RowFunction<Uint8Array>;
}

/** The pairing entry of a kept row; null for a valid row that is never paired. */
export interface Pairer<Entry> {
  admit: RowFunction<Entry | null>;
  /** Spills kept entries (the engine counts them as valid rows); resolves when it may continue. */
  spill(entries: Array<Entry | null>): Promise<void>;
  /** Pass 1's entries in pairing order. */
  sorted(): AsyncIterable<Entry>;
  /** Pass 1's entries as sorted runs (files of JSON lines, each in pairing order), kept until dispose. */
  runs(): Promise<string[]>;
  /** Removes pass 1's spilled entries. */
  dispose(): Promise<void>;
  /**
   * Pass 2 over entries in pairing order (one pass's, or several shards' merged): candidate pairs in
   * output order. `written` holds the pair ids written before these entries (a merge pairing its
   * groups in ranges); each pair written is added to it.
   */
  pairs(sorted: AsyncIterable<Entry>, written?: IdSet): AsyncIterable<PairOutcome>;
  /** The pairing order (a total order), for merging shards' sorted entries. */
  compare(a: Entry, b: Entry): number;
  /**
   * The group an entry is paired within (a task): no pair crosses groups, and in pairing order the
   * groups come whole, in JS string order — so a merge can pair ranges of groups apart.
   */
  group(entry: Entry): string;
  /** An entry of a later shard, its input position moved past the `rows` valid rows of earlier shards. */
  shifted(entry: Entry, rows: number): Entry;
}

/**
 * What happened to one candidate pair. A written pair names its two run ids (a self-pair would be a
 * broken promise) and how many of its rows are in a written pair for the first time.
 */
export type PairOutcome =
  | { kind: 'written'; id: string; line: Uint8Array; chosenRunId: string; rejectedRunId: string; newlyPaired: number }
  | { kind: 'quarantined'; rejection: Rejection; record: unknown; location: SourceLocation };

/** A pairing export (preference): rows gated and spilled, then paired a group at a time. */
export interface PairStage<F extends OptionTable = OptionTable> extends StageCommon<F> {
  kind: 'pairs';
  views: readonly string[];
  columns: Readonly<Record<string, ColumnShape>>;
  viewFlags?: OptionTable;
  invariants: readonly Invariant<PairCounts>[];
  pairer(context: RunContext<F> & { view: string; lookup: EvidenceLookup }): Pairer<unknown>;
}

/**
 * A stage that rebuilds a layout tree (collect, score): `mirror` writes one output file per input
 * file at the same relative path; `partitioned` routes each row to the file its value names. As a
 * filter (rows on stdin or named inputs) it writes the lines alone.
 */
export interface TreeStage<F extends OptionTable = OptionTable> extends StageCommon<F> {
  kind: 'tree';
  layout: 'mirror' | 'partitioned';
  /** Flags of its command that only apply as a filter (collect's --source); part of `flags`. */
  filterOnly: readonly (keyof F & string)[];
  invariants: readonly Invariant[];
  /** Per-run state, then the gate chain for each input (its name decides e.g. collect's source). */
  rows(context: RunContext<F>): (input: InputSource) => RowFunction<string | PartitionedLine>;
}

export type StageDefinition = DatasetStage | PairStage | TreeStage;

/** The generic promise of every stage but pairing: every row read was kept or quarantined. */
export const rowsAddUp: Invariant = (counts) =>
  counts.in === counts.out + counts.quarantined ? [] : [`counts do not add up: in=${counts.in} but out + quarantined = ${counts.out + counts.quarantined}`];

/** Pairing: every row read was quarantined, or is part of a written pair, or unpaired. */
export const pairRowsAddUp: Invariant<PairCounts> = (counts) => {
  const accounted = counts.quarantined + counts.paired + counts.unpaired;
  return counts.in === accounted ? [] : [`counts do not add up: in=${counts.in} but quarantined + paired + unpaired = ${accounted}`];
};

/** What an output file a stage's receipt lists is: the rows it writes on the layout, its quarantine, or neither. */
export function outputKind(stage: StageDefinition, file: string): 'rows' | 'quarantine' | undefined {
  if (file === quarantineFile(stage.name)) return 'quarantine';
  const rows = stage.kind === 'tree' ? file.startsWith(`${stage.writes}/`) : file === stage.writes;
  return rows ? 'rows' : undefined;
}

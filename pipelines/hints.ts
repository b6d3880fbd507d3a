import type { RejectedShape, StageCounts } from '../src/engine/counts.js';
import type { StageReads } from '../src/engine/stage.js';
import { STDIN_PATH } from '../src/io/paths.js';
import { LAYOUT, LAYOUT_INPUT } from '../src/layout.js';
import { byCodeUnits } from '../src/core/text.js';

/**
 * What a stage run tells its user besides its counts, decided from what the run already saw (the
 * counts, the quarantine reasons and the first rejected rows' shapes), never by reading anything again.
 */
export interface StageNotes {
  /** Sources no scoring rule matched, with the rows the default rule scored `needs_human_review`, in name order. */
  unruled: Array<{ source: string; rows: number }>;
  /** When the stage exported nothing or quarantined most rows for one reason: what the input looks like and what to run instead. */
  hints: string[];
}

/** What a run of a stage was, for its notes. */
export interface NotesContext {
  /** The stage's command. */
  stage: string;
  reads: StageReads;
  /** Whether it read stdin (a filter with no inputs named, or `-` among them). */
  readStdin: boolean;
}

/** The kind of row a parsed object is, by its keys: what each stage writes, told apart by the fields only it has. */
export type RowKind = 'raw' | 'evidence' | 'scored' | 'dataset' | 'other';

const DATASET_KEYS = [['instruction', 'response'], ['chosen', 'rejected'], ['messages'], ['conversations'], ['content', 'tags']];

export function rowKindOf(keys: readonly string[]): RowKind {
  const has = new Set(keys);
  if (has.has('evidence_run_id')) return 'scored';
  if (has.has('run_id')) return has.has('provenance') ? 'evidence' : 'raw';
  if (DATASET_KEYS.some((set) => set.every((key) => has.has(key)))) return 'dataset';
  return 'other';
}

/** The kind of row each stage reads. */
const EXPECTED: Record<StageReads, RowKind> = { kb: 'raw', evidence: 'evidence', 'scored-runs': 'scored' };

/** What each kind of row is called, and where it comes from. */
const KIND_WORDS: Record<RowKind, string> = {
  raw: 'raw _kb log rows (run_id, task_id, created_at; no provenance)',
  evidence: 'evidence rows (run_id with provenance, as collect writes them)',
  scored: 'scored runs (evidence_run_id, category, as score writes them)',
  dataset: 'rows of an exported dataset',
  other: 'rows that are none of raw _kb logs, evidence or scored runs',
};

const WANTED: Record<StageReads, string> = {
  kb: 'raw _kb log rows',
  evidence: 'evidence rows',
  'scored-runs': 'scored runs',
};

/** What to run instead when a stage is given rows of another kind (`file`: the input's name). */
function insteadOf(reads: StageReads, given: RowKind, stage: string, file: string): string {
  if (reads === 'scored-runs' && given === 'evidence') return `score them first: distill-stream score ${file} > scored.jsonl, then distill-stream ${stage} scored.jsonl --evidence ${file} (or run-all --root DIR)`;
  if (reads === 'scored-runs' && given === 'raw') return `collect and score them first: put them in <root>/${LAYOUT.kb}/NAME.jsonl and run distill-stream run-all --root DIR (or collect --source NAME, then score, then ${stage})`;
  if (reads === 'evidence' && given === 'raw') return `collect them first: distill-stream collect --source NAME ${file} > evidence.jsonl, then score evidence.jsonl (or run-all --root DIR with the file in <root>/${LAYOUT.kb})`;
  if (reads === 'evidence' && given === 'scored') return 'they are scored already: give them to sft, rag or preference with --evidence';
  if (reads === 'kb' && given === 'evidence') return 'they are collected already: give them to score';
  if (reads === 'kb' && given === 'scored') return 'they are scored already: give them to sft, rag or preference with --evidence';
  return `${stage} reads ${WANTED[reads]}; see docs/records.md for each kind`;
}

const where = (shape: RejectedShape): string => `${shape.source === STDIN_PATH ? 'stdin' : shape.source} line ${shape.line + 1}`;

/** The file a command in a hint works on: the input's own name, or FILE for stdin. */
const fileOf = (shape: RejectedShape): string => (shape.source === STDIN_PATH ? 'FILE' : shape.source);

/** Where a JSON array or pretty-printed file goes as lines: beside it, under another name than its own. */
const linesOf = (shape: RejectedShape): string => `${fileOf(shape).replace(/\.jsonl$/, '')}.lines.jsonl`;

/** The hint a rejected row's shape gives, if it tells what the input is. */
function shapeHint(shape: RejectedShape, context: NotesContext): string | undefined {
  const head = shape.head;
  const file = fileOf(shape);
  if (head !== undefined) {
    if (head.startsWith('\uFEFF')) return `${where(shape)} starts with a UTF-8 byte-order mark (BOM), which no JSON line may: save the file without it (e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' ${file})`;
    const start = head.trimStart();
    if (start.startsWith('[')) return `${where(shape)} starts a JSON array, but ${context.stage} reads one JSON object per line: name the file *.json to read it as an array, or convert it with jq -c '.[]' ${file} > ${linesOf(shape)}`;
    if (start === '{' || start === '}' || start.startsWith('"')) return `${where(shape)} looks like pretty-printed JSON (one value over many lines), but ${context.stage} reads one JSON object per line: convert it with jq -c . ${file} > ${linesOf(shape)}`;
    return undefined;
  }
  if (shape.kind === 'array') return `${where(shape)} is a JSON array on one line, but ${context.stage} reads one JSON object per line: convert it with jq -c '.[]' ${file} > ${linesOf(shape)}, or name the file *.json to read it as an array`;
  if (shape.kind !== 'object') return undefined;
  const given = rowKindOf(shape.keys ?? []);
  if (given === EXPECTED[context.reads] || given === 'other') return undefined;
  return `the rows look like ${KIND_WORDS[given]} (${where(shape)}), but ${context.stage} reads ${WANTED[context.reads]}: ${insteadOf(context.reads, given, context.stage, file)}`;
}

/** Where each stage's rows come from, for a run that read none. */
const NOTHING_READ: Record<StageReads, string> = {
  kb: `${LAYOUT.kb} holds no *.jsonl rows: write your agent's log there as ${LAYOUT.kb}/NAME.jsonl (see docs/raw-logs.md)`,
  evidence: `no evidence rows: run distill-stream collect --root DIR first (it writes ${LAYOUT.evidence})`,
  'scored-runs': `no scored runs: run distill-stream score --root DIR first (it writes ${LAYOUT.scoredRuns}), or run-all --root DIR`,
};

/** The notes of a stage run: the sources it scored without a rule, and hints when its output looks like a wrong input. */
export function stageNotes(counts: StageCounts, context: NotesContext): StageNotes {
  const unruled = [...counts.unruledSources.entries()].sort(([a], [b]) => byCodeUnits(a, b)).map(([source, rows]) => ({ source, rows }));
  return { unruled, hints: hintsOf(counts, context) };
}

function hintsOf(counts: StageCounts, context: NotesContext): string[] {
  // A byte-order mark spoils only the first row, so it is named however few rows it cost.
  const bom = counts.rejectedShapes.find((shape) => shape.line === 0 && shape.head?.startsWith('\uFEFF'));
  if (bom !== undefined) return [shapeHint(bom, context)!];
  if (counts.in === 0) {
    return [
      context.readStdin
        ? `read nothing from stdin: nothing was piped in (under cron or a script stdin is often empty); name the input files, or give --root DIR to read ${LAYOUT_INPUT[context.reads]}`
        : `read nothing: ${NOTHING_READ[context.reads]}`,
    ];
  }
  const [reason, most] = [...counts.byReason.entries()].reduce<[string | undefined, number]>((top, [r, n]) => (n > top[1] ? [r, n] : top), [undefined, 0]);
  if (counts.out > 0 && most * 2 <= counts.in) return [];
  const shapes = counts.rejectedShapes.filter((shape) => shape.reason === reason);
  for (const shape of shapes) {
    const hint = shapeHint(shape, context);
    if (hint !== undefined) return [hint];
  }
  if (reason === 'evidence_not_found') return [`most runs (${most} of ${counts.in}) have no row in the evidence joined: give --evidence the folder collect wrote for these runs (default <root>/${LAYOUT.evidence})`];
  return [];
}

/** The text lines of a stage's notes, as stderr shows them after its summary line. */
export function notesLines(stage: string, notes: StageNotes): string[] {
  return [
    ...notes.unruled.map(({ source, rows }) => `[${stage}] ${source}: ${rows} ${rows === 1 ? 'row' : 'rows'}, no scoring rule: all needs_human_review — see docs/rules.md`),
    ...notes.hints.map((hint) => `[${stage}] hint: ${hint}`),
  ];
}

/** A stage's notes as its JSON summary carries them: keys only when there is something to say. */
export function notesJson(notes: StageNotes): { unruled_sources?: Record<string, number>; hints?: string[] } {
  return {
    ...(notes.unruled.length > 0 ? { unruled_sources: Object.fromEntries(notes.unruled.map(({ source, rows }) => [source, rows])) } : {}),
    ...(notes.hints.length > 0 ? { hints: notes.hints } : {}),
  };
}

/** The --fail-if-empty message of an export that wrote nothing, or undefined. */
export const emptyExportError = (stage: string, counts: StageCounts): string | undefined =>
  counts.out === 0 ? `${stage} exported nothing (read=${counts.in} quarantined=${counts.quarantined}) and --fail-if-empty was given` : undefined;

/**
 * Rebuilds the committed fixture archive (`data-fixtures/archive`) from `kb-rows.ts`: writes the raw
 * `_kb` files, runs collect and score with a pinned recorded_at, then adds the hand-written scored
 * rows that only bad producers write. Run with `npm run fixtures`; commit the result.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCollect, runPreference, runRag, runScore, runSft, type StageCommandOptions } from '../pipelines/stage.js';
import { canonicalHash } from '../src/core/canonical.js';
import { walkInputFiles } from '../src/io/walk.js';
import { commandHelp, mainHelp } from '../src/cli/help.js';
import { COMMANDS } from '../src/cli/table.js';
import { LAYOUT } from '../src/layout.js';
import type { ScoredRun } from '../src/records.js';
import { KB_SOURCES } from './kb-rows.js';

export const FIXTURE_RECORDED_AT = '2026-05-01T00:00:00.000Z';
/** The fixture's line limit: small enough that one committed line exceeds it. */
export const FIXTURE_MAX_LINE_BYTES = 65_536;
export const HAND_WRITTEN_SCORED = `${LAYOUT.scoredRuns}/2026/05/03/hand_written_rows.jsonl`;

const here = path.dirname(fileURLToPath(import.meta.url));
/** The source folder of the fixtures (this file runs from dist/data-fixtures). */
export const FIXTURE_SOURCE_DIR = path.resolve(here, '..', '..', 'data-fixtures');
export const FIXTURE_ARCHIVE = path.join(FIXTURE_SOURCE_DIR, 'archive');

async function writeKb(root: string): Promise<void> {
  const kb = path.join(root, LAYOUT.kb);
  await mkdir(kb, { recursive: true });
  for (const [source, rows] of KB_SOURCES) {
    const lines = rows.map((row) => ('literal' in row && typeof row.literal === 'string' ? row.literal : JSON.stringify(row)));
    await writeFile(path.join(kb, `${source}.jsonl`), `${lines.join('\n')}\n`);
  }
}

/** Scored rows a faulty producer could write: each line is commented with the gate it trips. */
async function handWrittenScoredRows(root: string): Promise<string> {
  const scoredLines = async (relative: string): Promise<ScoredRun[]> =>
    (await readFile(path.join(root, LAYOUT.scoredRuns, relative), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as ScoredRun);
  const scrum = (await scoredLines('2026/05/01/scrum_reviews.jsonl')).find((run) => run.evidence_run_id === 'scrum-001')!;
  const observer = (await scoredLines('2026/05/01/observer_reviews.jsonl')).find((run) => run.evidence_run_id === 'obs-001')!;
  const rejectedTwin: ScoredRun = { ...observer, category: 'rejected', reasons: ['observer_verdict=reject'] };
  rejectedTwin.provenance = {
    ...observer.provenance,
    sig_hash: canonicalHash({ category: 'rejected', evidence_sig_hash: 'hand-written', reasons: rejectedTwin.reasons, scorer_version: 'v1.0.0' }),
  };
  const applied = await scoredLines('2026/05/01/auto_apply.jsonl');
  const [appliedAccepted, , appliedReverted] = applied;
  // In a task with rejections, so preference also meets the missing evidence.
  const ghost: ScoredRun = { ...scrum, evidence_run_id: 'ghost-001', task_id: 'repo:src/db.ts' };
  const { provenance: _dropped, ...withoutProvenance } = scrum;
  const lines = [
    'this line is not JSON', // schema_violation (parse)
    '[1,2,3]', // schema_violation (not an object)
    JSON.stringify(withoutProvenance), // missing_provenance
    JSON.stringify({ ...scrum, provenance: { ...scrum.provenance, sig_hash: 42 } }), // missing_provenance (wrong type)
    JSON.stringify({ ...scrum, evidence_run_id: null }), // missing_source_run_id
    '', // blank: not a record, still a line number
    JSON.stringify({ ...scrum, evidence_run_id: '' }), // missing_source_run_id
    JSON.stringify({ ...scrum, category: 'Accepted' }), // schema_violation (enums are case-sensitive)
    JSON.stringify(ghost), // evidence_not_found
    `${JSON.stringify(scrum)}\r`, // duplicate_id (same row again, CRLF-terminated)
    JSON.stringify(rejectedTwin), // unsafe_sft_category; a self-pair for preference
    JSON.stringify({ note: 'x'.repeat(FIXTURE_MAX_LINE_BYTES) }), // line_too_long
    '  \t ', // blank
    JSON.stringify(appliedAccepted), // a second copy of an accepted and a rejected row:
    JSON.stringify(appliedReverted), // preference pair k=1 repeats pair k=0's ids → duplicate_id
  ];
  return `${lines.join('\n')}\n`;
}

export async function buildFixtureArchive(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await writeKb(root);
  const common = { root, recordedAt: FIXTURE_RECORDED_AT, maxLineBytes: FIXTURE_MAX_LINE_BYTES };
  await runCollect(common);
  await runScore(common);
  await rm(path.join(root, 'exports'), { recursive: true, force: true }); // the archive ships without their quarantines
  const handWritten = path.join(root, HAND_WRITTEN_SCORED);
  await mkdir(path.dirname(handWritten), { recursive: true });
  await writeFile(handWritten, await handWrittenScoredRows(root));
}

/** recorded_at of the golden export runs (the archive itself was collected and scored at FIXTURE_RECORDED_AT). */
export const GOLDEN_RECORDED_AT = '2026-05-02T00:00:00.000Z';
export const FIXTURE_GOLDEN = path.join(FIXTURE_SOURCE_DIR, 'golden');

/** The common part of every golden export run over a copy of the archive at `root`; `extension` chooses the output format. */
export function goldenRun(root: string, name: string, extension = '.jsonl'): Omit<StageCommandOptions, 'format'> {
  return {
    root,
    inputs: [path.join(root, LAYOUT.scoredRuns)],
    out: path.join(FIXTURE_GOLDEN, `${name}${extension}`),
    quarantine: path.join(FIXTURE_GOLDEN, `${name}.quarantine.jsonl`),
    recordedAt: GOLDEN_RECORDED_AT,
    maxLineBytes: FIXTURE_MAX_LINE_BYTES,
  };
}

/** Views share the quarantine of their spec record (a test holds them equal): theirs stays in the work copy. */
const viewQuarantine = (root: string, name: string): string => path.join(root, `${name}.quarantine.jsonl`);

/** Golden export runs by name: what each writes on a copy of the archive, byte for byte. */
export const GOLDEN_RUNS: ReadonlyArray<[name: string, run: (root: string, name: string) => Promise<unknown>]> = [
  ['sft', (root, name) => runSft({ ...goldenRun(root, name), includePartial: false })],
  ['sft-include-partial', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true })],
  ['sft-messages', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'messages', quarantine: viewQuarantine(root, name) })],
  ['sft-prompt-completion', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'prompt-completion', quarantine: viewQuarantine(root, name) })],
  ['sft-alpaca', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'alpaca', quarantine: viewQuarantine(root, name) })],
  ['rag', (root, name) => runRag({ ...goldenRun(root, name), includeReview: false })],
  ['rag-include-review', (root, name) => runRag({ ...goldenRun(root, name), includeReview: true })],
  ['preference', (root, name) => runPreference(goldenRun(root, name))],
  ['preference-dpo', (root, name) => runPreference({ ...goldenRun(root, name), format: 'dpo', quarantine: viewQuarantine(root, name) })],
  ['preference-openai-dpo', (root, name) => runPreference({ ...goldenRun(root, name), format: 'openai-dpo', quarantine: viewQuarantine(root, name) })],
  ['sft-sharegpt', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'sharegpt', quarantine: viewQuarantine(root, name) })],
  ['sft-conversational-prompt-completion', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'conversational-prompt-completion', quarantine: viewQuarantine(root, name) })],
  ['sft-messages-system-prompt', (root, name) => runSft({ ...goldenRun(root, name), includePartial: true, format: 'messages', context: 'user', systemPrompt: GOLDEN_SYSTEM_PROMPT, quarantine: viewQuarantine(root, name) })],
  // The output formats: each holds the rows of sft.jsonl.
  ['sft', (root, name) => runSft({ ...goldenRun(root, name, '.jsonl.gz'), quarantine: viewQuarantine(root, name) })],
  ['sft', (root, name) => runSft({ ...goldenRun(root, name, '.jsonl.zst'), quarantine: viewQuarantine(root, name) })],
  ['sft', (root, name) => runSft({ ...goldenRun(root, name, '.parquet'), quarantine: viewQuarantine(root, name) })],
  ['sft-parts', (root, name) => runSft({ ...goldenRun(root, name), maxRowsPerFile: 4, quarantine: viewQuarantine(root, name) })],
  ['sft-split', (root, name) => runSft({ ...goldenRun(root, name), split: GOLDEN_SPLIT, quarantine: viewQuarantine(root, name) })],
];

/** The system prompt of the golden chat view with one. */
export const GOLDEN_SYSTEM_PROMPT = 'You are a careful code reviewer.';
/** The split of the golden split set. */
export const GOLDEN_SPLIT = 'train=0.8,validation=0.2';

/** The golden inputs: every scored run of the archive, in walk order, as a zstd file and (the rows that parse) as one JSON array. */
export const GOLDEN_INPUTS = path.join(FIXTURE_GOLDEN, 'inputs');

async function buildGoldenInputs(root: string): Promise<void> {
  const scored = path.join(root, LAYOUT.scoredRuns);
  const lines: string[] = [];
  for await (const file of walkInputFiles(scored)) lines.push(...(await readFile(file.absolute, 'utf8')).split('\n').filter((line) => line.trim() !== ''));
  await mkdir(GOLDEN_INPUTS, { recursive: true });
  const zst = path.join(GOLDEN_INPUTS, 'scored-runs.jsonl.zst');
  execFileSync('zstd', ['-q', '-f', '-3', '--single-thread', '-o', zst], { input: `${lines.join('\n')}\n` });
  const parsable = lines.filter((line) => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false; // a JSON array cannot hold a line that is not JSON
    }
  });
  await writeFile(path.join(GOLDEN_INPUTS, 'scored-runs.json'), `[\n${parsable.join(',\n')}\n]\n`);
}

/** Every command's help, as `--help` prints it: the test reads these so a change to the command line is seen in review. */
export const GOLDEN_HELP = path.join(FIXTURE_GOLDEN, 'help');
export const helpGoldenName = (command: string): string => `${command.replaceAll(' ', '-')}.txt`;

export async function buildHelpGoldens(): Promise<void> {
  await mkdir(GOLDEN_HELP, { recursive: true });
  await writeFile(path.join(GOLDEN_HELP, helpGoldenName('distill-stream')), mainHelp(COMMANDS));
  for (const command of COMMANDS) await writeFile(path.join(GOLDEN_HELP, helpGoldenName(command.name)), commandHelp(command));
}

async function buildGoldens(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'distill-golden-'));
  try {
    await cp(FIXTURE_ARCHIVE, work, { recursive: true });
    await rm(FIXTURE_GOLDEN, { recursive: true, force: true });
    await mkdir(FIXTURE_GOLDEN, { recursive: true });
    for (const [name, run] of GOLDEN_RUNS) await run(work, name);
    await buildGoldenInputs(work);
    await buildHelpGoldens();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildFixtureArchive(FIXTURE_ARCHIVE);
  await buildGoldens();
  process.stderr.write(`fixture archive and goldens written under ${FIXTURE_SOURCE_DIR}\n`);
}

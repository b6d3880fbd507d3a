import { spawn } from 'node:child_process';
import { appendFile, copyFile, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { evidenceText } from '../src/core/evidence-text.js';
import { ROOT_LOCK } from '../src/layout.js';
import type { JoinedEvidence } from '../src/records.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The package root (tests run from dist/test). */
export const PACKAGE_ROOT = path.resolve(here, '..', '..');
export const CLI = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
export const FIXTURE_ARCHIVE = path.join(PACKAGE_ROOT, 'data-fixtures', 'archive');
export const GOLDEN = path.join(PACKAGE_ROOT, 'data-fixtures', 'golden');

/** A fresh temp folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'distill-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A copy of `dir` in a fresh temp folder. */
export async function copyOf(dir: string): Promise<string> {
  const copy = await tempDir();
  await cp(dir, copy, { recursive: true });
  return copy;
}

/** A private copy of the fixture archive (runs write indexes and exports into it). */
export const fixtureCopy = (): Promise<string> => copyOf(FIXTURE_ARCHIVE);

/**
 * A copy of the fixture archive made to cross shard edges: its hand-written scored rows (every kind
 * of bad row) repeated in one big file, so duplicates fall in other shards than their first copy,
 * and its raw logs repeated too, so collect meets run_ids taken by an earlier shard.
 */
export async function badRowsArchive(): Promise<string> {
  const root = await tempDir('distill-shards-');
  await cp(FIXTURE_ARCHIVE, root, { recursive: true });
  const scored = path.join(root, 'data/scored-runs/2026/05/03/hand_written_rows.jsonl');
  const rows = await readFile(scored);
  for (let n = 0; n < 4; n++) await appendFile(scored, rows);
  const kb = path.join(root, 'data/_kb/scrum_reviews.jsonl');
  await appendFile(kb, await readFile(kb));
  return root;
}

/** A root whose only source, my_agent, has no scoring rule: every run needs_human_review, so the SFT and RAG exports are empty. */
export async function unruledArchive(): Promise<string> {
  const root = await tempDir();
  await mkdir(path.join(root, 'data/_kb'), { recursive: true });
  await copyFile(path.join(PACKAGE_ROOT, 'data-fixtures/rules/my_agent.jsonl'), path.join(root, 'data/_kb/my_agent.jsonl'));
  return root;
}

/** A receipt or summary without the fields allowed to differ between identical runs. */
export const withoutTimings = (text: string): string => text.replace(/"(started_at|finished_at|duration_ms)": [^,\n]+/g, '"$1": "-"');

export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

/** Runs `body` in a folder `make` creates (a fixture copy, a temp folder…), removed afterwards whatever happens. */
export async function inFolder(make: () => Promise<string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await make();
  try {
    await body(dir);
  } finally {
    await removeDir(dir);
  }
}

/**
 * How many tests of a file that spawn processes run at once: one per core. A CLI process is busy on
 * CPU most of its life (`--version` alone takes 0.8 s of CPU to load the command table), so more at
 * once only adds contention: cli-contract's 31 processes all at once cost 48 s of CPU, one per core
 * 44 s, one at a time 42 s (2 shared cores, load 7 to 12).
 */
export const PROCESS_CONCURRENCY = os.availableParallelism();

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (a script, a daemon's client), its output kept. */
export function runProgram(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/** Runs the built CLI; `stdin` is piped in when given, else stdin is closed empty. */
export function runCli(args: string[], options: { cwd?: string; stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? PACKAGE_ROOT, env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }),
    );
    child.stdin.on('error', () => {}); // a child that exits early (usage errors) never reads its stdin
    child.stdin.end(options.stdin ?? '');
  });
}

/** All files under `dir` (relative paths, sorted), skipping hidden entries such as the evidence index. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .filter((relative) => !relative.split(path.sep).some((part) => part.startsWith('.')))
    .sort();
}

/** The bytes of every file under a folder, by relative path (hidden entries and reports/ skipped): two roots compared byte for byte. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const relative of await listFiles(dir)) {
    if (relative.startsWith('reports')) continue;
    files.set(relative, (await readFile(path.join(dir, relative))).toString('base64'));
  }
  return files;
}

export const readText = (file: string): Promise<string> => readFile(file, 'utf8');

/** A JoinedEvidence with defaults, for unit tests of the gates; `text` is given as a string. */
export function evidence(overrides: Partial<Omit<JoinedEvidence, 'text'>> & { text?: string } = {}): JoinedEvidence {
  const { text = 'A response.', ...rest } = overrides;
  return {
    task_id: 'task-1',
    model_role: 'executor',
    model_name: '',
    source_files: [],
    matrix_corpora: [],
    pathway_fingerprints_seen: 0,
    contractor: '',
    source_file: 'data/_kb/scrum_reviews.jsonl',
    ...rest,
    text: evidenceText(text),
  };
}

/** Every entry under `dir`, hidden ones included (relative paths, sorted). */
export async function allEntries(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const relative = path.relative(dir, path.join(folder, entry.name));
      found.push(relative);
      if (entry.isDirectory()) await walk(path.join(folder, entry.name));
    }
  };
  await walk(dir);
  return found.sort();
}

/** What a run must never leave behind: temp files and trees, commit journals, a root lock. */
export const leftovers = (entries: readonly string[]): string[] =>
  entries.filter((entry) => /(^|\/)\.[^/]+\.\d+\.[0-9a-f]{8}\.tmp(\.old)?$|(^|\/)\.distill-commit\.|\.tmp$/.test(entry) || entry === ROOT_LOCK);

/** What processLog saw: each process's pid and argv (after node and its script) when it started, and its exit code unless it was killed outright. */
export interface ProcessLogEntries {
  started: Array<{ pid: number; script: string; argv: string[] }>;
  exited: Array<{ pid: number; code: number }>;
}

/**
 * A log in `folder` that every Node process started with `env` (NODE_OPTIONS preloads a module)
 * appends to: how a test sees the shard children a run starts, and how they end.
 */
export async function processLog(folder: string): Promise<{ env: NodeJS.ProcessEnv; entries: () => Promise<ProcessLogEntries>; remove: () => Promise<void> }> {
  const log = path.join(folder, 'processes.log');
  const preload = path.join(folder, 'log-processes.mjs');
  await writeFile(
    preload,
    `import { appendFileSync } from 'node:fs';\nconst log = (entry) => appendFileSync(${JSON.stringify(log)}, JSON.stringify(entry) + '\\n');\n` +
      `log({ pid: process.pid, script: process.argv[1], argv: process.argv.slice(2) });\nprocess.on('exit', (code) => log({ pid: process.pid, code }));\n`,
  );
  const entries = async (): Promise<ProcessLogEntries> => {
    const lines = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
    const all = lines.map((line) => JSON.parse(line) as { pid: number; script?: string; argv?: string[]; code?: number });
    return {
      started: all.flatMap((entry) => (entry.argv === undefined ? [] : [{ pid: entry.pid, script: entry.script!, argv: entry.argv }])),
      exited: all.flatMap((entry) => (entry.code === undefined ? [] : [{ pid: entry.pid, code: entry.code }])),
    };
  };
  const remove = async (): Promise<void> => {
    await rm(log, { force: true });
    await rm(preload, { force: true });
  };
  return { env: { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` }, entries, remove };
}

/**
 * `npm run demo`: the whole pipeline on the committed fixture archive, in a temp folder. Raw `_kb`
 * logs go through run-all (collect → score → rag → sft → preference, with receipts); then the
 * files written, one SFT sample, a few quarantine rows and the run summary are shown.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURE_MAX_LINE_BYTES } from './build-fixture.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PACKAGE_ROOT = path.resolve(here, '..', '..'); // this file runs from dist/data-fixtures
const CLI = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
const ARCHIVE = path.join(PACKAGE_ROOT, 'data-fixtures', 'archive');
const RECORDED_AT = '2026-05-01T00:00:00.000Z';

const print = (text = ''): void => void process.stdout.write(`${text}\n`);

/** Runs the CLI with stderr shown as it comes; stops the demo if it fails. */
function cli(...args: string[]): void {
  print(`$ distill-stream ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`distill-stream ${args[0]} exited with ${result.status}`);
  print();
}

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const found: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue; // the evidence index and temp files
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(full, base)));
    else found.push(`${path.relative(base, full).padEnd(60)} ${String((await stat(full)).size).padStart(8)} bytes`);
  }
  return found;
}

const firstLines = async (file: string, n: number): Promise<unknown[]> =>
  (await readFile(file, 'utf8')).split('\n').filter(Boolean).slice(0, n).map((line) => JSON.parse(line) as unknown);

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distill-demo-'));
  await cp(path.join(ARCHIVE, 'data', '_kb'), path.join(root, 'data', '_kb'), { recursive: true });
  print(`Demo folder: ${root} (raw logs copied from data-fixtures/archive/data/_kb)\n`);
  const pinned = ['--root', root, '--recorded-at', RECORDED_AT, '--max-line-bytes', String(FIXTURE_MAX_LINE_BYTES)];
  cli('run-all', ...pinned, '--run-id', 'demo', '--include-partial');
  cli('export-all', ...pinned, '--include-partial');
  cli('health', '--root', root);

  print('Files written:');
  for (const line of await filesUnder(root)) print(`  ${line}`);
  print('\nFirst SFT sample (exports/sft/instruction_response.jsonl):');
  print(JSON.stringify((await firstLines(path.join(root, 'exports/sft/instruction_response.jsonl'), 1))[0], null, 2));
  print('\nFirst quarantine rows of sft (exports/quarantine/sft.jsonl):');
  for (const row of (await firstLines(path.join(root, 'exports/quarantine/sft.jsonl'), 3)) as Array<{ reason: string; source_provenance: unknown }>) {
    print(`  ${row.reason.padEnd(22)} ${JSON.stringify(row.source_provenance)}`);
  }
  print(`\n${await readFile(path.join(root, 'reports/distillation/demo/summary.md'), 'utf8')}`);
  if (process.env['DISTILL_DEMO_KEEP'] === undefined) await rm(root, { recursive: true, force: true });
  else print(`Kept ${root}`);
}

await main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

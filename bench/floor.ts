/**
 * The floor of the e2e bench: the given JSONL trees through the pipeline's own LineSplitter (same
 * read size), JSON.parse and JSON.stringify, written to /dev/null, and nothing else. No stage that
 * reads and writes every row can beat it, so a stage's MB/s over the floor's is its overhead.
 *
 * A line that is not JSON (raw _kb logs hold some, which collect quarantines) is counted and skipped.
 *
 * With `--processes N` the files are cut into N runs of whole files balanced by bytes, each read by
 * its own process at once: the floor's speed-up over one process is what this machine gives two
 * (or N) processes that share nothing — the ceiling for `--jobs N`.
 *
 *   node dist/bench/floor.js [--processes N] DIR_OR_FILE...   → {"files":F,"records":N,"unparsable":U,"bytes":B} on stderr
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { READ_CHUNK_BYTES } from '../src/io/line-source.js';
import { LineSplitter, type RawLine } from '../src/io/line-splitter.js';
import { walkInputFiles } from '../src/io/walk.js';

interface FloorCounts {
  files: number;
  records: number;
  unparsable: number;
  bytes: number;
}

/** The files under `targets`, in walk order, cut into `processes` runs of about equal bytes; each run is read by its own process. */
async function inProcesses(targets: readonly string[], processes: number): Promise<FloorCounts> {
  const files: Array<{ absolute: string; size: number }> = [];
  for (const target of targets) for await (const file of walkInputFiles(target)) files.push(file);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const runs: string[][] = Array.from({ length: processes }, () => []);
  let before = 0;
  for (const file of files) {
    runs[Math.min(processes - 1, Math.floor((before * processes) / Math.max(1, total)))]!.push(file.absolute);
    before += file.size;
  }
  const self = fileURLToPath(import.meta.url);
  const results = await Promise.all(runs.map((run) => promisify(execFile)(process.execPath, [self, ...run], { maxBuffer: 1 << 20 })));
  const sum: FloorCounts = { files: 0, records: 0, unparsable: 0, bytes: 0 };
  for (const { stderr } of results) {
    const part = JSON.parse(stderr.trim().split('\n').at(-1)!) as FloorCounts;
    for (const key of Object.keys(sum) as Array<keyof FloorCounts>) sum[key] += part[key];
  }
  return sum;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--processes') {
    const processes = Number(argv[1]);
    if (!Number.isInteger(processes) || processes < 1) throw new Error(`--processes takes a whole number ≥ 1, not ${argv[1]}`);
    process.stderr.write(`${JSON.stringify(await inProcesses(argv.slice(2), processes))}\n`);
    return;
  }
  const sink = createWriteStream('/dev/null');
  let files = 0;
  let records = 0;
  let unparsable = 0;
  let bytes = 0;
  for (const target of argv) {
    for await (const file of walkInputFiles(target)) {
      files++;
      bytes += file.size;
      // A read error destroys the splitter, so it surfaces in the loop below.
      const batches = pipeline(createReadStream(file.absolute, { highWaterMark: READ_CHUNK_BYTES }), new LineSplitter(), () => {});
      for await (const batch of batches as AsyncIterable<RawLine[]>) {
        let out = '';
        for (const line of batch) {
          let value: unknown;
          try {
            value = JSON.parse(line.text);
          } catch {
            unparsable++;
            continue;
          }
          out += `${JSON.stringify(value)}\n`;
        }
        records += batch.length;
        if (!sink.write(out)) await once(sink, 'drain');
      }
    }
  }
  sink.end();
  await once(sink, 'finish');
  process.stderr.write(`${JSON.stringify({ files, records, unparsable, bytes })}\n`);
}

await main(process.argv.slice(2));

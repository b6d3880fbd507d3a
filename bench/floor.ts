/**
 * The floor of the e2e bench: the given JSONL trees through the pipeline's own LineSplitter (same
 * read size), JSON.parse and JSON.stringify, written to /dev/null, and nothing else. No stage that
 * reads and writes every row can beat it, so a stage's MB/s over the floor's is its overhead.
 *
 * A line that is not JSON (raw _kb logs hold some, which collect quarantines) is counted and skipped.
 *
 *   node dist/bench/floor.js DIR_OR_FILE...   → {"files":F,"records":N,"unparsable":U,"bytes":B} on stderr
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { READ_CHUNK_BYTES } from '../src/io/line-source.js';
import { LineSplitter, type RawLine } from '../src/io/line-splitter.js';
import { walkInputFiles } from '../src/io/walk.js';

async function main(targets: readonly string[]): Promise<void> {
  const sink = createWriteStream('/dev/null');
  let files = 0;
  let records = 0;
  let unparsable = 0;
  let bytes = 0;
  for (const target of targets) {
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

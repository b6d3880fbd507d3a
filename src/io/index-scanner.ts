/**
 * A scanner process of an evidence index build: reads its job (JSON on stdin), spills the entries
 * of its files into the job's folder, and prints their counts and CRCs (JSON on stdout). Separate
 * processes scale on 2 cores where worker_threads measured no gain.
 */
import { runScanJob, type ScanJob } from './evidence-index.js';

let job = '';
for await (const chunk of process.stdin) job += String(chunk);
try {
  process.stdout.write(JSON.stringify(await runScanJob(JSON.parse(job) as ScanJob)));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}

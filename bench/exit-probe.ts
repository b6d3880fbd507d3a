/**
 * Preloaded into every node process of a measured phase (`NODE_OPTIONS=--import=<this file>`, which
 * the shard children a command spawns inherit): at exit, it writes the process's own
 * /proc/self/status (VmHWM) and CPU time to <DISTILL_BENCH_EXIT_DIR>/<pid>.json. A sample taken every
 * 50 ms can miss a process's last moments; its own exit hook cannot. Kept free of project imports so
 * it costs each child nothing measurable.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env['DISTILL_BENCH_EXIT_DIR'];
if (dir !== undefined && dir !== '') {
  process.on('exit', () => {
    const cpu = process.cpuUsage();
    const report = { pid: process.pid, ppid: process.ppid, argv: process.argv.slice(1), status: readFileSync('/proc/self/status', 'utf8'), userUs: cpu.user, systemUs: cpu.system };
    writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(report));
  });
}

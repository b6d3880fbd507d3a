#!/usr/bin/env node
import { main } from './cli/main.js';

import { cleanUpOnSignals } from './io/commit.js';

// A reader that stops early (`| head`): the run notices at its next write, stops reading and ends quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
cleanUpOnSignals();

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
  stdinIsTerminal: process.stdin.isTTY === true,
});

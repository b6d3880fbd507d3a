#!/usr/bin/env node
import { main } from './cli/main.js';

import { cleanUpOnSignals } from './io/commit.js';
import { EXIT_CODE, ioError } from './errors.js';

// A reader that stops early (`| head`): the run notices at its next write, stops reading and ends quietly.
// Any other failure (a full disk under a redirect) fails the run: a dataset's own writes report it,
// and one met elsewhere is reported here once the command is done.
let stdoutFailure: NodeJS.ErrnoException | undefined;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') stdoutFailure ??= error;
});
cleanUpOnSignals();

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
  stdinIsTerminal: process.stdin.isTTY === true,
});

if (code === 0 && stdoutFailure !== undefined) {
  process.stderr.write(`distill-stream: ${ioError('stdout', stdoutFailure).message}\n`);
  process.exitCode = EXIT_CODE.DS_IO;
} else {
  process.exitCode = code;
}

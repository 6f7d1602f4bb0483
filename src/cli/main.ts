#!/usr/bin/env node
/**
 * The `hangar` command (SPEC S2). The verbs and flags are defined in program.ts, each verb's
 * work in its own file under src/cli; this file only runs the program and turns errors into
 * exit codes: 0 ok, 1 user error (message only, no stack), 2 usage error.
 */
import { CommanderError } from 'commander';
import { isHangarError } from '../shared/errors.js';
import { hangarProgram } from './program.js';

// A reader that stops early (`hangar logs --tail | head`) closes the pipe: the output is done
// there, which is no error to report with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = hangarProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (isHangarError(err)) {
    process.stderr.write(`hangar: ${err.message}\n`);
    // S2: 2 for a command called wrongly (flags that do not go together), 1 for other user errors.
    process.exitCode = err.code === 'HANGAR_E_USAGE' ? 2 : 1;
  } else {
    throw err;
  }
}

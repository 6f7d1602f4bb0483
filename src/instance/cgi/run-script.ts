/**
 * Runs one CGI script for one request (SPEC S4.2, S6): the body on its stdin, its stdout
 * collected whole (S5.6: no streaming), its stderr reported line by line as it arrives, and
 * the script with everything it started killed at the deadline, on abort, or when it writes
 * more than a response may hold. `cgiOutcome` then says what the platform answers.
 *
 * Decisions where RFC 3875 and the SPEC are silent:
 * - The script's environment is exactly what the caller passes (cgiEnvironment), plus PATH
 *   when that has none: the platform's PATH, else /usr/local/bin:/usr/bin:/bin. Shebangs such
 *   as `#!/usr/bin/env python3` and scripts calling `sed` need one, and a PATH reveals
 *   nothing; everything else of the platform's environment (tokens, HOME) stays out.
 * - The script runs in its own process group (session, in fact) with its directory as cwd.
 *   The group is SIGKILLed at the deadline, on abort and past the output limit, and also as
 *   soon as the script itself exits: a child it left running in the background would
 *   otherwise outlive the request and hold its stdout open, and the response is what the
 *   script wrote by the time it exited. A process that leaves the group (setsid, a daemon's
 *   double fork) escapes the kill; once it has written nothing for EXIT_DRAIN_MS after the
 *   script exited (or at the deadline, or on abort), reading stops and the response is what
 *   came so far, although it still holds stdout open.
 * - A script without a `#!` line that is not a binary runs under /bin/sh: Node's spawn does
 *   what execvp does, as a shell would (Apache would refuse it with ENOEXEC).
 * - Errors writing stdin (EPIPE: the script exited without reading its input, or closed
 *   it) are ignored: reading the body is the script's choice, as in every CGI server.
 * - Past `maxOutputBytes` of stdout nothing more is kept: the result holds an empty stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { access, constants, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ErrorCode } from '../../shared/errors.js';
import { type CgiResponse, parseCgiOutput } from './response-parser.js';

/** A response body may hold this much (S5.6), so a script's stdout may too. */
export const DEFAULT_MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
/** Longer stderr lines are cut: one runaway line must not make a log line of many megabytes. */
export const MAX_STDERR_LINE_BYTES = 64 * 1024;
/** How many of the last stderr lines a result keeps for the reason of a failure. */
const STDERR_TAIL_LINES = 5;
/** After the script exited, reading stops once no output came for this long (an escaped process holds the pipes). */
const EXIT_DRAIN_MS = 1000;
/** Used when neither the caller's environment nor the platform's has a PATH. */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
/** setTimeout's longest delay; a later deadline is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunCgiOptions {
  /** The executable's absolute path; the kernel runs the interpreter its `#!` line names. */
  scriptPath: string;
  /** The whole environment of the script (see cgiEnvironment); PATH is added when missing. */
  env: Readonly<Record<string, string>>;
  /** The request body (whole, or in chunks), written to stdin, which is then closed. */
  body?: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** Epoch ms: the script and every process in its group are killed at this time (S6). */
  deadlineAt?: number;
  /** Aborting kills the script and its group the same way (client gone, instance stopping). */
  signal?: AbortSignal;
  /** Past this many bytes of stdout the script is killed; default 32 MiB. */
  maxOutputBytes?: number;
  /** Each stderr line as it arrives, without its line end (the request log, level warning). Must not throw. */
  onStderrLine?: (line: string) => void;
}

/** A script that was started, however it ended. */
export interface CgiRun {
  kind: 'ran';
  /** The script's exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Everything the script wrote to stdout (empty when tooLarge). */
  stdout: Buffer;
  /** The deadline passed while the script ran: it was killed. */
  timedOut: boolean;
  /** The signal aborted: the script was killed (or never started, when it was aborted already). */
  aborted: boolean;
  /** The script wrote more than maxOutputBytes: it was killed. */
  tooLarge: boolean;
  /** The stdout limit this run had. */
  maxOutputBytes: number;
  /** The last few stderr lines, for the reason of a failure. */
  stderrTail: string[];
}

/** A script that could not be started; `message` says why and how to fix it. */
export interface CgiSpawnFailure {
  kind: 'spawn-failed';
  /** The system error code (ENOENT, EACCES, ...) or Node's (ERR_INVALID_ARG_VALUE). */
  code: string;
  message: string;
}

export type CgiRunResult = CgiRun | CgiSpawnFailure;

/**
 * Runs a CGI script to its end (or its deadline) and collects what it wrote. Never rejects.
 *
 * @example
 * const result = await runCgiScript({
 *   scriptPath: '/srv/app/cgi-bin/form.py',
 *   env: cgiEnvironment(request),
 *   body,
 *   deadlineAt: arrival + 60_000,
 *   onStderrLine: (line) => logLine('warning', line),
 * });
 * const outcome = cgiOutcome(result);
 */
export function runCgiScript(options: RunCgiOptions): Promise<CgiRunResult> {
  const { scriptPath, signal, deadlineAt } = options;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (signal?.aborted) return Promise.resolve(notStarted(maxOutputBytes, { aborted: true }));
  if (deadlineAt !== undefined && deadlineAt <= Date.now()) {
    return Promise.resolve(notStarted(maxOutputBytes, { timedOut: true }));
  }

  let child: ChildProcess;
  try {
    child = spawn(scriptPath, [], {
      cwd: dirname(scriptPath),
      env: { ...options.env, PATH: options.env.PATH ?? process.env.PATH ?? DEFAULT_PATH },
      detached: true,
      stdio: 'pipe',
    });
  } catch (err) {
    // Synchronous failures are bad arguments, e.g. a NUL byte in an environment value.
    const { code = 'ERR_SPAWN', message } = err as NodeJS.ErrnoException;
    return Promise.resolve({
      kind: 'spawn-failed',
      code,
      message: `the script ${scriptPath} could not be started: ${message}`,
    });
  }

  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    /** Bytes of stdout and stderr together: tells the drain whether output still arrives. */
    let received = 0;
    let timedOut = false;
    let aborted = false;
    let tooLarge = false;
    let exited = false;
    let deadlineTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const stderrTail: string[] = [];
    const stderr = lineSplitter((line) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
      options.onStderrLine?.(line);
    });

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: nothing of the group is left.
      }
    };
    /** Closes our ends of the pipes, so an escaped process holding theirs cannot keep the run open. */
    const stopReading = () => {
      child.stdout!.destroy();
      child.stderr!.destroy();
    };
    /** Kills the group; after the script exited, only an escaped process can still be writing. */
    const stop = () => {
      killGroup();
      if (exited) stopReading();
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    const armDeadline = (at: number) => {
      deadlineTimer = setTimeout(
        () => {
          if (Date.now() < at) return armDeadline(at);
          if (!exited) timedOut = true;
          stop();
        },
        Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS),
      );
    };
    /**
     * Stops reading once no output arrived for EXIT_DRAIN_MS after the exit. The check runs
     * in setImmediate, after the event loop's poll phase: had the loop been blocked past the
     * timer, what the script wrote before it exited is read first, not cut off.
     */
    const armDrain = () => {
      const seen = received;
      drainTimer = setTimeout(
        () => setImmediate(() => (received === seen ? stopReading() : armDrain())),
        EXIT_DRAIN_MS,
      );
    };

    // The script may exit without reading its body, or close stdin: see the module comment.
    child.stdin!.on('error', () => {});
    writeBody(child.stdin!, options.body);

    child.stdout!.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (tooLarge) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxOutputBytes) {
        tooLarge = true;
        stdout.length = 0;
        stop();
        return;
      }
      stdout.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      received += chunk.length;
      stderr.push(chunk);
    });

    child.on('error', (err: NodeJS.ErrnoException) => {
      // After a successful start the only errors are failed kills, which killGroup avoids.
      if (child.pid !== undefined) return;
      cleanUp();
      void describeSpawnError(scriptPath, err).then((message) =>
        resolve({ kind: 'spawn-failed', code: err.code ?? 'ERR_SPAWN', message }),
      );
    });
    child.once('exit', () => {
      exited = true;
      killGroup();
      armDrain();
    });
    child.once('close', (exitCode: number | null, exitSignal: NodeJS.Signals | null) => {
      if (child.pid === undefined) return;
      cleanUp();
      stderr.end();
      resolve({
        kind: 'ran',
        exitCode,
        signal: exitSignal,
        stdout: tooLarge ? Buffer.alloc(0) : Buffer.concat(stdout, stdoutBytes),
        timedOut,
        aborted,
        tooLarge,
        maxOutputBytes,
        stderrTail,
      });
    });

    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadlineAt !== undefined) armDeadline(deadlineAt);

    function cleanUp() {
      clearTimeout(deadlineTimer);
      clearTimeout(drainTimer);
      signal?.removeEventListener('abort', onAbort);
      child.stdin!.destroy();
    }
  });
}

/** What the platform answers for a script's run (S4.2). */
export type CgiOutcome =
  | Exclude<CgiResponse, { kind: 'error' }>
  /** 500: the script failed or broke the CGI rules; `reason` goes to the request log. */
  | { kind: 'failed'; code: Extract<ErrorCode, 'HANDLER_FAILED' | 'RESPONSE_TOO_LARGE'>; reason: string }
  /** The deadline killed the script: answered as a timeout (S6, the `timeout` error handler). */
  | { kind: 'deadline'; code: Extract<ErrorCode, 'DEADLINE_EXCEEDED'>; reason: string }
  /** The run was aborted (client gone, instance stopping): nobody waits for an answer. */
  | { kind: 'aborted'; reason: string };

/**
 * Combines a run's end and its parsed output into what the platform answers: the parsed
 * response only when the script exited with 0 and wrote a valid CGI response.
 *
 * @example
 * const outcome = cgiOutcome(await runCgiScript(options));
 * if (outcome.kind === 'failed') log('error', outcome.reason); // answer 500
 * else if (outcome.kind === 'local-redirect') redispatch(outcome.location);
 */
export function cgiOutcome(result: CgiRunResult): CgiOutcome {
  if (result.kind === 'spawn-failed')
    return { kind: 'failed', code: 'HANDLER_FAILED', reason: result.message };
  if (result.aborted) return { kind: 'aborted', reason: 'the request was aborted; the script was killed' };
  if (result.timedOut) {
    return {
      kind: 'deadline',
      code: 'DEADLINE_EXCEEDED',
      reason:
        'the script was still running at the request deadline; it and every process it started were killed',
    };
  }
  if (result.tooLarge) {
    return {
      kind: 'failed',
      code: 'RESPONSE_TOO_LARGE',
      reason: `the script wrote more than ${formatBytes(result.maxOutputBytes)} to stdout and was killed: a response may hold at most that much; serve large files from a static handler`,
    };
  }
  if (result.exitCode !== 0) {
    const end =
      result.exitCode === null
        ? `the script was killed by ${result.signal ?? 'a signal'}`
        : `the script exited with code ${result.exitCode}`;
    return { kind: 'failed', code: 'HANDLER_FAILED', reason: end + stderrSummary(result.stderrTail) };
  }
  const response = parseCgiOutput(result.stdout);
  if (response.kind === 'error') return { kind: 'failed', code: 'HANDLER_FAILED', reason: response.message };
  return response;
}

function notStarted(maxOutputBytes: number, how: { aborted?: boolean; timedOut?: boolean }): CgiRun {
  return {
    kind: 'ran',
    exitCode: null,
    signal: null,
    stdout: Buffer.alloc(0),
    timedOut: how.timedOut ?? false,
    aborted: how.aborted ?? false,
    tooLarge: false,
    maxOutputBytes,
    stderrTail: [],
  };
}

function writeBody(stdin: NodeJS.WritableStream, body: RunCgiOptions['body']): void {
  if (body === undefined) stdin.end();
  else if (body instanceof Uint8Array) stdin.end(body);
  // Chunks go with back-pressure; a failure is the script not reading (see the module comment).
  else pipeline(Readable.from(body), stdin).catch(() => {});
}

/**
 * Calls `onLine` with each LF-ended line of a byte stream, CR stripped, decoded as UTF-8 (a
 * line is decoded whole, so characters split across chunks survive), cut at
 * MAX_STDERR_LINE_BYTES.
 */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** The current line was cut and reported: drop the rest of it. */
  let skipping = false;
  const emit = (cut: boolean) => {
    let line = Buffer.concat(pending, pendingBytes).toString('utf8');
    pending = [];
    pendingBytes = 0;
    if (cut) line += ` ... (line cut at ${MAX_STDERR_LINE_BYTES / 1024} KiB)`;
    else if (line.endsWith('\r')) line = line.slice(0, -1);
    onLine(line);
  };
  return {
    push(chunk) {
      let start = 0;
      for (;;) {
        const lf = chunk.indexOf(0x0a, start);
        const end = lf === -1 ? chunk.length : lf;
        if (!skipping) {
          const room = MAX_STDERR_LINE_BYTES - pendingBytes;
          const take = Math.min(end - start, room);
          if (take > 0) {
            pending.push(chunk.subarray(start, start + take));
            pendingBytes += take;
          }
          if (end - start > room) {
            emit(true);
            skipping = true;
          }
        }
        if (lf === -1) return;
        if (skipping) skipping = false;
        else emit(false);
        start = lf + 1;
      }
    },
    end() {
      if (pendingBytes > 0) emit(false);
    },
  };
}

/** Turns a failed start into what was wrong and how to fix it (the error codes alone mislead). */
async function describeSpawnError(scriptPath: string, err: NodeJS.ErrnoException): Promise<string> {
  const shebang = await readShebang(scriptPath);
  if (err.code === 'ENOENT') {
    if (shebang === undefined) return `the script ${scriptPath} does not exist`;
    // The file is there, so execve's ENOENT is about the interpreter its #! line names.
    if (shebang.endsWith('\r')) {
      return `the script ${scriptPath} has Windows (CRLF) line ends, so its #! line names an interpreter ending in a carriage return, which does not exist: convert the file to LF line ends (dos2unix ${scriptPath})`;
    }
    if (shebang.startsWith('#!')) {
      return `the interpreter named in the first line of ${scriptPath} (${JSON.stringify(shebang)}) does not exist: install it or correct the #! line`;
    }
    return `the script ${scriptPath} could not be started (ENOENT): its directory may be gone`;
  }
  if (err.code === 'EACCES') {
    const executable = await access(scriptPath, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!executable) return `the script ${scriptPath} is not executable: chmod +x ${scriptPath}`;
    if (shebang?.startsWith('#!')) {
      return `the interpreter named in the first line of ${scriptPath} (${JSON.stringify(shebang)}) is not executable, or is a directory: correct the #! line`;
    }
    return `the script ${scriptPath} could not be started (permission denied): check the permissions of its directories and that its file system is not mounted noexec`;
  }
  if (err.code === 'ENOEXEC') {
    return `the script ${scriptPath} is not a program this machine can run: start it with a #! line naming its interpreter, e.g. #!/bin/sh`;
  }
  if (err.code === 'E2BIG') {
    return `the script ${scriptPath} could not be started: its environment (request headers and env_variables) is too large`;
  }
  return `the script ${scriptPath} could not be started: ${err.message}`;
}

/** The script's first line (up to 256 bytes), "" for an empty file, undefined when it cannot be read. */
async function readShebang(path: string): Promise<string | undefined> {
  try {
    const file = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(256), 0, 256, 0);
      const head = buffer.toString('latin1', 0, bytesRead);
      const lf = head.indexOf('\n');
      return lf === -1 ? head : head.slice(0, lf);
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
}

function stderrSummary(tail: readonly string[]): string {
  if (tail.length === 0) return '; it wrote nothing to stderr';
  const lines = tail.map((line) => `\n  ${line.length > 500 ? `${line.slice(0, 500)}...` : line}`);
  return `; the last lines it wrote to stderr:${lines.join('')}`;
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

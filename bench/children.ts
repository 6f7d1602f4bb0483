/**
 * Child processes of the suite: started with a readiness pattern, stopped by their own pid,
 * and all stopped if the suite itself is interrupted, so a Ctrl-C leaves nothing running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface StartOptions {
  /** Extra environment on top of the suite's own. */
  env?: NodeJS.ProcessEnv;
  /** Also open fd 3 as a pipe and watch it (workerd reports its ports there: `--control-fd=3`). */
  controlFd?: boolean;
  timeoutMs?: number;
}

const running = new Set<ChildProcess>();
/** Set once the suite is interrupted: the main flow may still try to start the next process. */
let stopping = false;

/** Registers a child the suite started some other way (wrk, a sockets client) for stopAllChildren. */
export function track(child: ChildProcess): ChildProcess {
  if (stopping) child.kill('SIGKILL');
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Spawns `command` and resolves with the first match of `pattern` in its output (stdout,
 * stderr and, with `controlFd`, fd 3) and when it was spawned (`performance.now()`); rejects
 * with that output if it exits or times out first.
 *
 * @example
 * const { child, match } = await startChild(process.execPath, ['bare.mjs'], /listening on (\d+)/);
 */
export function startChild(
  command: string,
  args: string[],
  pattern: RegExp,
  options: StartOptions = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; spawnedAt: number }> {
  const spawnedAt = performance.now();
  const child = track(
    spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe', ...(options.controlFd ? (['pipe'] as const) : [])],
      env: { ...process.env, NO_COLOR: '1', ...options.env },
    }),
  );
  const outputs = [child.stdout, child.stderr, options.controlFd ? child.stdio[3] : null].filter(
    (stream): stream is Readable => stream !== null,
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line within ${timeoutMs} ms from ${command} ${args.join(' ')}:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(pattern);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      for (const stream of outputs) {
        stream.off('data', onData);
        // Keep draining, so a chatty child (10 log lines a request) never blocks on a full pipe.
        stream.resume();
      }
      resolve({ child, match, spawnedAt });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(
        new Error(`${command} ${args.join(' ')} exited (${signal ?? code}) before it was ready:\n${output}`),
      );
    };
    for (const stream of outputs) stream.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Sends `signal` to the child's pid and waits for it to exit; SIGKILL after 10 s. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Stops every child still running (each by its pid): the suite is being interrupted. */
export async function stopAllChildren(): Promise<void> {
  stopping = true;
  await Promise.all([...running].map((child) => stopChild(child, 'SIGINT')));
}

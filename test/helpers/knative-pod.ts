/**
 * A version's Knative pod and the standalone socket service as real processes (the built
 * dist/knative/pod-main.js and dist/sockets/service/standalone.js), on 127.0.0.1 port 0, for
 * the e2e tests of `hangar export kubernetes`. Their ports are read from what they print; they
 * are stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './dev-server.js';
import { watchOutput } from './process-output.js';

export const podMain = join(repoRoot, 'dist/knative/pod-main.js');
export const socketsMain = join(repoRoot, 'dist/sockets/service/standalone.js');

export interface Started {
  url: string;
  port: number;
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Its stdout's JSON lines so far. */
  lines(): Array<Record<string, unknown>>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM by pid; resolves to the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

const running = new Set<Started>();

function start(main: string, env: NodeJS.ProcessEnv, ready: RegExp, name: string): Promise<Started> {
  const child = spawn(process.execPath, [main], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  const watched = watchOutput(child, name);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const started: Omit<Started, 'url' | 'port'> = {
    process: child,
    output: watched.text,
    lines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    waitFor: watched.waitFor,
    async stop() {
      running.delete(self);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      return child.exitCode;
    },
  };
  let self: Started;
  return watched.waitFor(ready, 20_000).then(
    (match) => {
      const port = Number(match[1]);
      self = { ...started, url: `http://127.0.0.1:${port}`, port };
      running.add(self);
      return self;
    },
    async (err: unknown) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      throw err;
    },
  );
}

/** A pod of the version in `appDir`, with the pod's environment (podOptions) in `env`. */
export function startPod(env: NodeJS.ProcessEnv): Promise<Started> {
  return start(
    podMain,
    { PORT: '0', HANGAR_HOST: '127.0.0.1', ...env },
    /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    'the Knative pod',
  );
}

/** The socket service as its Deployment runs it, on 127.0.0.1. */
export function startSocketService(key: string, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  return start(
    socketsMain,
    { HANGAR_SOCKETS_KEY: key, HANGAR_SOCKETS_PORT: '0', HANGAR_SOCKETS_HOST: '127.0.0.1', ...env },
    /socket service listening on 127\.0\.0\.1:(\d+)/,
    'the socket service',
  );
}

/** Stops every pod and socket service a test file started and did not stop. */
export async function stopAllPods(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { watchOutput } from './process-output.js';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const cli = join(repoRoot, 'dist/cli/main.js');

export interface DevServer {
  url: string;
  adminUrl: string;
  token: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the platform printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once `pattern` appears in the output (or rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGINT, then wait for exit; SIGKILL by pid if it does not exit within 10 s. */
  stop(): Promise<number | null>;
}

const running = new Set<DevServer>();

/** Starts `hangar dev` as a user would (the built CLI, a real process) on free ports. */
export async function startDev(
  paths: string[],
  extraArgs: string[] = [],
  options: { dataDir?: string } = {},
): Promise<DevServer> {
  // A data dir the caller gives is the caller's (e.g. kept across a restart); a fresh one is removed at stop.
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hangar-data-'));
  const child = spawn(
    process.execPath,
    [cli, 'dev', ...paths, '--port', '0', '--admin-port', '0', '--data-dir', dataDir, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  const watched = watchOutput(child, 'hangar dev');
  const { waitFor } = watched;
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  const [, url] = await waitFor(/^ {2}default \(version [^)]+\): (http:\/\/\S+)$/m);
  const [, adminUrl] = await waitFor(/admin API: (http:\/\/\S+)/);
  const server: DevServer = {
    url: url!,
    adminUrl: adminUrl!,
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    dataDir,
    process: child,
    output: watched.text,
    waitFor,
    async stop() {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
  running.add(server);
  return server;
}

/** Stops every dev server a test file started and did not stop itself. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}

/** A copy of a fixture app in a temp dir, for tests that edit files. Remove it with `rmSync`. */
export function copyFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hangar-app-${name}-`));
  cpSync(join(repoRoot, 'test/fixtures', name), dir, { recursive: true });
  return dir;
}

/** Admin API GET with the server's token. */
export async function adminGet<T>(server: DevServer, path: string): Promise<T> {
  const res = await fetch(server.adminUrl + path, { headers: { authorization: `Bearer ${server.token}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A scaling decision as `GET /api/instances` shows it. */
export interface DecisionDoc {
  at: string;
  action: string;
  instanceId?: string;
  reason: string;
}

/** `GET /api/instances`: the instances (the fields tests read) and the latest decisions. */
export interface InstancesDoc {
  instances: Array<{
    id: string;
    state: string;
    pid: number | null;
    busySlots: number;
    memory: number;
    requestsServed: number;
  }>;
  decisions: DecisionDoc[];
}

/** Polls the admin API until `ok` holds; bounded by `ms` (the bound is the test's limit, not a sleep). */
export async function untilInstances(
  server: DevServer,
  ms: number,
  ok: (doc: InstancesDoc) => boolean,
): Promise<InstancesDoc> {
  const deadline = Date.now() + ms;
  for (;;) {
    const doc = await adminGet<InstancesDoc>(server, '/api/instances');
    if (ok(doc)) return doc;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${ms} ms: ${JSON.stringify(doc, null, 1)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pids whose parent is `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

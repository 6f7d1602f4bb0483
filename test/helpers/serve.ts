/**
 * `hangar serve` as a user runs it, for the e2e tests of issue 15: the built CLI as a real
 * process on port 0 (its ports read from what it prints), the `hangar` verbs that talk to it
 * as real processes, plain HTTP requests with a chosen Host header, and the deploy protocol
 * spoken raw (docs/serve.md) for what the CLI does not show. Loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { DeployedVersion } from '../../src/cli/deploy.js';
import { cli, repoRoot } from './dev-server.js';
import { watchOutput } from './process-output.js';

export { cli, repoRoot };

/** Hangar's own version: `server: Hangar/<version>` and SERVER_SOFTWARE under serve (S2). */
export const hangarVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

export const fixture = (name: string) => join(repoRoot, 'test/fixtures', name);

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hangar ARGS` (the built CLI) to its end. No HANGAR_TOKEN from the test's environment. */
export function hangar(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return spawnHangar(args, options).done;
}

/** Starts `hangar ARGS` (the built CLI); `done` resolves at its end. Stop it by its pid, if at all. */
export function spawnHangar(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { process: ChildProcess; done: Promise<Run> } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  if (!options.env || !('HANGAR_TOKEN' in options.env)) delete env.HANGAR_TOKEN;
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: options.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const done = new Promise<Run>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { process: child, done };
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to `url` with `Host: host` (fetch cannot set Host). */
export function httpGet(
  url: string,
  host: string | undefined,
  options: { agent?: Agent; headers?: Record<string, string>; method?: string; body?: Buffer } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: { ...(host ? { host } : {}), ...options.headers },
        ...(options.agent ? { agent: options.agent } : { agent: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} (Host ${host}) in 30 s`)));
    req.end(options.body);
  });
}

/** Polls `check` until it returns a value other than undefined; throws after `ms` with the last state. */
export async function until<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms} ms${last ? ` (last: ${last})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pids of `pid`'s descendants (from /proc), children before their children. */
export function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether process `pid` still exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface ServeProcess {
  /** App traffic, e.g. http://127.0.0.1:41234 (as printed). */
  url: string;
  port: number;
  adminUrl: string;
  token: string;
  dataDir: string;
  process: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** `hangar ARGS --server <admin> --data-dir <data dir>` (the token as a local user finds it). */
  hangar(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<Run>;
  /** The same, started: for a test that stops the CLI midway. */
  spawnHangar(
    args: string[],
    options?: { cwd?: string; env?: NodeJS.ProcessEnv },
  ): { process: ChildProcess; done: Promise<Run> };
  /** GET `path` on the app port with `Host: host` (no host: the bare 127.0.0.1:PORT). */
  get(host: string | undefined, path?: string, agent?: Agent): Promise<HttpAnswer>;
  /** An admin API call with the token; the body as JSON or raw bytes. */
  admin(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; text: string; json: unknown }>;
  /** SIGINT, then SIGKILL by pid after 15 s; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL by pid (a crash); resolves once it is gone. */
  kill(): Promise<void>;
}

const running = new Set<ServeProcess>();
const ownDirs = new Set<string>();

/** A fresh data dir, removed by removeDataDirs(). */
export function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-serve-'));
  ownDirs.add(dir);
  return dir;
}

/** Starts `hangar serve --port 0 --admin-port 0` on `dataDir`; resolves once both ports are printed. */
export async function startServe(
  options: { dataDir?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {},
): Promise<ServeProcess> {
  const dataDir = options.dataDir ?? freshDataDir();
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--port', '0', '--admin-port', '0', '--data-dir', dataDir, ...(options.args ?? [])],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NO_COLOR: '1',
        // Deploy builds run npm: any registry access would fail at once (tests stay on loopback;
        // the fixtures' dependencies are tarballs in their own folders).
        npm_config_registry: 'http://127.0.0.1:9/',
        ...options.env,
      },
    },
  );
  const watched = watchOutput(child, 'hangar serve');
  const { waitFor } = watched;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));

  // Not a terminal, so serve logs JSON lines: {"time":…,"level":"info","message":"Hangar serve (…): http://…"}.
  let url: string | undefined;
  let adminUrl: string | undefined;
  let token: string;
  try {
    [, url] = await waitFor(/Hangar serve \(Hangar\/[^)]+\): (http:\/\/[\w.:[\]-]+)/);
    [, adminUrl] = await waitFor(/admin API: (http:\/\/[\w.:[\]-]+)/);
    token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  } catch (err) {
    // A serve that did not come up as expected is not left running.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    throw err;
  }
  const server: ServeProcess = {
    url: url!,
    port: Number(new URL(url!).port),
    adminUrl: adminUrl!,
    token,
    dataDir,
    process: child,
    output: watched.text,
    waitFor,
    hangar: (args, opts) => hangar([...args, '--server', adminUrl!, '--data-dir', dataDir], opts),
    spawnHangar: (args, opts) => spawnHangar([...args, '--server', adminUrl!, '--data-dir', dataDir], opts),
    get: (host, path = '/', agent) => httpGet(url! + path, host, agent ? { agent } : {}),
    async admin(method, path, body, useToken = token) {
      const raw = Buffer.isBuffer(body);
      const res = await fetch(adminUrl! + path, {
        method,
        headers: {
          authorization: `Bearer ${useToken}`,
          ...(body === undefined
            ? {}
            : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
        },
        ...(body === undefined ? {} : { body: raw ? (body as Buffer) : JSON.stringify(body) }),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, text, json };
    },
    async stop() {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      return child.exitCode;
    },
    async kill() {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  running.add(server);
  return server;
}

/** Stops every serve a test file started and did not stop itself. */
export async function stopAllServes(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}

/** Removes the data dirs freshDataDir() made. */
export function removeDataDirs(): void {
  for (const dir of ownDirs) rmSync(dir, { recursive: true, force: true });
  ownDirs.clear();
}

/** What `hangar deploy --json` prints. */
export interface DeployJson {
  result: 'ok' | 'failed';
  reason?: string;
  deployed: DeployedVersion[];
}

/** `hangar deploy DIR --json ...` against `server`; the run and its parsed document (if any). */
export async function deploy(
  server: ServeProcess,
  dir: string,
  args: string[],
): Promise<Run & { doc: DeployJson | undefined }> {
  const run = await server.hangar(['deploy', dir, '--json', ...args]);
  let doc: DeployJson | undefined;
  try {
    doc = JSON.parse(run.stdout) as DeployJson;
  } catch {
    doc = undefined;
  }
  return { ...run, doc };
}

/** A version as `GET /api/versions` (and `hangar versions list --json`) lists it. */
export interface VersionRow {
  app: string;
  service: string;
  version: string;
  minor: string;
  traffic: number;
  instances: number;
}

/** `hangar versions list --json` (the CLI, a real process): the rows, sorted. */
export async function versionsList(server: ServeProcess, args: string[] = []): Promise<VersionRow[]> {
  const run = await server.hangar(['versions', 'list', '--json', ...args]);
  if (run.code !== 0) throw new Error(`versions list exited ${run.code}: ${run.stderr}`);
  return sortRows((JSON.parse(run.stdout) as { versions: VersionRow[] }).versions);
}

/** The fields of a version row that do not change while nothing is deployed (not instances). */
export function sortRows(rows: VersionRow[]): VersionRow[] {
  return [...rows].sort((a, b) =>
    `${a.app}/${a.service}/${a.version}`.localeCompare(`${b.app}/${b.service}/${b.version}`),
  );
}

/** The fields of a version list that only a deploy, promote or delete changes. */
export function stateOf(rows: VersionRow[]): string[] {
  return sortRows(rows).map((r) => `${r.app}/${r.service}/${r.version}.${r.minor} traffic=${r.traffic}`);
}

/** Files under `dir`, relative, sorted ([] when it does not exist). */
export function filesUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    let names: string[];
    try {
      names = readdirSync(at);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else found.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return found.sort();
}

/** Directory entries of `dir` ([] when it does not exist). */
export function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** `<data-dir>/versions/<app>/<service>/*`: the version directories on disk. */
export function versionDirs(dataDir: string): string[] {
  const root = join(dataDir, 'versions');
  const dirs: string[] = [];
  for (const app of entriesOf(root))
    for (const service of entriesOf(join(root, app)))
      for (const version of entriesOf(join(root, app, service))) dirs.push(`${app}/${service}/${version}`);
  return dirs.sort();
}

/** One file of a raw manifest. */
export interface RawFile {
  path: string;
  sha256: string;
  size: number;
  mode: number;
  bytes: Buffer;
}

/** A manifest of every file under `dir` (node_modules and .git left out), as the CLI would send. */
export function manifestOf(dir: string): RawFile[] {
  return filesUnder(dir)
    .filter((path) => !path.split('/').some((part) => part === 'node_modules' || part === '.git'))
    .map((path) => {
      const bytes = readFileSync(join(dir, path));
      return {
        path,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        mode: 0o644,
        bytes,
      };
    });
}

/** What a raw deploy through the protocol saw. */
export interface RawDeploy {
  missing: string[];
  /** Every line of the build's NDJSON stream, parsed. */
  events: Array<Record<string, unknown>>;
  /** The last line (`result: ok | failed`). */
  result: Record<string, unknown> | undefined;
}

/**
 * One deploy through the protocol of docs/serve.md, as the CLI speaks it: the manifest, the
 * missing blobs, the build's NDJSON stream (whose result line says what the server counted).
 */
export async function rawDeploy(
  server: ServeProcess,
  dir: string,
  body: { app: string; service?: string; version?: string; promote?: boolean },
): Promise<RawDeploy> {
  const files = manifestOf(dir);
  const begun = await server.admin('POST', '/api/deploys', {
    app: body.app,
    service: body.service ?? 'default',
    ...(body.version === undefined ? {} : { version: body.version }),
    promote: body.promote ?? true,
    appYaml: readFileSync(join(dir, 'app.yaml'), 'utf8'),
    configFile: 'app.yaml',
    manifest: files.map(({ path, sha256, size, mode }) => ({ path, sha256, size, mode })),
  });
  if (begun.status !== 201) throw new Error(`POST /api/deploys: ${begun.status} ${begun.text}`);
  const { id, missing } = begun.json as { id: string; missing: string[] };
  for (const sha256 of missing) {
    const file = files.find((f) => f.sha256 === sha256)!;
    const put = await server.admin('PUT', `/api/blobs/${sha256}`, file.bytes);
    if (put.status !== 204) throw new Error(`PUT /api/blobs/${sha256}: ${put.status} ${put.text}`);
  }
  const build = await server.admin('POST', `/api/deploys/${id}/build`);
  const events = build.text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { missing, events, result: events.findLast((e) => 'result' in e) };
}

/**
 * One `hangar serve` for a whole test file, on a fresh data dir: started before its tests
 * (the built CLI must be there: `npm test` builds it first) and handed to `use`; stopped, with
 * its data dirs removed, after them.
 *
 * @example
 * let serve: ServeProcess;
 * serveForFile((started) => { serve = started; });
 */
export function serveForFile(use: (serve: ServeProcess) => void): void {
  beforeAll(async () => {
    expect(existsSync(cli)).toBe(true);
    use(await startServe());
  });
  afterAll(async () => {
    await stopAllServes();
    removeDataDirs();
  });
}

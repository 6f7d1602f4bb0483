/**
 * The servers the suite measures that are Node and Hangar: bare node:http, `hangar serve` with
 * bench/app deployed to it by `hangar deploy` (the production path, the row the summary judges
 * Hangar on) and `hangar dev` (watching, as a developer runs it). All serve bench/app on
 * 127.0.0.1 and a free port.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { hello } from './app/payload.mjs';
import { startChild, stopChild, track } from './children.js';
import type { CpuProcess } from './cpu.js';
import { firstLine } from './format.js';
import { type Answered, firstCorrect } from './probe.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** What a target is to the summary of the targets. */
export type Role =
  | 'bare'
  | 'dev'
  | 'production'
  | 'production-no-logging'
  /** `hangar serve` with its state in PostgreSQL (`serve --database`, the postgres scenario). */
  | 'postgres'
  | 'workerd'
  | 'functions-framework'
  | 'nginx'
  | 'other';

/**
 * Why a target has no figures when it failed to start: a peer is skipped (the issue allows a
 * peer that does not install), while Hangar or bare Node failing fails the run.
 *
 * @example
 * startProblem('workerd', err) // 'skipped: The package "@cloudflare/workerd-linux-64" could not be found, ...'
 */
export function startProblem(role: Role, err: unknown): string {
  if (err instanceof NotInstalled) return `not measured: ${err.message}`;
  const peer = role === 'workerd' || role === 'functions-framework' || role === 'nginx';
  return `${peer ? 'skipped' : 'FAILED TO START'}: ${firstLine(err)}`;
}

/** A target whose program is missing and cannot be installed (nginx): its row says so, the run goes on. */
export class NotInstalled extends Error {}

/** Problems that fail the run: anything but a skipped peer or a target not measured. */
export const failsRun = (problem: string | undefined) =>
  problem !== undefined && !problem.startsWith('skipped') && !problem.startsWith('not measured');

export interface Target {
  name: string;
  /** Base URL, ending in `/`. */
  url: string;
  /** The process the suite started (for Hangar, the platform; its instances are its children). */
  pid: number;
  /** `performance.now()` when the process was spawned: the start of a cold start. */
  spawnedAt: number;
  stop(): Promise<void>;
  /** `process.version` its instances report (the runtimes scenario's rows). */
  nodeVersion?: string;
  /** The processes whose CPU counts for it (default: `pid` and its descendants; Hangar's by role). */
  cpu?(): Promise<CpuProcess[]>;
}

export const root = resolve(import.meta.dirname, '..');
/** The app every target serves: the same routes and bytes for each (see bench/app/payload.mjs). */
export const appDir = join(root, 'bench/app');
/** The built CLI (`npm run bench` builds it first). */
const cli = join(root, 'dist/cli/main.js');

/** GET / and its right answer: what every start waits for. */
export const helloRequest = { path: '/', method: 'GET' as const, headers: {} };
export const helloAnswer = { status: 200, body: hello, gzip: false };

const listening = /listening on (\d+)/;

/** Bare node:http with the suite's routes (bench/app/bare.mjs): the limit for one Node process. */
export async function bareNode(env: Record<string, string> = {}): Promise<Target> {
  const { child, match, spawnedAt } = await startChild(
    process.execPath,
    [join(appDir, 'bare.mjs')],
    listening,
    { env },
  );
  return {
    name: 'bare node:http',
    url: `http://127.0.0.1:${match[1]}/`,
    pid: child.pid!,
    spawnedAt,
    stop: () => stopChild(child),
  };
}

export interface HangarOptions {
  /** `hangar dev` watching its files, or with `--no-watch`. */
  watch: boolean;
  /** Default: bench/app. */
  app?: string;
  /** An existing data dir (its compiled-TypeScript cache is reused); default: a fresh one, removed on stop. */
  dataDir?: string;
}

export interface HangarProcess {
  child: ChildProcess;
  spawnedAt: number;
  url: string;
  adminUrl: string;
  dataDir: string;
}

/** Starts `hangar dev` on free ports and resolves once it has printed its URLs (its first instance may still be starting). */
export async function startHangar(options: HangarOptions): Promise<HangarProcess> {
  const dataDir = options.dataDir ?? makeTempDir('data');
  const args = [
    cli,
    'dev',
    options.app ?? appDir,
    ...(options.watch ? [] : ['--no-watch']),
    '--port',
    '0',
    '--admin-port',
    '0',
    '--data-dir',
    dataDir,
  ];
  const { child, match, spawnedAt } = await startChild(
    process.execPath,
    args,
    /default \(version [^)]+\): (http:\/\/\S+)[\s\S]*admin API: (http:\/\/\S+)/,
  );
  return { child, spawnedAt, url: `${match[1]}/`, adminUrl: match[2]!, dataDir };
}

/**
 * Stops the platform (`hangar dev` or `hangar serve`) by its pid as Ctrl-C does (it drains and
 * stops its instances; SIGKILL after 10 s), then removes its data dir unless `options.dataDir`
 * says the data dir was the caller's.
 */
export async function stopHangar(
  hangar: HangarProcess,
  options: Pick<HangarOptions, 'dataDir'> = {},
): Promise<void> {
  await stopChild(hangar.child, 'SIGINT');
  if (!options.dataDir) removeTempDir(hangar.dataDir);
}

export const hangarName = (watch: boolean) => (watch ? 'hangar dev' : 'hangar dev --no-watch');

export const serveName = 'hangar serve';
/** The application id and version bench/app is deployed as. */
export const benchApp = { application: 'bench', version: 'v1' } as const;

export interface ServeOptions {
  /** The app to deploy; default: bench/app. */
  app?: string;
  /** A platform config (hangar.config.yaml) for the fresh data dir. */
  config?: string;
  /** The version it is deployed as; default: benchApp.version. */
  version?: string;
  /**
   * A PostgreSQL URL: every store there instead of SQLite in the data dir (`serve --database`),
   * as node `bench`. Handed over as HANGAR_DATABASE_URL, which `serve` reads as it reads
   * `--database`, so the password stays out of `ps`.
   */
  database?: string;
}

export interface ServeProcess extends HangarProcess {
  /** `performance.now()` when `hangar deploy` exited: the version promoted, none of its instances running. */
  deployedAt: number;
  /** The first right answer to GET / after the deploy (the request that started the version's first instance). */
  firstAnswer: Answered;
}

const serveListening = /Hangar serve \([^)]*\): (http:\/\/[^\s",]+)[\s\S]*admin API: (http:\/\/[^\s",]+)/;

/**
 * Starts `hangar serve` on a fresh data dir and free ports (both read from its log lines),
 * deploys `options.app` (bench/app) to it with the real `hangar deploy` CLI, and resolves once
 * GET / has answered right. Its state is in the data dir's SQLite unless `options.database`
 * (a HANGAR_DATABASE_URL in the suite's own environment is never passed on).
 */
export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const dataDir = makeTempDir('serve');
  if (options.config) writeFileSync(join(dataDir, 'hangar.config.yaml'), options.config);
  let started: HangarProcess;
  try {
    const { child, match, spawnedAt } = await startChild(
      process.execPath,
      [
        cli,
        'serve',
        '--port',
        '0',
        '--admin-port',
        '0',
        '--data-dir',
        dataDir,
        ...(options.database ? ['--node', 'bench'] : []),
      ],
      serveListening,
      // undefined removes the variable from the child's environment.
      { env: { HANGAR_DATABASE_URL: options.database } },
    );
    started = { child, spawnedAt, url: `${match[1]}/`, adminUrl: match[2]!, dataDir };
  } catch (err) {
    removeTempDir(dataDir);
    throw err;
  }
  try {
    await deploy(started, options.app ?? appDir, options.version);
    const deployedAt = performance.now();
    const firstAnswer = await firstCorrect(started.url, helloRequest, helloAnswer);
    return { ...started, deployedAt, firstAnswer };
  } catch (err) {
    await stopHangar(started);
    throw err;
  }
}

const run = promisify(execFile);

/** `hangar deploy APP --server ADMIN --application bench --version v1 [...more]`; throws with its output when it fails. */
export async function deploy(
  hangar: HangarProcess,
  app: string,
  version: string = benchApp.version,
  more: string[] = [],
): Promise<void> {
  const args = [
    cli,
    'deploy',
    app,
    '--server',
    hangar.adminUrl,
    '--data-dir',
    hangar.dataDir,
    '--application',
    benchApp.application,
    '--version',
    version,
    ...more,
  ];
  // The token of this platform, whatever HANGAR_TOKEN the suite's environment has.
  const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
  const running = run(process.execPath, args, {
    env: { ...process.env, NO_COLOR: '1', HANGAR_TOKEN: token },
    timeout: 120_000,
  });
  track(running.child);
  try {
    await running;
  } catch (err) {
    const {
      stdout = '',
      stderr = '',
      code,
      signal,
    } = err as {
      stdout?: string;
      stderr?: string;
      code?: number | string;
      signal?: string;
    };
    const output = `${stdout}${stderr}`.trim();
    const last = output.split('\n').at(-1) ?? '';
    throw new Error(`hangar deploy exited (${signal ?? code}): ${last}\n${output}`);
  }
}

/** `hangar serve` with bench/app (or `options.app`) deployed, as a target. */
export async function serve(options: ServeOptions = {}, name = serveName): Promise<Target> {
  const started = await startServe(options);
  return {
    name,
    url: started.url,
    pid: started.child.pid!,
    spawnedAt: started.spawnedAt,
    stop: () => stopHangar(started),
  };
}

/** `hangar dev` serving bench/app (or `options.app`), as a target. */
export async function hangar(options: HangarOptions, name = hangarName(options.watch)): Promise<Target> {
  const started = await startHangar(options);
  return {
    name,
    url: started.url,
    pid: started.child.pid!,
    spawnedAt: started.spawnedAt,
    stop: () => stopHangar(started, options),
  };
}

export interface InstanceInfo {
  id: string;
  state: string;
  pid: number;
  started: string;
  /** Instance spawn to ready (module loaded, listening). */
  readyMs: number | null;
  memory: number;
}

/** `GET /api/instances` of a running `hangar dev` or `hangar serve` (the token is in its data dir). */
export async function hangarInstances(hangar: HangarProcess): Promise<InstanceInfo[]> {
  const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${hangar.adminUrl}/api/instances`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`GET ${hangar.adminUrl}/api/instances: ${res.status}`);
  return ((await res.json()) as { instances: InstanceInfo[] }).instances;
}

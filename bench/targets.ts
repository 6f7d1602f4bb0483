/**
 * The servers the suite measures that are Node and Hangar: bare node:http and `hangar dev`
 * (watching, and with `--no-watch` as the stand-in for the production path until
 * `hangar serve` exists). All serve bench/app on 127.0.0.1 and a free port.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startChild, stopChild } from './children.js';
import { firstLine } from './format.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** What a target is to the summary of the targets. */
export type Role =
  | 'bare'
  | 'dev'
  | 'production'
  | 'production-no-logging'
  | 'workerd'
  | 'functions-framework'
  | 'other';

/**
 * Why a target has no figures when it failed to start: a peer is skipped (the issue allows a
 * peer that does not install), while Hangar or bare Node failing fails the run.
 *
 * @example
 * startProblem('workerd', err) // 'skipped: The package "@cloudflare/workerd-linux-64" could not be found, ...'
 */
export function startProblem(role: Role, err: unknown): string {
  const peer = role === 'workerd' || role === 'functions-framework';
  return `${peer ? 'skipped' : 'FAILED TO START'}: ${firstLine(err)}`;
}

/** Problems that fail the run: anything but a skipped peer. */
export const failsRun = (problem: string | undefined) =>
  problem !== undefined && !problem.startsWith('skipped');

export interface Target {
  name: string;
  /** Base URL, ending in `/`. */
  url: string;
  /** The process the suite started (for Hangar, the platform; its instances are its children). */
  pid: number;
  /** `performance.now()` when the process was spawned: the start of a cold start. */
  spawnedAt: number;
  stop(): Promise<void>;
}

export const root = resolve(import.meta.dirname, '..');
/** The app every target serves: the same routes and bytes for each (see bench/app/payload.mjs). */
export const appDir = join(root, 'bench/app');

const listening = /listening on (\d+)/;

/** Bare node:http with the suite's routes (bench/app/bare.mjs): the limit for one Node process. */
export async function bareNode(): Promise<Target> {
  const { child, match, spawnedAt } = await startChild(
    process.execPath,
    [join(appDir, 'bare.mjs')],
    listening,
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
    join(root, 'dist/cli/main.js'),
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

/** Stops the platform as Ctrl-C does (it drains and stops its instances), then removes a data dir it was given none of. */
export async function stopHangar(hangar: HangarProcess, options: HangarOptions): Promise<void> {
  await stopChild(hangar.child, 'SIGINT');
  if (!options.dataDir) removeTempDir(hangar.dataDir);
}

export const hangarName = (watch: boolean) => (watch ? 'hangar dev' : 'hangar dev --no-watch');

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

/** `GET /api/instances` of a running `hangar dev` (the token is in its data dir). */
export async function hangarInstances(hangar: HangarProcess): Promise<InstanceInfo[]> {
  const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${hangar.adminUrl}/api/instances`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`GET ${hangar.adminUrl}/api/instances: ${res.status}`);
  return ((await res.json()) as { instances: InstanceInfo[] }).instances;
}

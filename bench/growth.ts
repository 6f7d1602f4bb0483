/**
 * The growth scenario (issue 21, opt-in: `BENCH_SCENARIOS=growth`): ONE `hangar serve` as the
 * number of deployed versions grows to 1, 10 and 100. bench/app is deployed as v1 (promoted),
 * then the identical app again with `--no-promote` as v2, v3, ... (the upload is empty, only
 * the build runs). Idle versions scale to zero (`max_idle_instances: 0` in the app copy,
 * `scheduler.idle_period: 2s` in the platform config; the promoted v1 too, once idle); at each
 * step, once `GET /api/instances` shows no instance of a version but v1, the platform's RSS (and
 * its process tree's) is read, before and again after the load, then hello is measured on the promoted version's default host and on the newest version's own
 * `VERSION-dot-bench.localhost` host (after a warm-up request starts its instance).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hello } from './app/payload.mjs';
import { mib } from './format.js';
import type { LoadGenerator, LoadRequest, Round } from './load.js';
import { processTable, tree } from './memory.js';
import { probe } from './probe.js';
import { median } from './stats.js';
import { appDir, benchApp, deploy, type HangarProcess, startServe, stopHangar } from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** The version counts measured. */
const steps = [1, 10, 100];
/** Deploying stops at this much deploy time (the scenario is bounded); the table says how many fit. */
const deployBudgetMs = 8 * 60_000;
const idlePeriod = '2s';

export interface GrowthMeasure {
  host: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  rounds: Round[];
}

export interface GrowthRow {
  /** Versions deployed on the platform. */
  versions: number;
  /** RSS of the platform process, bytes. */
  platformBytes: number;
  /** RSS summed over the platform and all its descendants, bytes. */
  allBytes: number;
  /** The same two readings after the hello rounds, once the newest version is back at zero. */
  afterLoad: { platformBytes: number; allBytes: number };
  /** Processes in that tree. */
  processes: number;
  /** Instances `GET /api/instances` listed when RSS was read. */
  instances: number;
  /** Hello on the promoted version's default host. */
  promoted: GrowthMeasure;
  /** Hello on the newest version's own host (its instance started on demand by a warm-up request). */
  newest: GrowthMeasure;
  /** promoted req/s ÷ the first row's. */
  ratio: number;
  /** platformBytes ÷ the first row's. */
  platformRatio: number;
}

export interface GrowthResult {
  kind: 'growth';
  name: 'growth';
  description: string;
  rows: GrowthRow[];
  /** Median seconds per `hangar deploy --no-promote`. */
  deploySeconds: number | null;
  notes: string[];
}

const versionName = (n: number) => `v${n}`;
const hostOf = (version: string) => `${version}-dot-${benchApp.application}.localhost`;

interface Listed {
  version: string;
  state: string;
}

async function instances(hangar: HangarProcess): Promise<Listed[]> {
  const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${hangar.adminUrl}/api/instances`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!res.ok) throw new Error(`GET ${hangar.adminUrl}/api/instances: ${res.status}`);
  return ((await res.json()) as { instances: Listed[] }).instances;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until no version but the promoted one has an instance; returns what is listed then. */
async function idleVersionsAtZero(hangar: HangarProcess, log: (line: string) => void): Promise<Listed[]> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const listed = await instances(hangar);
    const idle = listed.filter((i) => i.version !== benchApp.version);
    if (!idle.length) return listed;
    if (performance.now() > deadline)
      throw new Error(`idle versions still have ${idle.length} instances after 60 s`);
    log(`growth: waiting for ${idle.length} idle-version instance(s) to stop`);
    await sleep(1000);
  }
}

export async function runGrowth(
  load: LoadGenerator,
  settings: { seconds: number; rounds: number; connections: number; warmupSeconds: number },
  log: (line: string) => void,
): Promise<GrowthResult> {
  // bench/app with its idle instances let go (the default keeps one idle instance per version).
  const app = makeTempDir('growth-app');
  cpSync(appDir, app, { recursive: true });
  writeFileSync(
    join(app, 'app.yaml'),
    `${readFileSync(join(appDir, 'app.yaml'), 'utf8')}automatic_scaling:\n  max_idle_instances: 0\n`,
  );
  const rows: GrowthRow[] = [];
  const deployTimes: number[] = [];
  const notes: string[] = [];
  let hangar: HangarProcess | undefined;
  try {
    hangar = await startServe({ app, config: `scheduler:\n  idle_period: ${idlePeriod}\n` });
    let deployed = 1;
    let deploySpent = 0;
    for (const step of steps) {
      while (deployed < step && deploySpent < deployBudgetMs) {
        const started = performance.now();
        await deploy(hangar, app, versionName(deployed + 1), ['--no-promote']);
        const took = performance.now() - started;
        deployTimes.push(took);
        deploySpent += took;
        deployed++;
        if (deployed % 10 === 0)
          log(`growth: ${deployed} versions deployed (last deploy ${Math.round(took)} ms)`);
      }
      if (deployed < step) {
        notes.push(
          `Only ${deployed} of ${step} versions were deployed: the deploys used up the scenario's ` +
            `${deployBudgetMs / 60_000}-minute budget.`,
        );
        if (rows.at(-1)?.versions === deployed) break;
      }
      rows.push(await measureStep(hangar, deployed, load, settings, log));
    }
  } finally {
    if (hangar) await stopHangar(hangar);
    removeTempDir(app);
  }
  const first = rows[0];
  for (const row of rows) {
    row.ratio = first ? row.promoted.reqPerSec / first.promoted.reqPerSec : 1;
    row.platformRatio = first ? row.platformBytes / first.platformBytes : 1;
  }
  return {
    kind: 'growth',
    name: 'growth',
    description:
      'one `hangar serve` with 1, 10 and 100 versions of bench/app deployed, the idle ones scaled to zero',
    rows,
    deploySeconds: deployTimes.length ? median(deployTimes) / 1000 : null,
    notes,
  };
}

async function measureStep(
  hangar: HangarProcess,
  versions: number,
  load: LoadGenerator,
  settings: { seconds: number; rounds: number; connections: number; warmupSeconds: number },
  log: (line: string) => void,
): Promise<GrowthRow> {
  const pid = hangar.child.pid!;
  const settledRss = async () => {
    const listed = await idleVersionsAtZero(hangar, log);
    // Let the platform settle (GC, the stopped instances' bookkeeping) before reading RSS.
    await sleep(3000);
    const table = await processTable();
    const pids = tree(table, pid);
    const platformBytes = table.get(pid)!.bytes;
    const allBytes = pids.reduce((sum, p) => sum + table.get(p)!.bytes, 0);
    return { listed, pids, platformBytes, allBytes };
  };
  const { listed, pids, platformBytes, allBytes } = await settledRss();
  log(`growth ${versions} versions: platform ${mib(platformBytes)} MiB, all ${mib(allBytes)} MiB`);
  const measure = async (host: string): Promise<GrowthMeasure> => {
    const request: LoadRequest = { path: '/', method: 'GET', headers: host ? { Host: host } : {} };
    const wrong = await probe(hangar.url, request, { status: 200, body: hello, gzip: false });
    if (wrong) throw new Error(`growth: ${host || 'default host'} answered wrongly: ${wrong}`);
    await load.round(hangar.url, request, settings.warmupSeconds, settings.connections);
    const rounds: Round[] = [];
    for (let i = 0; i < settings.rounds; i++) {
      const r = await load.round(hangar.url, request, settings.seconds, settings.connections);
      rounds.push(r);
      log(
        `growth ${versions} versions, ${host || 'default host'}: ${Math.round(r.reqPerSec)} req/s, ` +
          `p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors + r.non2xx} errors`,
      );
    }
    return {
      host: host || 'default host',
      reqPerSec: median(rounds.map((r) => r.reqPerSec)),
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
      errors: rounds.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      rounds,
    };
  };
  const promoted = await measure('');
  const newestVersion = versionName(versions);
  const newest = await measure(hostOf(newestVersion));
  // The `-dot-` host reached the newest version (a wrong host would go to the promoted one).
  if (versions > 1 && !(await instances(hangar)).some((i) => i.version === newestVersion))
    throw new Error(`growth: ${hostOf(newestVersion)} started no instance of ${newestVersion}`);
  const after = await settledRss();
  log(
    `growth ${versions} versions after the load: platform ${mib(after.platformBytes)} MiB, all ${mib(after.allBytes)} MiB`,
  );
  return {
    versions,
    platformBytes,
    allBytes,
    afterLoad: { platformBytes: after.platformBytes, allBytes: after.allBytes },
    processes: pids.length,
    instances: listed.length,
    promoted,
    newest,
    ratio: 1,
    platformRatio: 1,
  };
}

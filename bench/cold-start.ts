/**
 * The cold-start scenario: from spawning a server's process to its first correct 200 on GET /,
 * for bare Node, `hangar dev` and the peers, repeated in alternation, medians reported. For
 * Hangar also the instance's own cold start from the admin API: spawn → ready (`readyMs`) and
 * spawn → the first response sent. `hangar dev` compiles the TypeScript module on the first
 * start of a data dir and caches it there, so it runs twice: on a fresh data dir (compiling,
 * the "TypeScript included") and on one whose cache is already warm. `hangar serve`
 * compiles at deploy: its rows are the first request to a version just deployed (none of its
 * instances running) → its 200, with that request's instance from the admin API. The production
 * row spawns that instance (`scheduler.warm_spares: 0`); the next row is serve as it runs by
 * default, where the instance is a warm spare started ahead of need (src/scheduler/warm-spares.ts),
 * so its "instance" columns run from taking the spare: the loading request's wait.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionsFramework, workerd } from './peers.js';
import { type Answered, firstCorrect } from './probe.js';
import {
  bareNode,
  hangarInstances,
  helloAnswer,
  helloRequest,
  type Role,
  serveName,
  startHangar,
  startProblem,
  startServe,
  stopHangar,
  type Target,
} from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

export interface ColdStartRow {
  /** `dev` is `hangar dev` on a fresh data dir; `other` on a warm cache; `production` is `hangar serve`. */
  role: Role;
  name: string;
  /** What the first column measures from. */
  from: 'process spawn' | '`hangar dev` spawn' | 'first request, no instance running';
  /** Each run's spawn → first 200, ms. */
  toFirst200Ms: number[];
  /** Hangar only: each run's instance spawn → ready and instance spawn → first response, ms. */
  instanceReadyMs?: number[];
  instanceFirstResponseMs?: number[];
  /** The row of `hangar serve` taking a warm spare for the loading request (issue 21). */
  warmSpare?: true;
  problem?: string;
}

export interface ColdStartResult {
  kind: 'cold-start';
  name: 'cold-start';
  runs: number;
  rows: ColdStartRow[];
}

/** Polls GET / until it answers hello correctly. */
const firstHello = (url: string): Promise<Answered> => firstCorrect(url, helloRequest, helloAnswer);

interface Measure {
  toFirst200Ms: number;
  instanceReadyMs?: number;
  instanceFirstResponseMs?: number;
}

async function serverStart(start: () => Promise<Target>): Promise<Measure> {
  const target = await start();
  try {
    return { toFirst200Ms: (await firstHello(target.url)).at - target.spawnedAt };
  } finally {
    await target.stop();
  }
}

async function hangarDev(dataDir: string | undefined): Promise<Measure> {
  const options = { watch: true, ...(dataDir ? { dataDir } : {}) };
  const hangar = await startHangar(options);
  try {
    const first = await firstHello(hangar.url);
    const [instance] = await hangarInstances(hangar);
    if (!instance || instance.readyMs === null) throw new Error('the admin API lists no ready instance');
    return {
      toFirst200Ms: first.at - hangar.spawnedAt,
      instanceReadyMs: instance.readyMs,
      instanceFirstResponseMs: first.wall - Date.parse(instance.started),
    };
  } finally {
    await stopHangar(hangar, options);
  }
}

/**
 * A fresh `hangar serve` with bench/app deployed. The deploy leaves the instance that proved the
 * version loads running, so that one is stopped (`POST /api/instances/<id>/stop`) and the
 * measure is the next request: the first to a deployed version with no instance running. With
 * `spare`, that request's instance is the warm spare, which is waited for first (ready).
 */
async function serveDeployed(spare: boolean): Promise<Measure> {
  const hangar = await startServe(spare ? {} : { config: 'scheduler:\n  warm_spares: 0\n' });
  try {
    const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
    for (const running of await hangarInstances(hangar)) {
      const res = await fetch(`${hangar.adminUrl}/api/instances/${running.id}/stop`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status !== 202) throw new Error(`stopping instance ${running.id}: ${res.status}`);
    }
    const deadline = performance.now() + 10_000;
    while ((await hangarInstances(hangar)).length > 0) {
      if (performance.now() > deadline) throw new Error("the deploy's instance did not stop within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    while (spare) {
      const res = await fetch(`${hangar.adminUrl}/api/instances`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const doc = (await res.json()) as { warmSpares?: { spares: Array<{ ready: boolean }> } };
      if (doc.warmSpares?.spares.some((s) => s.ready)) break;
      if (performance.now() > deadline) throw new Error('no warm spare was ready within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const asked = performance.now();
    const first = await firstHello(hangar.url);
    const instances = await hangarInstances(hangar);
    const instance = instances.find((i) => i.readyMs !== null && i.state === 'ready');
    if (!instance || instance.readyMs === null) throw new Error('the admin API lists no ready instance');
    if (instances.length !== 1)
      throw new Error(`expected 1 instance, the admin API lists ${instances.length}`);
    return {
      toFirst200Ms: first.at - asked,
      instanceReadyMs: instance.readyMs,
      instanceFirstResponseMs: first.wall - Date.parse(instance.started),
    };
  } finally {
    await stopHangar(hangar);
  }
}

export async function runColdStart(runs: number, log: (line: string) => void): Promise<ColdStartResult> {
  const warmCache = makeTempDir('cache');
  try {
    // One start fills the compiled-TypeScript cache the "cache warm" runs reuse.
    await hangarDev(warmCache);
    const kinds: Array<{ row: ColdStartRow; measure: () => Promise<Measure> }> = [
      {
        row: { role: 'bare', name: 'bare node:http', from: 'process spawn', toFirst200Ms: [] },
        measure: () => serverStart(bareNode),
      },
      {
        row: {
          role: 'dev',
          name: 'hangar dev, fresh data dir (compiles TypeScript)',
          from: '`hangar dev` spawn',
          toFirst200Ms: [],
          instanceReadyMs: [],
          instanceFirstResponseMs: [],
        },
        measure: () => hangarDev(undefined),
      },
      {
        row: {
          role: 'other',
          name: 'hangar dev, compiled cache warm',
          from: '`hangar dev` spawn',
          toFirst200Ms: [],
          instanceReadyMs: [],
          instanceFirstResponseMs: [],
        },
        measure: () => hangarDev(warmCache),
      },
      {
        row: {
          role: 'production',
          name: `${serveName}, version just deployed (compiled at deploy), no warm spare`,
          from: 'first request, no instance running',
          toFirst200Ms: [],
          instanceReadyMs: [],
          instanceFirstResponseMs: [],
        },
        measure: () => serveDeployed(false),
      },
      {
        row: {
          role: 'other',
          warmSpare: true,
          name: `${serveName}, version just deployed, warm spare (the default; instance columns from taking it)`,
          from: 'first request, no instance running',
          toFirst200Ms: [],
          instanceReadyMs: [],
          instanceFirstResponseMs: [],
        },
        measure: () => serveDeployed(true),
      },
      {
        row: { role: 'workerd', name: 'workerd', from: 'process spawn', toFirst200Ms: [] },
        measure: () => serverStart(workerd),
      },
      {
        row: {
          role: 'functions-framework',
          name: 'functions-framework',
          from: 'process spawn',
          toFirst200Ms: [],
        },
        measure: () => serverStart(functionsFramework),
      },
    ];
    for (let run = 1; run <= runs; run++) {
      for (const { row, measure } of kinds) {
        if (row.problem) continue;
        try {
          const m = await measure();
          row.toFirst200Ms.push(m.toFirst200Ms);
          if (m.instanceReadyMs !== undefined) row.instanceReadyMs?.push(m.instanceReadyMs);
          if (m.instanceFirstResponseMs !== undefined)
            row.instanceFirstResponseMs?.push(m.instanceFirstResponseMs);
          log(`cold start ${run} ${row.name}: ${m.toFirst200Ms.toFixed(0)} ms to the first 200`);
        } catch (err) {
          row.problem = startProblem(row.role, err);
          log(`cold start ${row.name} ${row.problem}`);
        }
      }
    }
    return { kind: 'cold-start', name: 'cold-start', runs, rows: kinds.map((k) => k.row) };
  } finally {
    removeTempDir(warmCache);
  }
}

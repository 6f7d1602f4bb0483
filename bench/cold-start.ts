/**
 * The cold-start scenario: from spawning a server's process to its first correct 200 on GET /,
 * for bare Node, `hangar dev` and the peers, repeated in alternation, medians reported. For
 * Hangar also the instance's own cold start from the admin API: spawn → ready (`readyMs`) and
 * spawn → the first response sent. Hangar's TypeScript module is compiled on the first start of
 * a data dir and cached there, so Hangar runs twice: on a fresh data dir (compiling, the
 * issue's "TypeScript included") and on one whose cache is already warm.
 */
import { hello } from './app/payload.mjs';
import { functionsFramework, workerd } from './peers.js';
import { probe } from './probe.js';
import {
  bareNode,
  hangarInstances,
  type Role,
  startHangar,
  startProblem,
  stopHangar,
  type Target,
} from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

export interface ColdStartRow {
  /** `dev` is Hangar on a fresh data dir; `other` on a warm cache. */
  role: Role;
  name: string;
  /** What the first column measures from. */
  from: 'process spawn' | '`hangar dev` spawn';
  /** Each run's spawn → first 200, ms. */
  toFirst200Ms: number[];
  /** Hangar only: each run's instance spawn → ready and instance spawn → first response, ms. */
  instanceReadyMs?: number[];
  instanceFirstResponseMs?: number[];
  problem?: string;
}

export interface ColdStartResult {
  kind: 'cold-start';
  name: 'cold-start';
  runs: number;
  rows: ColdStartRow[];
}

const helloRequest = { path: '/', method: 'GET' as const, headers: {} };

/** Polls GET / until it answers hello correctly; resolves with `performance.now()` and `Date.now()` then. */
async function firstHello(url: string): Promise<{ at: number; wall: number }> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const wrong = await probe(url, helloRequest, { status: 200, body: hello, gzip: false }).catch(
      (err: Error) => err.message,
    );
    if (!wrong) return { at: performance.now(), wall: Date.now() };
    if (performance.now() > deadline) throw new Error(`no correct answer within 30 s: ${wrong}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

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

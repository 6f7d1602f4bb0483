/**
 * The memory scenario: resident memory (RSS, from `ps`) of each server after one request and
 * an idle period, per process and per idle instance. Hangar is `hangar serve` with bench/app
 * deployed; an instance is its process and that process's children; the platform and the
 * socket service are once per machine. For bare Node, the Functions Framework and workerd the
 * one process is the instance.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { hello } from './app/payload.mjs';
import { mib } from './format.js';
import { functionsFramework, workerd } from './peers.js';
import { probe } from './probe.js';
import {
  bareNode,
  hangarInstances,
  type Role,
  root,
  serveName,
  startProblem,
  startServe,
  stopHangar,
  type Target,
} from './targets.js';

const run = promisify(execFile);

export interface MemoryRow {
  role: Role;
  name: string;
  /** Each process of the target (its process and all descendants): what it is and its RSS, bytes. */
  processes: Array<{ label: string; bytes: number }> | null;
  /** RSS of one idle instance and its own children (any process it started), bytes. */
  instanceBytes: number | null;
  problem?: string;
}

export interface MemoryResult {
  kind: 'memory';
  name: 'memory';
  idleSeconds: number;
  rows: MemoryRow[];
}

interface Measured extends Target {
  /** The pid of an instance, when that is not the target's own process. */
  instancePid?(): Promise<number>;
  /** Hangar: its warm spares (processes started ahead of need, src/scheduler/warm-spares.ts). */
  sparePids?(): Promise<number[]>;
}

export interface ProcessInfo {
  ppid: number;
  bytes: number;
  command: string;
}

/** Every process by pid (`ps` reads the same on Linux and macOS). */
export async function processTable(): Promise<Map<number, ProcessInfo>> {
  const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid=,rss=,args=']);
  const table = new Map<number, ProcessInfo>();
  for (const line of stdout.trim().split('\n')) {
    const [pid, ppid, rssKiB, ...args] = line.trim().split(/\s+/);
    table.set(Number(pid), { ppid: Number(ppid), bytes: Number(rssKiB) * 1024, command: args.join(' ') });
  }
  return table;
}

/** `rootPid` and its descendants, parents first. */
export function tree(table: Map<number, ProcessInfo>, rootPid: number): number[] {
  const pids = [rootPid];
  for (let i = 0; i < pids.length; i++)
    for (const [pid, { ppid }] of table) if (ppid === pids[i] && !pids.includes(pid)) pids.push(pid);
  return pids.filter((pid) => table.has(pid));
}

/** A process's short name: a Node script's path in this repository (past Node's flags), or a binary's name. */
export function label(command: string): string {
  const [program = '', ...args] = command.split(' ');
  const script = args.find((arg) => !arg.startsWith('-')) ?? '';
  return basename(program) === 'node' ? relative(root, script) : basename(program);
}

/** `server` when the target is one process; else `platform`, `instance`, `warm spare` and the others by command. */
function processLabel(
  pid: number,
  targetPid: number,
  instancePid: number,
  spares: number[],
  table: Map<number, ProcessInfo>,
) {
  if (pid === targetPid) return targetPid === instancePid ? 'server' : 'platform';
  if (spares.includes(pid)) return 'warm spare';
  return pid === instancePid ? 'instance' : label(table.get(pid)!.command);
}

async function hangarTarget(): Promise<Measured> {
  const hangar = await startServe();
  return {
    name: serveName,
    url: hangar.url,
    pid: hangar.child.pid!,
    spawnedAt: hangar.spawnedAt,
    stop: () => stopHangar(hangar),
    instancePid: async () => {
      const instances = (await hangarInstances(hangar)).filter((i) => i.state === 'ready');
      if (instances.length !== 1) throw new Error(`expected 1 ready instance, found ${instances.length}`);
      return instances[0]!.pid;
    },
    sparePids: async () => {
      const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
      const res = await fetch(`${hangar.adminUrl}/api/instances`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const doc = (await res.json()) as { warmSpares?: { spares: Array<{ pid: number }> } };
      return doc.warmSpares?.spares.map((spare) => spare.pid) ?? [];
    },
  };
}

export async function runMemory(idleSeconds: number, log: (line: string) => void): Promise<MemoryResult> {
  const starts: Array<[Role, () => Promise<Measured>]> = [
    ['bare', bareNode],
    ['production', hangarTarget],
    ['workerd', workerd],
    ['functions-framework', functionsFramework],
  ];
  const rows: MemoryRow[] = [];
  const live: Array<{ row: MemoryRow; target: Measured }> = [];
  const problem = (role: Role, name: string, message: string) => {
    rows.push({ role, name, processes: null, instanceBytes: null, problem: message });
    log(`memory ${name}: ${message}`);
  };
  try {
    for (const [role, start] of starts) {
      let target: Measured;
      try {
        target = await start();
      } catch (err) {
        problem(role, role, startProblem(role, err));
        continue;
      }
      const wrong = await probe(
        target.url,
        { path: '/', method: 'GET', headers: {} },
        { status: 200, body: hello, gzip: false },
      ).catch((err: Error) => err.message);
      if (wrong) {
        await target.stop();
        problem(role, target.name, `WRONG ANSWER: ${wrong}`);
        continue;
      }
      const row: MemoryRow = {
        role,
        name: target.name,
        processes: null,
        instanceBytes: null,
      };
      rows.push(row);
      live.push({ row, target });
    }
    // All idle at once: one wait for the lot.
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const table = await processTable();
    for (const { row, target } of live) {
      const instancePid = target.instancePid ? await target.instancePid() : target.pid;
      const spares = target.sparePids ? await target.sparePids() : [];
      const bytes = (pids: number[]) => pids.reduce((sum, pid) => sum + table.get(pid)!.bytes, 0);
      row.processes = tree(table, target.pid).map((pid) => ({
        label: processLabel(pid, target.pid, instancePid, spares, table),
        bytes: table.get(pid)!.bytes,
      }));
      row.instanceBytes = bytes(tree(table, instancePid));
      log(`memory ${row.name}: ${mib(row.instanceBytes)} MiB per idle instance`);
    }
  } finally {
    await Promise.all(live.map(({ target }) => target.stop()));
  }
  return { kind: 'memory', name: 'memory', idleSeconds, rows };
}

/**
 * CPU per request per process (issue 21): utime + stime from /proc/<pid>/stat (Linux) before
 * and after a measured round, divided by the round's requests. Hangar's platform is also split
 * by thread (/proc/<pid>/task/<tid>/stat), so its log thread shows apart from its main thread.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { label, processTable, tree } from './memory.js';

/** One process whose CPU is counted, under `label`; `threads`: split it by thread (Hangar's platform). */
export interface CpuProcess {
  label: string;
  pid: number;
  threads?: boolean;
}

/** Clock ticks per second of /proc's utime and stime (`getconf CLK_TCK`, 100 on Linux). */
const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime and start time (ticks) of a process or thread, from its `stat` file; null when gone. */
function stat(path: string): { ticks: number; start: number } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command, which may hold spaces: state is field 3, utime 14, stime 15, starttime 22.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(fields[11]) + Number(fields[12]), start: Number(fields[19]) };
}

export const platformThreads = {
  main: 'front end (platform main thread)',
  log: 'log thread',
  other: 'other platform threads',
} as const;

/**
 * Ticks by `label/id` now. Node names none of its threads (every comm is `node`), so the log
 * thread is told by its start: the worker thread Hangar starts after Node's own threads (V8's,
 * libuv's pool), i.e. the platform's newest thread.
 */
export function sampleCpu(processes: CpuProcess[]): Map<string, { label: string; ticks: number }> {
  const sample = new Map<string, { label: string; ticks: number }>();
  for (const p of processes) {
    if (!p.threads) {
      const s = stat(`/proc/${p.pid}/stat`);
      if (s) sample.set(`${p.pid}`, { label: p.label, ticks: s.ticks });
      continue;
    }
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p.pid}/task`);
    } catch {
      continue;
    }
    const threads = tids.flatMap((tid) => {
      const s = stat(`/proc/${p.pid}/task/${tid}/stat`);
      return s ? [{ tid: Number(tid), ...s }] : [];
    });
    const newest = threads
      .filter((t) => t.tid !== p.pid)
      .reduce<(typeof threads)[number] | undefined>(
        (a, t) => (!a || t.start > a.start || (t.start === a.start && t.tid > a.tid) ? t : a),
        undefined,
      );
    for (const t of threads) {
      const which = t.tid === p.pid ? 'main' : t === newest ? 'log' : 'other';
      sample.set(`${p.pid}/${t.tid}`, { label: platformThreads[which], ticks: t.ticks });
    }
  }
  return sample;
}

/** µs of CPU per request by label between two samples (a process new in `after` counts whole). */
export function cpuPerRequest(
  before: ReturnType<typeof sampleCpu>,
  after: ReturnType<typeof sampleCpu>,
  requests: number,
): Record<string, number> {
  const us: Record<string, number> = {};
  for (const [id, { label, ticks }] of after) {
    const spent = ticks - (before.get(id)?.ticks ?? 0);
    us[label] = (us[label] ?? 0) + (spent * 1e6) / clockTicks / Math.max(requests, 1);
  }
  return us;
}

/** A target's process and its descendants: `server` when it is one process, else by command. */
export async function processTree(pid: number, rootLabel = 'server'): Promise<CpuProcess[]> {
  const table = await processTable();
  return tree(table, pid).map((p) => ({
    pid: p,
    label: p === pid ? rootLabel : label(table.get(p)!.command),
  }));
}

/** Hangar's platform split by thread, its instances and its socket service. */
export async function hangarProcesses(pid: number): Promise<CpuProcess[]> {
  const table = await processTable();
  return tree(table, pid).map((p) => {
    if (p === pid) return { pid: p, label: 'platform', threads: true };
    const command = table.get(p)!.command;
    // dist/instance/main.bundle.js (or main.js where it was not bundled); warm spares too.
    if (command.includes('dist/instance/main.')) return { pid: p, label: 'instance process(es)' };
    if (command.includes('dist/sockets/service/main.js')) return { pid: p, label: 'socket service' };
    return { pid: p, label: label(command) };
  });
}

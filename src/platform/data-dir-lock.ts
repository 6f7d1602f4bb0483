/**
 * One platform per data dir. Two `hangar dev` runs from one folder shared `.hangar` silently:
 * the second minted a new socket-service key under the first one's sockets, and both wrote one
 * log. `<data-dir>/platform.lock` (created exclusively) holds the owner's pid, its start time
 * and, once it listens, its ports; a second platform gets an error naming them. A lock whose
 * process is gone (killed, crashed: the pid is dead, or now another process, which its start
 * time tells apart) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HangarError } from '../shared/errors.js';

export const LOCK_FILE = 'platform.lock';

interface LockContent {
  pid: number;
  /** The process's start time (clock ticks since boot, /proc), so a reused pid is not taken for the owner. */
  started: string | null;
  ports?: { http: number; admin?: number } | undefined;
  /** The admin API's URL once it listens, for the CLI's verbs pointed at this data dir. */
  adminUrl?: string | undefined;
}

export interface DataDirLock {
  /**
   * Records the ports the platform listens on, for the error a second platform gets, and the
   * admin API's URL, which `hangar logs --data-dir DIR` (and the other verbs) then find.
   */
  listening(ports: { http: number; admin?: number }, adminUrl?: string): void;
  release(): void;
}

/**
 * Takes the data dir for this process; throws HangarError DATA_DIR_IN_USE naming the owner
 * when a live platform holds it.
 *
 * @example
 * const lock = lockDataDir(dataDir);
 * lock.listening({ http: 8080, admin: 8000 });
 * lock.release();
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE);
  const own: LockContent = { pid: process.pid, started: startTime(process.pid) };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeFileSync(fd, JSON.stringify(own));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(err, file);
      const holder = readLock(file);
      if (holder && holder.pid !== process.pid && alive(holder)) throw inUse(dataDir, holder);
      // Left by a platform that is gone: taken over.
      rmSync(file, { force: true });
    }
  }
  let released = false;
  return {
    listening(ports, adminUrl) {
      if (!released) writeFileSync(file, JSON.stringify({ ...own, ports, adminUrl } satisfies LockContent));
    },
    release() {
      if (released) return;
      released = true;
      // Only its own: a platform that took over a stale lock must keep its.
      if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}

/**
 * The admin API's URL of the platform running on `dataDir`, when one is (and has opened its
 * admin port); undefined otherwise. The CLI's verbs use it when no `--server` is given, so a
 * platform on `--admin-port 0` is found from its data dir alone.
 *
 * @example
 * runningAdminUrl('.hangar') // 'http://127.0.0.1:41877'
 */
export function runningAdminUrl(dataDir: string): string | undefined {
  const holder = readLock(join(dataDir, LOCK_FILE));
  return holder?.adminUrl !== undefined && alive(holder) ? holder.adminUrl : undefined;
}

function readLock(file: string): LockContent | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockContent>;
    return typeof value.pid === 'number' ? (value as LockContent) : undefined;
  } catch {
    return undefined;
  }
}

function alive(holder: LockContent): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: alive, someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const started = startTime(holder.pid);
  return holder.started === null || started === null || started === holder.started;
}

/** Start time of `pid` (field 22 of /proc/<pid>/stat); null where there is no /proc. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function inUse(dataDir: string, holder: LockContent): HangarError {
  const ports = holder.ports
    ? ` (port ${holder.ports.http}${holder.ports.admin === undefined ? '' : `, admin port ${holder.ports.admin}`})`
    : ' (still starting)';
  return new HangarError(
    'DATA_DIR_IN_USE',
    `the data dir ${dataDir} is in use by another Hangar platform, pid ${holder.pid}${ports}; stop that one, or give this one its own --data-dir`,
  );
}

function lockError(err: unknown, file: string): HangarError {
  return new HangarError(
    'DATA_DIR_IN_USE',
    `cannot take ${file}: ${(err as Error).message}; check that the data dir is writable`,
    { cause: err },
  );
}

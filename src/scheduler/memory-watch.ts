/**
 * Resident memory of a process as the kernel counts it, read from outside the process: a
 * heartbeat cannot report a process whose event loop is busy allocating, so the hard memory
 * cap (docs/security.md) is checked by the platform itself, several times a second.
 */
import { readFile } from 'node:fs/promises';

/** How often the platform reads an instance's resident memory. */
export const memoryWatchIntervalMs = 100;

/**
 * Resident memory of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`), or undefined where
 * there is no /proc (not Linux) or the process is gone.
 *
 * @example
 * const rss = await residentBytes(child.pid);
 */
export async function residentBytes(pid: number, procRoot = '/proc'): Promise<number | undefined> {
  let status: string;
  try {
    status = await readFile(`${procRoot}/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * The hard memory cap in the kernel, where cgroup v2 with the memory controller is there for
 * Hangar to use (docs/security.md): each instance process goes into a cgroup of its own with
 * `memory.max` at the cap, so the kernel stops it the moment it passes the cap, however it
 * allocates. Where that is not possible (cgroup v1, no memory controller, a cgroup that may
 * not get children, not Linux), the platform's own RSS watch (memory-watch.ts) enforces the
 * cap instead; `probeMemoryCgroup()` says which, once.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the cgroup v2 hierarchy and this process's place in it are. */
export interface CgroupFacts {
  /** The cgroup2 mount, normally `/sys/fs/cgroup`. */
  root: string;
  /** `/proc/self/cgroup`, normally. */
  selfCgroupFile: string;
}

const systemFacts: CgroupFacts = { root: '/sys/fs/cgroup', selfCgroupFile: '/proc/self/cgroup' };

/** Instances' cgroups under one platform's own; made by `probeMemoryCgroup`. */
export interface MemoryCgroups {
  /** The platform's cgroup that holds one child per instance. */
  readonly dir: string;
  /** Puts `pid` into a new cgroup named `name` with `memory.max` = `maxBytes`. */
  confine(name: string, pid: number, maxBytes: number): Promise<ConfinedInstance>;
  /** Removes the platform's cgroup once every instance is gone. */
  remove(): Promise<void>;
}

/** One instance's cgroup. */
export interface ConfinedInstance {
  /** True when the kernel killed a process of it for passing `memory.max`. */
  oomKilled(): Promise<boolean>;
  /** Removes the (empty) cgroup once its process has exited. */
  remove(): Promise<void>;
}

/**
 * Sets up `hangar-<pid>` under this process's cgroup with the memory controller enabled for
 * its children, or says why it cannot (the reason goes into the platform's start-up line).
 *
 * @example
 * const cgroups = await probeMemoryCgroup();
 * if (typeof cgroups !== 'string') await cgroups.confine(instanceId, child.pid, cap);
 */
export async function probeMemoryCgroup(
  facts: CgroupFacts = systemFacts,
  platformPid: number = process.pid,
): Promise<MemoryCgroups | string> {
  const controllers = await readText(join(facts.root, 'cgroup.controllers'));
  if (controllers === undefined) return `no cgroup v2 hierarchy at ${facts.root}`;
  if (!controllers.split(/\s+/).includes('memory'))
    return `cgroup v2 at ${facts.root} has no memory controller`;
  const self = await readText(facts.selfCgroupFile);
  const path = self
    ?.split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3)
    .trim();
  if (path === undefined) return `${facts.selfCgroupFile} names no cgroup v2 path`;
  const parent = join(facts.root, path);
  const dir = join(parent, `hangar-${platformPid}`);
  try {
    // Children of `parent` may use the memory controller only if `parent` hands it down; a
    // cgroup that holds processes itself (other than the root) may not (no internal processes).
    await writeFile(join(parent, 'cgroup.subtree_control'), '+memory');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'cgroup.subtree_control'), '+memory');
  } catch (err) {
    await rmdir(dir).catch(() => {});
    return `cannot delegate the memory controller below ${parent}: ${(err as Error).message}`;
  }
  return {
    dir,
    async confine(name, pid, maxBytes) {
      const own = join(dir, name);
      await mkdir(own, { recursive: true });
      await writeFile(join(own, 'memory.max'), String(Math.floor(maxBytes)));
      // No swap: past the cap the process ends instead of paging.
      await writeFile(join(own, 'memory.swap.max'), '0').catch(() => {});
      await writeFile(join(own, 'cgroup.procs'), String(pid));
      return {
        async oomKilled() {
          const events = await readText(join(own, 'memory.events'));
          const kills = events === undefined ? undefined : /^oom_kill (\d+)$/m.exec(events)?.[1];
          return kills !== undefined && Number(kills) > 0;
        },
        remove: () => rmdir(own).catch(() => {}),
      };
    },
    remove: () => rmdir(dir).catch(() => {}),
  };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

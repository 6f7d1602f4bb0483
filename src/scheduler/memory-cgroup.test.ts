import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeMemoryCgroup } from './memory-cgroup.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A cgroup2 tree as files: what the kernel's cgroupfs shows, without the kernel. */
function fakeTree(controllers: string, selfCgroup: string) {
  const base = mkdtempSync(join(tmpdir(), 'hangar-cgroup-'));
  dirs.push(base);
  const root = join(base, 'cgroup');
  mkdirSync(join(root, 'platform.slice'), { recursive: true });
  writeFileSync(join(root, 'cgroup.controllers'), controllers);
  writeFileSync(join(root, 'platform.slice', 'cgroup.subtree_control'), '');
  const selfCgroupFile = join(base, 'self-cgroup');
  writeFileSync(selfCgroupFile, selfCgroup);
  return { root, selfCgroupFile };
}

describe('probeMemoryCgroup', () => {
  it('confines an instance: its own cgroup with memory.max at the cap and its pid', async () => {
    const facts = fakeTree('cpuset cpu io memory pids\n', '0::/platform.slice\n');
    const cgroups = await probeMemoryCgroup(facts, 4242);
    if (typeof cgroups === 'string') throw new Error(cgroups);
    expect(cgroups.dir).toBe(join(facts.root, 'platform.slice', 'hangar-4242'));
    expect(readFileSync(join(facts.root, 'platform.slice', 'cgroup.subtree_control'), 'utf8')).toBe(
      '+memory',
    );
    const confined = await cgroups.confine('abc123', 777, 480 * 2 ** 20);
    const own = join(cgroups.dir, 'abc123');
    expect(readFileSync(join(own, 'memory.max'), 'utf8')).toBe(String(480 * 2 ** 20));
    expect(readFileSync(join(own, 'memory.swap.max'), 'utf8')).toBe('0');
    expect(readFileSync(join(own, 'cgroup.procs'), 'utf8')).toBe('777');
    expect(await confined.oomKilled()).toBe(false);
    writeFileSync(join(own, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect(await confined.oomKilled()).toBe(true);
  });

  it.each([
    ['no cgroup v2 hierarchy', undefined, '0::/x\n', /^no cgroup v2 hierarchy at /],
    ['no memory controller', 'cpu io pids\n', '0::/platform.slice\n', /has no memory controller$/],
    ['a v1-only process', 'cpu memory\n', '4:memory:/user\n', /names no cgroup v2 path$/],
  ])('says why it cannot: %s', async (_name, controllers, self, reason) => {
    const facts = fakeTree(controllers ?? '', self);
    if (controllers === undefined) rmSync(join(facts.root, 'cgroup.controllers'));
    expect(await probeMemoryCgroup(facts, 1)).toMatch(reason);
  });

  it('says why when the parent cgroup may not hand the controller down', async () => {
    const facts = fakeTree('memory\n', '0::/platform.slice\n');
    // A directory where the control file should be: the write fails as the kernel's EBUSY would.
    rmSync(join(facts.root, 'platform.slice', 'cgroup.subtree_control'));
    mkdirSync(join(facts.root, 'platform.slice', 'cgroup.subtree_control'));
    expect(await probeMemoryCgroup(facts, 1)).toMatch(/^cannot delegate the memory controller below /);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { kindOf, type SparePlan, startupVariable, WarmSpares } from './warm-spares.js';

const dir = mkdtempSync(join(tmpdir(), 'hangar-spares-'));
/** A stand-in instance: reports `spare`, then `ready` with the app it was told, as src/instance/main.ts does. */
const fakeInstance = join(dir, 'instance.mjs');
writeFileSync(
  fakeInstance,
  `process.on('disconnect', () => process.exit(0));
   if (process.env.FAIL_AS_SPARE) process.exit(3);
   process.on('message', (m) => { if (m.type === 'init') process.send({ type: 'ready', app: m.init.app, spare: process.env.HANGAR_INSTANCE_SPARE ?? null }); });
   process.send({ type: 'spare' });`,
);

const plan = (extra: string[] = [], env: NodeJS.ProcessEnv = {}): SparePlan => ({
  args: [...extra, fakeInstance],
  env: { PATH: process.env.PATH, TZ: 'UTC', ...env },
});

const open: WarmSpares[] = [];
function spares(count = 1, log?: (message: string) => void): WarmSpares {
  const made = new WarmSpares({
    count,
    cwd: dir,
    startTimeoutMs: 10_000,
    backoffMaxMs: 50,
    ...(log ? { log } : {}),
  });
  open.push(made);
  return made;
}

/** Resolves with the next message of `type` the child sends. */
function next(child: { onMessage(l: (m: unknown) => void): () => void }, type: string): Promise<unknown> {
  return new Promise((resolve) => {
    const off = child.onMessage((message) => {
      if ((message as { type?: unknown }).type !== type) return;
      off();
      resolve(message);
    });
  });
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('WarmSpares', () => {
  it('keeps a spare of an announced kind; a start takes it (a hit) and the next one waits for that start', async () => {
    const pool = spares();
    pool.prepare(plan());
    const [waiting] = pool.list();
    expect(waiting?.pid).toBeGreaterThan(0);
    const spare = pool.take(plan())!;
    expect(spare.child.pid).toBe(waiting!.pid);
    expect(pool.counters).toEqual({ hits: 1, misses: 0 });
    // None yet: the next spare starts once this start settles.
    expect(pool.list()).toEqual([]);
    pool.settleAfter(plan(), spare.child);
    const ready = next(spare.child, 'ready');
    spare.init({ type: 'init', init: { app: 'a' } });
    // It was started as a spare (the real instance deletes the variable once it read it).
    expect(await ready).toEqual({ type: 'ready', app: 'a', spare: '1' });
    await waitFor(() => pool.list().length === 1);
    expect(pool.list()[0]!.pid).not.toBe(spare.child.pid);
  });

  it('counts a miss for an app that cannot use a spare, or a kind with none, and starts that kind’s spare', async () => {
    const pool = spares(2);
    pool.prepare(plan());
    await waitFor(() => pool.list().some((s) => s.ready));
    const waiting = pool.list()[0]!.pid;
    // Not eligible (say, NODE_OPTIONS in its env_variables): a miss, and the spare stays.
    expect(pool.take(plan(), false)).toBeUndefined();
    expect(pool.list().map((s) => s.pid)).toEqual([waiting]);
    // Another kind: a miss, and once that start settles, a spare of it beside the first.
    expect(pool.take(plan(['--no-warnings']))).toBeUndefined();
    expect(pool.counters).toEqual({ hits: 0, misses: 2 });
    pool.settleAfter(plan(['--no-warnings']), fakeChildReady());
    await waitFor(() => pool.list().length === 2);
  });

  it('keeps spares for the `count` kinds used last, ending the others', async () => {
    const pool = spares(1);
    pool.prepare(plan());
    const first = pool.list()[0]!.pid!;
    pool.take(plan(['--no-warnings']));
    pool.settleAfter(plan(['--no-warnings']), fakeChildReady());
    // The other kind was used last: the first kind's spare ends.
    await waitFor(() => !alive(first));
  });

  it('ends every spare when it closes, and starts none afterwards', async () => {
    const pool = spares(2);
    pool.prepare(plan());
    pool.prepare(plan(['--no-warnings']));
    const pids = pool.list().map((s) => s.pid!);
    expect(pids).toHaveLength(2);
    await pool.close();
    expect(pids.filter(alive)).toEqual([]);
    pool.prepare(plan());
    expect(pool.list()).toEqual([]);
  });

  it('says when a spare fails and starts another after a back-off', async () => {
    const said: string[] = [];
    const pool = spares(1, (message) => said.push(message));
    pool.prepare(plan([], { FAIL_AS_SPARE: '1' }));
    await waitFor(() => said.length >= 2);
    expect(said[0]).toMatch(
      /^warm spare \d+ failed: it exited \(code 3\) before it was ready; the next one starts in 50 ms/,
    );
  });

  it('tells kinds apart by executable, wrapper, flags, PATH and TZ only', () => {
    expect(kindOf(plan())).toBe(kindOf({ ...plan(), env: { ...plan().env, OTHER: 'x' } }));
    expect(kindOf(plan())).not.toBe(kindOf(plan(['--no-warnings'])));
    expect(kindOf(plan())).not.toBe(
      kindOf({ ...plan(), command: '/usr/bin/unshare', commandArgs: ['--net', '--'] }),
    );
    expect(startupVariable({ NODE_OPTIONS: '--max-old-space-size=64', A: '1' })).toBe('NODE_OPTIONS');
    expect(startupVariable({ UV_THREADPOOL_SIZE: '8' })).toBe('UV_THREADPOOL_SIZE');
    expect(startupVariable({ GREETING: 'hi', DATABASE_URL: 'x' })).toBeUndefined();
  });
});

/** A started instance that reports ready at once (for settleAfter). */
function fakeChildReady() {
  return {
    onMessage: (listener: (m: unknown) => void) => {
      queueMicrotask(() => listener({ type: 'ready' }));
      return () => {};
    },
    onExit: () => () => {},
  } as never;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls a condition of real processes (their start, their exit) that no event here reports. */
async function waitFor(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

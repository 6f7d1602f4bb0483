/**
 * VersionPool in process: fake instances (no processes) and a manual clock, so slots, the
 * pending queue, back-off, replacement, drain and the decisions are checked exactly and fast.
 * The same behaviours run end to end with real instances in test/e2e/scaling.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  answer,
  connectionError,
  FakeFactory,
  fakeRequest,
  ManualClock,
  settle,
} from '../../test/helpers/fake-instances.js';
import { automaticScaling } from '../../test/helpers/scaling.js';
import type { AutomaticScaling, Scaling } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import { Expiry } from '../shared/expiry.js';
import { isRetryable, type Lease } from './instance.js';
import { type ScalingDecision, VersionPool, type VersionPoolOptions } from './version-pool.js';

const automatic = (over: Partial<AutomaticScaling> = {}): AutomaticScaling =>
  automaticScaling({ maxInstances: 1, ...over });
const manual = (instances: number): Scaling => ({ kind: 'manual', instances });

const pools: VersionPool[] = [];
afterEach(async () => {
  // Leases a test left open would hold the drain until drain_timeout on a clock that stands still.
  for (const pool of pools.splice(0)) {
    const closed = pool.close();
    pool.killAll();
    await closed;
  }
});

function makePool(
  factory: FakeFactory,
  clock: ManualClock,
  scaling: Scaling,
  over: Partial<VersionPoolOptions> = {},
): { pool: VersionPool; decisions: ScalingDecision[] } {
  const decisions: ScalingDecision[] = [];
  const pool = new VersionPool(factory, {
    service: 'default',
    version: 'v1',
    scaling,
    maxPendingLatencyMs: 10_000,
    drainTimeoutMs: 30_000,
    idlePeriodMs: 60_000,
    startBackoffMaxMs: 30_000,
    heartbeatTimeoutMs: 1_000,
    unresponsiveAfterMs: 1_000,
    warm: false,
    clock,
    onDecision: (d) => decisions.push(d),
    ...over,
  });
  pools.push(pool);
  return { pool, decisions };
}

/** A request that stays open until the test calls the returned function. */
function holdOpen(factory: FakeFactory): Array<() => void> {
  const open: Array<() => void> = [];
  factory.behaviour = () =>
    new Promise((resolve) => {
      open.push(() => resolve(answer('done')));
    });
  return open;
}

describe('VersionPool: slots and the pending queue', () => {
  it('gives an instance as many leases as it has slots, queues the next, and hands it the first freed slot', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const { pool } = makePool(factory, clock, manual(1));
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(a.instanceId).toBe(b.instanceId);
    expect(pool.instances[0]).toMatchObject({ inflight: 2, slots: 2 });

    let third: Lease | undefined;
    void pool.acquire().then((lease) => {
      third = lease;
    });
    await clock.advance(250);
    expect(third).toBeUndefined();
    expect(pool.pendingCount).toBe(1);

    a.release();
    await settle();
    expect(third?.instanceId).toBe(a.instanceId);
    expect(third?.pendingMs).toBe(250);
    expect(pool.pendingCount).toBe(0);
    // Release is idempotent: a second call frees nothing more.
    a.release();
    expect(pool.instances[0]?.inflight).toBe(2);
  });

  it('rejects a queued request with PENDING_TIMEOUT (503) after max_pending_latency', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool } = makePool(factory, clock, manual(1), { maxPendingLatencyMs: 1_500 });
    await pool.acquire();
    const queued = pool.acquire();
    const outcome = queued.then(
      () => 'leased',
      (err: HangarError) => err,
    );
    await clock.advance(1_499);
    expect(pool.pendingCount).toBe(1);
    await clock.advance(1);
    const err = await outcome;
    expect(err).toMatchObject({ code: 'HANGAR_E_PENDING_TIMEOUT', status: 503 });
    expect((err as HangarError).message).toContain('max_pending_latency (1500 ms)');
    expect(pool.pendingCount).toBe(0);
  });

  it('packs requests onto the busiest instance below the target utilisation, then spreads', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 10 });
    const { pool } = makePool(factory, clock, manual(2));
    await clock.advance(0);
    expect(pool.instances.map((i) => i.state)).toEqual(['ready', 'ready']);
    const leases = [];
    for (let i = 0; i < 4; i++) leases.push(await pool.acquire());
    // Manual scaling targets full use (1.0): everything packs onto one instance until it is full.
    expect(new Set(leases.map((l) => l.instanceId)).size).toBe(1);
    const { pool: auto } = makePool(
      new FakeFactory(clock, { slots: 10 }),
      clock,
      automatic({ minInstances: 2, maxInstances: 2 }),
    );
    await clock.advance(0);
    const spread: Lease[] = [];
    for (let i = 0; i < 8; i++) spread.push(await auto.acquire());
    const counts = auto.instances.map((i) => i.inflight).sort();
    // target 0.6 of 10 slots: 6 packed on one instance, then the rest spread to the least busy.
    expect(counts).toEqual([2, 6]);
  });
});

describe('VersionPool: starts, failures and back-off', () => {
  it('fails requests with the start error, refuses them at once during the back-off, and starts again after it', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    factory.failStart = new HangarError(
      'INSTANCE_START_FAILED',
      'instance failed to start: SyntaxError in main.ts',
    );
    const failures: Error[] = [];
    const { pool, decisions } = makePool(factory, clock, automatic(), {
      onStartFailed: (error) => failures.push(error),
    });
    await expect(pool.acquire()).rejects.toMatchObject({ message: expect.stringContaining('SyntaxError') });
    expect(decisions.map((d) => d.action)).toEqual(['start', 'start-failed']);
    expect(decisions[1]!.reason).toBe('start failed (1 in a row); next attempt in 1000 ms');
    // While blocked, a request is refused at once with the reason instead of starting again.
    await expect(pool.acquire()).rejects.toBe(factory.failStart);
    expect(factory.made).toHaveLength(1);

    await clock.advance(999);
    await expect(pool.acquire()).rejects.toBe(factory.failStart);
    expect(factory.made).toHaveLength(1);
    // The back-off is over: the next request starts an instance again (and it fails again).
    await clock.advance(1);
    const next = pool.acquire().catch((err: Error) => err);
    await clock.advance(0);
    expect(factory.made).toHaveLength(2);
    expect(await next).toBe(factory.failStart);
    expect(decisions.at(-1)!.reason).toBe('start failed (2 in a row); next attempt in 2000 ms');
    expect(failures).toHaveLength(2);

    // The code is fixed: the next start after the back-off succeeds and resets the count.
    factory.failStart = undefined;
    await clock.advance(2_000);
    const lease = await pool.acquire();
    expect(lease.instanceId).toBe(factory.made.at(-1)!.id);
    expect(decisions.filter((d) => d.action === 'start')).toHaveLength(3);
  });

  it('caps the back-off at start_backoff_max', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    factory.failStart = new Error('boom');
    const { decisions } = makePool(factory, clock, manual(1), { startBackoffMaxMs: 3_000 });
    await clock.advance(20_000);
    const waits = decisions
      .filter((d) => d.action === 'start-failed')
      .map((d) => Number(/next attempt in (\d+) ms/.exec(d.reason)![1]));
    expect(waits.slice(0, 4)).toEqual([1_000, 2_000, 3_000, 3_000]);
  });

  it('warms the first instance when asked to, and runs prepare with a lease before any traffic', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const prepared: Array<{ first: boolean; loading: boolean; kind: string }> = [];
    const { pool } = makePool(factory, clock, manual(2), {
      warm: true,
      prepare: async (lease, first) => {
        await lease.send(fakeRequest({ kind: 'warmup', url: '/_ah/warmup' }));
        prepared.push({ first, loading: lease.loading, kind: factory.made.at(-1)!.received.at(-1)!.kind });
      },
    });
    await clock.advance(0);
    expect(prepared).toHaveLength(2);
    expect(prepared.map((p) => p.first).sort()).toEqual([false, true]);
    // The warmup request was each instance's loading request; user requests are not.
    expect(prepared.every((p) => p.loading && p.kind === 'warmup')).toBe(true);
    const lease = await pool.acquire();
    await lease.send(fakeRequest());
    expect(lease.loading).toBe(false);
    lease.release();
    expect(pool.instances.map((i) => i.served)).toEqual([1, 1].map((n, i) => (i === 0 ? n + 1 : n)));
  });

  it('a rejected prepare fails the start', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool, decisions } = makePool(factory, clock, manual(1), {
      prepare: async () => {
        throw new Error('GET /_ah/start answered 500; an instance counts as started on 2xx or 404');
      },
    });
    await expect(pool.acquire()).rejects.toThrow('/_ah/start answered 500');
    expect(decisions.map((d) => d.action)).toEqual(['start', 'start-failed']);
    expect(factory.made[0]!.state).toBe('stopped');
  });
});

describe('VersionPool: replacement', () => {
  it('replaces an instance that exits unexpectedly, and says so', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const exits: string[] = [];
    const { pool, decisions } = makePool(factory, clock, manual(1), {
      onExit: (id, exit) => exits.push(`${id} ${exit.code}`),
    });
    await clock.advance(0);
    const first = factory.made[0]!;
    first.crash(3);
    await clock.advance(0);
    expect(exits).toEqual([`${first.id} 3`]);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'exit', 'start']);
    expect(decisions[1]!.reason).toBe('exited unexpectedly (code 3)');
    expect(decisions[2]!.reason).toBe(`replacing ${first.id.slice(0, 8)}, which exited unexpectedly`);
    expect((await pool.acquire()).instanceId).toBe(factory.made[1]!.id);
  });

  it('replaces an instance over its memory limit after its current request', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { memoryLimitBytes: 100 * 2 ** 20 });
    const open = holdOpen(factory);
    const { pool, decisions } = makePool(factory, clock, manual(1));
    const lease = await pool.acquire();
    const sent = lease.send(fakeRequest());
    const big = factory.made[0]!;
    big.reportMemory(120 * 2 ** 20, factory.memoryLimitBytes);
    await settle();
    expect(decisions.map((d) => d.action)).toEqual(['start', 'replace', 'start']);
    expect(decisions[1]!.reason).toMatch(/^memory 120 MiB is over the limit of 100 MiB/);
    // The request in flight finishes on it; only then is it stopped.
    expect(big.stopCalls).toBe(0);
    open[0]!();
    expect((await sent).body.toString()).toBe('done');
    lease.release();
    await settle();
    expect(big.stopCalls).toBe(1);
    expect((await pool.acquire()).instanceId).toBe(factory.made[1]!.id);
  });
});

describe('VersionPool: hard memory cap and blocked event loops (S6)', () => {
  it('an instance past the hard cap (1.25× its class) is killed at once, mid-request, and replaced', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { memoryLimitBytes: 100 * 2 ** 20 });
    const reject: Array<(err: Error) => void> = [];
    factory.behaviour = () => new Promise((_, no) => reject.push(no));
    const { pool, decisions } = makePool(factory, clock, manual(1));
    const lease = await pool.acquire();
    const sent = lease.send(fakeRequest());
    const hog = factory.made[0]!;
    hog.reportMemory(130 * 2 ** 20, factory.memoryLimitBytes);
    await settle();
    // Over the limit and over the cap in one report: replaced, and killed at once without a drain.
    expect(decisions.map((d) => d.action)).toEqual(['start', 'replace', 'start', 'kill']);
    expect(decisions[3]!.reason).toBe(
      'memory 130 MiB passed the hard cap of 125 MiB (1.25× instance_class 100 MiB); killed at once',
    );
    expect(hog.exit).toEqual({ code: null, signal: 'SIGKILL' });
    reject[0]!(connectionError('ECONNRESET'));
    await expect(sent).rejects.toMatchObject({
      code: 'HANGAR_E_INSTANCE_KILLED',
      message: expect.stringContaining('passed the hard cap'),
    });
    lease.release();
    expect((await pool.acquire()).instanceId).toBe(factory.made[1]!.id);
  });

  it('an instance whose loop stops answering takes no new requests and is replaced at once; killed at deadline + grace', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    holdOpen(factory);
    const { pool, decisions } = makePool(factory, clock, manual(1), { unresponsiveAfterMs: 1_000 });
    const spinning = await pool.acquire();
    const expiry = new Expiry();
    const sent = spinning.send(fakeRequest({ expiry }));
    const blocked = factory.made[0]!;
    blocked.responsive = false;
    await clock.advance(1_000);
    expect(decisions.map((d) => d.action)).toEqual(['start']);
    await clock.advance(100);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'unresponsive', 'start']);
    expect(decisions[1]!.reason).toMatch(
      /^its event loop has not answered for 1\d\d\d ms \(limits.unresponsive_after 1000 ms\)/,
    );
    // Other requests go to the replacement, not to the blocked instance's free slot.
    const other = await pool.acquire();
    expect(other.instanceId).toBe(factory.made[1]!.id);
    // Deadline + grace with the loop still blocked: killed now, without waiting for a ping.
    expiry.fire(new Error('no response within the deadline and grace'));
    await expect(sent).rejects.toMatchObject({ code: 'HANGAR_E_DEADLINE_EXCEEDED' });
    expect(decisions.map((d) => d.action)).toEqual(['start', 'unresponsive', 'start', 'kill']);
    expect(decisions[3]!.reason).toMatch(
      /outlived its deadline and grace period while its event loop was blocked$/,
    );
    expect(blocked.exit?.signal).toBe('SIGKILL');
    // Its replacement was already started: no second one.
    expect(factory.made).toHaveLength(2);
  });

  it('an instance whose loop answers again serves again', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool, decisions } = makePool(factory, clock, automatic({ maxInstances: 2, minInstances: 1 }), {
      unresponsiveAfterMs: 500,
    });
    await clock.advance(0);
    const first = factory.made[0]!;
    first.responsive = false;
    await clock.advance(700);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'unresponsive', 'start']);
    first.responsive = true;
    await clock.advance(100);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'unresponsive', 'start', 'recovered']);
    expect(pool.instances.map((i) => i.id)).toContain(first.id);
    const leases = [await pool.acquire(), await pool.acquire()];
    expect(new Set(leases.map((l) => l.instanceId))).toEqual(new Set([first.id, factory.made[1]!.id]));
  });
});

describe('VersionPool: what a failed send means (S6)', () => {
  it('past the deadline: DEADLINE_EXCEEDED; an instance that answers pings keeps serving', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    holdOpen(factory);
    const { pool, decisions } = makePool(factory, clock, manual(1));
    const lease = await pool.acquire();
    const expiry = new Expiry();
    const sent = lease.send(fakeRequest({ expiry }));
    expiry.fire(new Error('no response within the 1500 ms deadline and 700 ms grace'));
    await expect(sent).rejects.toMatchObject({
      code: 'HANGAR_E_DEADLINE_EXCEEDED',
      message: 'no response within the 1500 ms deadline and 700 ms grace',
    });
    lease.release();
    await settle();
    expect(decisions.map((d) => d.action)).toEqual(['start']);
    expect((await pool.acquire()).instanceId).toBe(lease.instanceId);
  });

  it('past the deadline with a blocked event loop: the instance is killed and replaced; its other requests get INSTANCE_KILLED', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const reject: Array<(err: Error) => void> = [];
    factory.behaviour = () => new Promise((_, no) => reject.push(no));
    const { pool, decisions } = makePool(factory, clock, manual(1));
    const stuck = await pool.acquire();
    const other = await pool.acquire();
    const expiry = new Expiry();
    const first = stuck.send(fakeRequest({ expiry }));
    const second = other.send(fakeRequest());
    const instance = factory.made[0]!;
    instance.responsive = false;
    expiry.fire(new Error('deadline'));
    await expect(first).rejects.toMatchObject({ code: 'HANGAR_E_DEADLINE_EXCEEDED' });
    await settle();
    expect(decisions.map((d) => d.action)).toEqual(['start', 'kill', 'start']);
    expect(decisions[1]!.reason).toMatch(
      /outlived its deadline and grace period; it did not answer a ping within 1000 ms$/,
    );
    expect(instance.killedBecause).toBe(decisions[1]!.reason);
    // The process is gone: its connection breaks for the other request.
    reject[1]!(connectionError('ECONNRESET'));
    await expect(second).rejects.toMatchObject({ code: 'HANGAR_E_INSTANCE_KILLED' });
    stuck.release();
    other.release();
    expect((await pool.acquire()).instanceId).toBe(factory.made[1]!.id);
  });

  it('a request the instance never got is retryable; one lost after it was sent is not', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    factory.behaviour = (request) =>
      Promise.reject(connectionError(request.url === '/refused' ? 'ECONNREFUSED' : 'ECONNRESET'));
    const { pool } = makePool(factory, clock, manual(2));
    await clock.advance(0);
    const a = await pool.acquire();
    const refused = await a.send(fakeRequest({ url: '/refused' })).catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: 'HANGAR_E_INSTANCE_EXITED' });
    expect(isRetryable(refused)).toBe(true);
    a.release();
    const b = await pool.acquire();
    // The suspect instance is out of routing until its ping says it is alive.
    expect(b.instanceId).not.toBe(a.instanceId);
    const lost = await b.send(fakeRequest({ url: '/reset' })).catch((err: unknown) => err);
    expect(lost).toMatchObject({ code: 'HANGAR_E_INSTANCE_EXITED' });
    expect(isRetryable(lost)).toBe(false);
    b.release();
    await settle();
    // Both answered their pings: both are back in routing.
    const leases = [await pool.acquire(), await pool.acquire()];
    expect(new Set(leases.map((l) => l.instanceId))).toEqual(new Set([a.instanceId, b.instanceId]));
  });

  it('an error that is not about the connection passes through and the instance keeps serving', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    factory.behaviour = () => Promise.reject(new HangarError('UPSTREAM_INVALID', 'bad status line'));
    const { pool } = makePool(factory, clock, manual(1));
    const lease = await pool.acquire();
    await expect(lease.send(fakeRequest())).rejects.toMatchObject({ code: 'HANGAR_E_UPSTREAM_INVALID' });
    lease.release();
    expect((await pool.acquire()).instanceId).toBe(lease.instanceId);
  });
});

describe('VersionPool: drain and scale-down', () => {
  it('reload: new requests go to fresh instances, the old one finishes its request, then stops', async () => {
    const clock = new ManualClock();
    const oldCode = new FakeFactory(clock);
    const open = holdOpen(oldCode);
    const { pool, decisions } = makePool(oldCode, clock, manual(1));
    const lease = await pool.acquire();
    const inFlight = lease.send(fakeRequest());
    const newCode = new FakeFactory(clock);
    pool.reload(newCode);
    const next = await pool.acquire();
    expect(next.instanceId).toBe(newCode.made[0]!.id);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'stop', 'start']);
    expect(oldCode.made[0]!.stopCalls).toBe(0);
    open[0]!();
    await inFlight;
    lease.release();
    await settle();
    expect(oldCode.made[0]!.stopCalls).toBe(1);
  });

  it('reloadWhenLoaded: the old instance serves until the new code has loaded, then drains', async () => {
    const clock = new ManualClock();
    const oldCode = new FakeFactory(clock);
    const { pool } = makePool(oldCode, clock, automatic());
    const first = await pool.acquire();
    first.release();
    const newCode = new FakeFactory(clock);
    let open!: () => void;
    newCode.startGate = new Promise((resolve) => {
      open = resolve;
    });
    const reloaded = pool.reloadWhenLoaded(newCode);
    await settle();
    // While the new code starts, requests still go to the running instance of the old code.
    const during = await pool.acquire();
    expect(during.instanceId).toBe(oldCode.made[0]!.id);
    during.release();
    open();
    await reloaded;
    const after = await pool.acquire();
    expect(after.instanceId).toBe(newCode.made[0]!.id);
    after.release();
    await settle();
    expect(oldCode.made[0]!.stopCalls).toBe(1);
  });

  it('reloadWhenLoaded: code that fails to load leaves the previous code serving, with no back-off', async () => {
    const clock = new ManualClock();
    const oldCode = new FakeFactory(clock);
    const { pool, decisions } = makePool(oldCode, clock, automatic());
    (await pool.acquire()).release();
    const broken = new FakeFactory(clock);
    broken.failStart = new Error('module main.ts failed to load: Unexpected ";"');
    await expect(pool.reloadWhenLoaded(broken)).rejects.toBe(broken.failStart);
    const lease = await pool.acquire();
    expect(lease.instanceId).toBe(oldCode.made[0]!.id);
    lease.release();
    expect(oldCode.made[0]!.stopCalls).toBe(0);
    expect(decisions.map((d) => d.action)).not.toContain('start-failed');
    // A fix after the failure loads and takes over.
    const fixed = new FakeFactory(clock);
    await pool.reloadWhenLoaded(fixed);
    expect((await pool.acquire()).instanceId).toBe(fixed.made[0]!.id);
  });

  it('drain_timeout: an instance whose request never ends is stopped anyway', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    holdOpen(factory);
    const { pool } = makePool(factory, clock, manual(1), { drainTimeoutMs: 5_000 });
    const lease = await pool.acquire();
    void lease.send(fakeRequest());
    pool.reload(new FakeFactory(clock));
    await clock.advance(4_999);
    expect(factory.made[0]!.stopCalls).toBe(0);
    await clock.advance(1);
    expect(factory.made[0]!.stopCalls).toBe(1);
  });

  it('automatic scaling: an idle instance above max_idle_instances stops after the idle period', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool, decisions } = makePool(factory, clock, automatic({ maxIdleInstances: 0 }), {
      idlePeriodMs: 60_000,
    });
    const lease = await pool.acquire();
    lease.release();
    await clock.advance(59_000);
    expect(pool.instances).toHaveLength(1);
    await clock.advance(2_000);
    expect(pool.instances).toHaveLength(0);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'stop']);
    expect(decisions[1]!.reason).toMatch(/^idle for [\d.]+ s; 1 idle > max_idle_instances 0$/);
  });

  it('close: queued requests are refused, every instance drains and stops, killAll ends them at once', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const open = holdOpen(factory);
    const { pool } = makePool(factory, clock, manual(1));
    const lease = await pool.acquire();
    void lease.send(fakeRequest());
    const queued = pool.acquire().catch((err: HangarError) => err.message);
    const closed = pool.close();
    expect(await queued).toBe('the platform is shutting down');
    await expect(pool.acquire()).rejects.toThrow('shutting down');
    pool.killAll();
    expect(factory.made[0]!.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(factory.made[0]!.killedBecause).toBe('the platform was told to stop at once');
    open[0]!();
    lease.release();
    await closed;
    expect(clock.pendingTimers).toBe(0);
  });
});

/**
 * What acquireInstance() gave without the clock moving: the lease, the error, or `pending` when
 * it is still waiting (which an addressed request must never do).
 */
async function atOnce(acquired: Promise<Lease>): Promise<Lease | HangarError | 'pending'> {
  let outcome: Lease | HangarError | 'pending' = 'pending';
  acquired.then(
    (lease) => {
      outcome = lease;
    },
    (err: HangarError) => {
      outcome = err;
    },
  );
  await settle();
  return outcome;
}

/** The 503 an addressed request gets, with the reason its message gives. */
const unavailable = (reason: string) => ({
  code: 'HANGAR_E_INSTANCE_UNAVAILABLE',
  status: 503,
  message: expect.stringContaining(reason),
});

describe('VersionPool: a request addressed to one instance (S11)', () => {
  it('takes a free slot on exactly that instance, counted like any lease: in flight, served, freed on release', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const { pool } = makePool(factory, clock, manual(2));
    await clock.advance(0);
    const [a, b] = factory.made;
    // Whatever the packing would pick, the addressed instance is the one that gets it.
    for (const target of [b!, a!, b!]) {
      const lease = await atOnce(pool.acquireInstance(target.id));
      expect(lease).not.toBe('pending');
      expect((lease as Lease).instanceId).toBe(target.id);
      await (lease as Lease).send(fakeRequest({ url: `/to-${target.id}` }));
      expect(pool.instances.find((i) => i.id === target.id)?.inflight).toBe(1);
      (lease as Lease).release();
    }
    expect(a!.received.map((r) => r.url)).toEqual([`/to-${a!.id}`]);
    expect(b!.received.map((r) => r.url)).toEqual([`/to-${b!.id}`, `/to-${b!.id}`]);
    expect(pool.instances.map((i) => [i.id, i.inflight, i.served])).toEqual([
      [a!.id, 0, 1],
      [b!.id, 0, 2],
    ]);
    // Its first request was its loading request, whoever addressed it.
    const again = await pool.acquireInstance(a!.id);
    await again.send(fakeRequest());
    expect(again.loading).toBe(false);
    again.release();
  });

  it('a busy instance: 503 at once saying so; nothing queued, started or moved elsewhere; a freed slot serves it', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const { pool, decisions } = makePool(factory, clock, automatic({ maxInstances: 3, minInstances: 1 }));
    await clock.advance(0);
    const target = factory.made[0]!;
    const held = [await pool.acquireInstance(target.id), await pool.acquireInstance(target.id)];
    expect(held.map((l) => l.instanceId)).toEqual([target.id, target.id]);
    // The leases it holds count towards utilisation like any others: a second instance starts.
    await clock.advance(1_000);
    const starts = () => decisions.filter((d) => d.action === 'start').length;
    expect(starts()).toBe(2);
    expect(factory.live).toHaveLength(2);

    const refused = await atOnce(pool.acquireInstance(target.id));
    expect(refused).toMatchObject(
      unavailable(
        `instance '${target.id}' of default/v1 cannot take the request now: it is busy (all 2 slots taken)`,
      ),
    );
    expect(pool.pendingCount).toBe(0);
    // The other instance's free slots were not used, and the refusal left nothing behind that
    // would start or scale anything.
    expect(factory.made[1]!.received).toHaveLength(0);
    expect(pool.instances.find((i) => i.id === factory.made[1]!.id)?.inflight).toBe(0);
    await clock.advance(1_000);
    expect(starts()).toBe(2);
    expect(pool.instances.find((i) => i.id === target.id)?.inflight).toBe(2);

    held[0]!.release();
    const lease = await atOnce(pool.acquireInstance(target.id));
    expect((lease as Lease).instanceId).toBe(target.id);
    (lease as Lease).release();
    held[1]!.release();
  });

  it('an unknown or exited instance: 503 gone', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool } = makePool(factory, clock, manual(1));
    await clock.advance(0);
    expect(await atOnce(pool.acquireInstance('no-such-instance'))).toMatchObject(
      unavailable("instance 'no-such-instance' of default/v1 cannot take the request now: it is gone"),
    );
    const first = factory.made[0]!;
    first.crash(1);
    await clock.advance(0);
    expect(await atOnce(pool.acquireInstance(first.id))).toMatchObject(unavailable('it is gone'));
    // Its replacement serves, but only a request addressed to it (or to the version) goes there.
    expect((await pool.acquireInstance(factory.made[1]!.id)).instanceId).toBe(factory.made[1]!.id);
  });

  it('a starting, draining or unresponsive instance: 503 at once naming which', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    let open: () => void = () => undefined;
    factory.startGate = new Promise((resolve) => {
      open = resolve;
    });
    const { pool } = makePool(factory, clock, manual(1), { unresponsiveAfterMs: 1_000 });
    await clock.advance(0);
    const first = factory.made[0]!;
    expect(await atOnce(pool.acquireInstance(first.id))).toMatchObject(unavailable('it is starting'));
    factory.startGate = undefined;
    open();
    await clock.advance(0);

    // Its event loop stops answering: out of routing, and addressing it says why.
    first.responsive = false;
    await clock.advance(1_100);
    expect(await atOnce(pool.acquireInstance(first.id))).toMatchObject(unavailable('it is unresponsive'));
    first.responsive = true;
    await clock.advance(100);
    const held = await pool.acquireInstance(first.id);

    // New code: the old instance drains its request and takes no new one.
    pool.reload(new FakeFactory(clock));
    expect(await atOnce(pool.acquireInstance(first.id))).toMatchObject(unavailable('it is draining'));
    held.release();
  });

  it('a lease taken by address holds the drain on close, like any other; after close: 503', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const open = holdOpen(factory);
    const { pool } = makePool(factory, clock, manual(1));
    await clock.advance(0);
    const instance = factory.made[0]!;
    const lease = await pool.acquireInstance(instance.id);
    const sent = lease.send(fakeRequest());
    const closed = pool.close();
    await clock.advance(1_000);
    expect(instance.stopCalls).toBe(0);
    expect(await atOnce(pool.acquireInstance(instance.id))).toMatchObject(
      unavailable('the platform is shutting down'),
    );
    open[0]!();
    expect((await sent).body.toString()).toBe('done');
    lease.release();
    await closed;
    expect(instance.stopCalls).toBe(1);
  });

  it('an instance leased by address is not idle: it scales down only once the lease is released and the idle period passed', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock);
    const { pool, decisions } = makePool(factory, clock, automatic({ maxIdleInstances: 0 }), {
      idlePeriodMs: 60_000,
    });
    (await pool.acquire()).release();
    const instance = factory.made[0]!;
    await clock.advance(30_000);
    const lease = await pool.acquireInstance(instance.id);
    await clock.advance(90_000);
    expect(pool.instances.map((i) => i.id)).toEqual([instance.id]);
    lease.release();
    await clock.advance(59_000);
    expect(pool.instances).toHaveLength(1);
    await clock.advance(2_000);
    expect(pool.instances).toHaveLength(0);
    expect(decisions.map((d) => d.action)).toEqual(['start', 'stop']);
  });
});

describe('VersionPool: hangar instances stop (S2)', () => {
  it('drains the instance (its request finishes), stops it, records why; manual scaling starts another', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const { pool, decisions } = makePool(factory, clock, manual(1));
    await clock.advance(0);
    const target = factory.made[0]!;
    const lease = await pool.acquireInstance(target.id);
    expect(pool.stopInstance('no-such-instance')).toBe(false);
    expect(pool.stopInstance(target.id)).toBe(true);
    // No new request goes to it while it drains...
    await expect(pool.acquireInstance(target.id)).rejects.toMatchObject({
      code: 'HANGAR_E_INSTANCE_UNAVAILABLE',
    });
    expect(target.state).not.toBe('stopped');
    // ...and the one it had still completes there.
    await lease.send(fakeRequest({ url: '/in-flight' }));
    lease.release();
    await clock.advance(0);
    expect(target.received.map((r) => r.url)).toEqual(['/in-flight']);
    expect(target.state).toBe('stopped');
    expect(
      decisions.some(
        (d) => d.action === 'stop' && d.instanceId === target.id && /hangar instances stop/.test(d.reason),
      ),
    ).toBe(true);
    await clock.advance(1_000);
    expect(factory.made.filter((i) => i.state !== 'stopped')).toHaveLength(1);
  });
});

describe('VersionPool.startInstance (a deploy proving its version loads)', () => {
  it('resolves once the instance serves, which then takes requests without another start', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    const { pool, decisions } = makePool(factory, clock, automatic({ maxInstances: 2, minInstances: 0 }));
    const proven = pool.startInstance('proving');
    await clock.advance(0);
    await proven;
    expect(factory.made).toHaveLength(1);
    const lease = await pool.acquire();
    expect(lease.instanceId).toBe(factory.made[0]!.id);
    lease.release();
    expect(decisions.filter((d) => d.action === 'start')).toHaveLength(1);
  });

  it('rejects with the start error of an instance that does not load', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 1 });
    factory.failStart = new Error('module main.ts failed to load: boom');
    const { pool } = makePool(factory, clock, automatic({ maxInstances: 2, minInstances: 0 }));
    const proven = expect(pool.startInstance('proving')).rejects.toThrow('boom');
    await clock.advance(0);
    await proven;
  });
});

describe('VersionPool: a blocked event loop during the start request', () => {
  it('kills an instance whose loop stops answering while its /_ah/start is on it, and says so', async () => {
    const clock = new ManualClock();
    const factory = new FakeFactory(clock, { slots: 2 });
    // The start request never returns: the instance hangs in it (manual scaling has no deadline).
    const { decisions } = makePool(factory, clock, manual(1), {
      prepare: () => new Promise<void>(() => {}),
    });
    await clock.advance(0);
    const stuck = factory.made[0]!;
    expect(stuck.state).toBe('ready');
    stuck.responsive = false;
    await clock.advance(500);
    expect(decisions.some((d) => d.action === 'unresponsive')).toBe(false);
    await clock.advance(1_500);
    const marked = decisions.find((d) => d.action === 'unresponsive' && d.instanceId === stuck.id);
    expect(marked?.reason).toMatch(/during its start request; killed/);
    expect(stuck.state).toBe('stopped');
    // Manual scaling wants one instance: another starts.
    await clock.advance(2_000);
    expect(decisions.filter((d) => d.action === 'start')).toHaveLength(2);
  });
});

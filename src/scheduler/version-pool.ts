import type { Scaling } from '../config/types.js';
import { type Clock, type ClockTimer, systemClock } from '../shared/clock.js';
import { HangarError } from '../shared/errors.js';
import { decide, type PoolSnapshot, type ScalingAction } from './autoscaler.js';
import {
  type InstanceExit,
  type InstanceFactory,
  type InstanceHandle,
  type InstancePool,
  type InstanceRequest,
  type InstanceResponse,
  type InstanceStatus,
  isConnectionLoss,
  type Lease,
  memoryCapFactor,
  neverDelivered,
} from './instance.js';

/** One scaling decision with its reason (S6: every decision is logged). */
export interface ScalingDecision {
  at: string;
  /** The app of the version (several share one serve); absent where the pool was not told. */
  app?: string;
  service: string;
  version: string;
  action: 'start' | 'stop' | 'replace' | 'exit' | 'kill' | 'start-failed' | 'unresponsive' | 'recovered';
  instanceId?: string;
  reason: string;
}

export interface VersionPoolOptions {
  /** The app the version belongs to, for its decisions (`hangar instances list --app`). */
  app?: string;
  service: string;
  version: string;
  scaling: Scaling;
  maxPendingLatencyMs: number;
  drainTimeoutMs: number;
  idlePeriodMs: number;
  startBackoffMaxMs: number;
  /** How long an instance may take to answer a ping before it counts as stuck (S6). */
  heartbeatTimeoutMs: number;
  /**
   * An instance not heard from for this long has a blocked event loop (S6
   * `limits.unresponsive_after`): it takes no new requests and a replacement starts at once.
   */
  unresponsiveAfterMs: number;
  /** Start one instance as soon as the pool exists (the dev server does, so load errors show at once). */
  warm: boolean;
  /**
   * Runs on each new instance before it takes traffic, with a lease on it: `/_ah/start`
   * (manual scaling) and `/_ah/warmup` (inbound_services: warmup, every instance after the
   * first) are ordinary requests sent on it. A rejection fails the start. `first` is true for
   * the first instance started for this code (not for those started while it was starting).
   */
  prepare?(lease: Lease, first: boolean): Promise<void>;
  onDecision?(decision: ScalingDecision): void;
  onStartFailed?(error: Error): void;
  /** An instance that was serving exited without being asked to. */
  onExit?(instanceId: string, exit: InstanceExit): void;
  /** Time and timers; tests pass a manual clock. Default: the system clock. */
  clock?: Clock;
}

/** An instance and the pool's accounting of its slots (devappserver2's `Instance`). */
interface Member {
  readonly handle: InstanceHandle;
  inflight: number;
  served: number;
  /** Epoch ms since which no request is in flight; undefined while busy or starting. */
  idleSince: number | undefined;
  /** The next request it serves is its first: a loading request (S6, S7). */
  loading: boolean;
  /** It has been put into routing once (started and prepared): out of it now means trouble, not a start. */
  admitted: boolean;
  /** Woken when its last request in flight finishes (drain). */
  idleWaiters: Array<() => void>;
}

interface Waiter {
  since: number;
  timer: ClockTimer;
  resolve(lease: Lease): void;
  reject(error: Error): void;
}

interface LeaseOwner {
  send(member: Member, request: InstanceRequest): Promise<InstanceResponse>;
  /** `sent`: the lease sent a request (a prepare lease may send none), so it counts as served. */
  release(member: Member, sent: boolean): void;
}

/** A slot held on one member; a class, so the hot path makes no closures per request. */
class PoolLease implements Lease {
  readonly pendingMs: number;
  loading = false;
  readonly #owner: LeaseOwner;
  readonly #member: Member;
  #released = false;
  #sent = false;

  constructor(owner: LeaseOwner, member: Member, pendingMs: number) {
    this.#owner = owner;
    this.#member = member;
    this.pendingMs = pendingMs;
  }

  get instanceId(): string {
    return this.#member.handle.id;
  }

  send(request: InstanceRequest): Promise<InstanceResponse> {
    this.#sent = true;
    // The instance's first request to be sent is its loading request, whichever lease sends it.
    if (this.#member.loading) {
      this.#member.loading = false;
      this.loading = true;
    }
    return this.#owner.send(this.#member, request);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.release(this.#member, this.#sent);
  }
}

/** How often the autoscaler looks at the pool besides reacting to events. */
const tickMs = 100;
const firstBackoffMs = 1_000;
/** Scaling decisions kept for the admin API. */
const keptDecisions = 200;

/**
 * The instances of one version and the slots they offer (SPEC S6): requests take a free slot
 * or wait in a FIFO pending queue (503 past `max_pending_latency`); the autoscaler starts and
 * stops instances; crashed, stuck and over-memory instances are replaced; reload, scale-down and
 * shutdown drain. Instances come from an `InstanceFactory` and are reached only through the
 * leases handed out here, so the pool never knows how an instance runs.
 *
 * @example
 * const pool = new VersionPool(moduleInstanceFactory(spec), { service: 'default', version: 'v1', ... });
 * const lease = await pool.acquire();
 * try { return await lease.send(request); } finally { lease.release(); }
 */
export class VersionPool implements InstancePool {
  #factory: InstanceFactory;
  /** New code on trial (reloadWhenLoaded): its instance starts beside the serving ones. */
  #candidate: InstanceFactory | undefined;
  readonly #options: VersionPoolOptions;
  readonly #clock: Clock;
  /** Every instance not yet exited: starting, serving, or draining. */
  readonly #all = new Set<Member>();
  /** Instances that may take traffic (ready and prepared, not retiring). */
  readonly #serving = new Set<Member>();
  readonly #retiring = new Set<Member>();
  /** Out of routing after a lost connection, until its exit or a ping says which it was. */
  readonly #suspect = new Set<Member>();
  /** Out of routing while its event loop does not answer (S6); back once it does. */
  readonly #unresponsive = new Set<Member>();
  readonly #stopping = new Set<Promise<void>>();
  readonly #pending: Waiter[] = [];
  readonly #decisions: ScalingDecision[] = [];
  #failures = 0;
  #blockedUntil: number | undefined;
  #lastError: Error | undefined;
  /** Set once an instance of this code was started: every later one is warmed up (S6). */
  #anyStarted = false;
  #closed = false;
  readonly #ticker: ClockTimer;

  constructor(factory: InstanceFactory, options: VersionPoolOptions) {
    this.#factory = factory;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#ticker = this.#clock.setInterval(() => this.#evaluate(), tickMs);
    if (options.warm) this.#start('the dev server starts one instance ahead of traffic');
    this.#evaluate();
  }

  /** Instances not yet exited, in start order, with their slot counts. */
  get instances(): InstanceStatus[] {
    return [...this.#all].map((member) => ({
      id: member.handle.id,
      state: member.handle.state,
      pid: member.handle.pid,
      startedAt: member.handle.startedAt,
      readyMs: member.handle.readyMs,
      rss: member.handle.rss,
      memoryLimitBytes: this.#factory.memoryLimitBytes,
      slots: this.#factory.slots,
      inflight: member.inflight,
      served: member.served,
    }));
  }

  /** The most recent scaling decisions, oldest first. */
  get decisions(): readonly ScalingDecision[] {
    return this.#decisions;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /**
   * A slot on an instance: at once if one is free, else after waiting in the pending queue.
   * Rejects with `PENDING_TIMEOUT` (503) after `max_pending_latency`, and with the start error
   * when no instance can be started (back-off after failed starts).
   */
  acquire(): Promise<Lease> {
    if (this.#closed)
      return Promise.reject(new HangarError('INSTANCE_START_FAILED', 'the platform is shutting down'));
    const member = this.#pick();
    if (member) return Promise.resolve(this.#lease(member, 0));
    if (this.#lastError && this.#liveCount() === 0 && this.#blocked()) return Promise.reject(this.#lastError);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        since: this.#clock.now(),
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          const at = this.#pending.indexOf(waiter);
          if (at !== -1) this.#pending.splice(at, 1);
          reject(
            new HangarError(
              'PENDING_TIMEOUT',
              `no instance of ${this.#options.service}/${this.#options.version} could take the request within max_pending_latency (${this.#options.maxPendingLatencyMs} ms)`,
            ),
          );
        }, this.#options.maxPendingLatencyMs),
      };
      this.#pending.push(waiter);
      this.#evaluate();
    });
  }

  /**
   * A slot on the instance `instanceId`, for a request addressed to it (S11, admin only): at
   * once when it serves and has a free slot, counted exactly like acquire()'s leases (in
   * flight, served, idle, drain). Otherwise rejects at once with INSTANCE_UNAVAILABLE (503)
   * saying why: busy, starting, draining, unresponsive, or gone. An addressed request never
   * waits in the pending queue, never starts an instance and never moves the autoscaler.
   */
  acquireInstance(instanceId: string): Promise<Lease> {
    const member = this.#member(instanceId);
    if (member && !this.#closed && this.#serving.has(member) && member.inflight < this.#factory.slots)
      return Promise.resolve(this.#lease(member, 0));
    return Promise.reject(
      new HangarError(
        'INSTANCE_UNAVAILABLE',
        `instance '${instanceId}' of ${this.#options.service}/${this.#options.version} cannot take the request now: ${this.#unavailable(member)}`,
      ),
    );
  }

  /** Serves new code: fresh instances (from `factory`) take new requests, the old ones drain. */
  reload(factory: InstanceFactory = this.#factory): void {
    this.#factory = factory;
    this.#failures = 0;
    this.#blockedUntil = undefined;
    this.#lastError = undefined;
    this.#anyStarted = false;
    for (const member of this.#all) this.#retire(member, 'the code or app.yaml changed');
    if (this.#options.warm) this.#start('the code or app.yaml changed');
    this.#evaluate();
  }

  /**
   * Serves new code only once it loads (the dev server's reload on a save): one instance of the
   * new code starts beside the serving ones, which keep taking requests meanwhile. When it
   * serves, it takes the traffic and the old instances drain. When it fails to start, nothing
   * changes (the previous code serves on, and the start counts against no back-off) and the
   * promise rejects with its start error, for the developer to see.
   */
  async reloadWhenLoaded(factory: InstanceFactory): Promise<void> {
    if (this.#closed) throw new HangarError('INSTANCE_START_FAILED', 'the pool is closed');
    this.#candidate = factory;
    try {
      await new Promise<void>((resolve, reject) =>
        this.#start('the code changed; its first instance starts beside the running ones', {
          resolve,
          reject,
          candidate: factory,
        }),
      );
    } finally {
      if (this.#candidate === factory) this.#candidate = undefined;
    }
  }

  /** The trial code loaded: it becomes the pool's code, and instances of older code drain. */
  #adopt(candidate: Member, factory: InstanceFactory): void {
    this.#candidate = undefined;
    this.#factory = factory;
    this.#anyStarted = true;
    for (const member of this.#all) {
      if (member !== candidate) this.#retire(member, 'the code changed and the new code loaded');
    }
  }

  /** Ends every instance at once (a second Ctrl-C: stop waiting for the drain). */
  killAll(): void {
    for (const member of this.#all) member.handle.kill('the platform was told to stop at once');
  }

  /** Stops taking requests, fails the queue, drains and stops every instance. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearInterval(this.#ticker);
    for (const waiter of this.#pending.splice(0)) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.reject(new HangarError('INSTANCE_START_FAILED', 'the platform is shutting down'));
    }
    for (const member of this.#all) this.#retire(member, 'the platform is shutting down', false);
    await Promise.all(this.#stopping);
  }

  /**
   * `hangar instances stop ID` (S2): the instance takes no new requests, finishes those it has
   * (within drain_timeout) and stops; the autoscaler starts another if the version needs one.
   * False when no instance of this pool has that id.
   */
  stopInstance(instanceId: string, reason = 'stopped by an admin (hangar instances stop)'): boolean {
    const member = this.#member(instanceId);
    if (!member) return false;
    this.#retire(member, reason);
    return true;
  }

  /** The instance with that id that has not exited (a scan: addressed requests are rare). */
  #member(instanceId: string): Member | undefined {
    for (const member of this.#all) if (member.handle.id === instanceId) return member;
    return undefined;
  }

  /** Why `member` takes no request now, for acquireInstance()'s 503. */
  #unavailable(member: Member | undefined): string {
    if (this.#closed) return 'the platform is shutting down';
    if (!member || member.handle.state === 'stopped')
      return 'it is gone (it exited or was stopped); a request addressed to an instance never goes to another one';
    if (this.#serving.has(member)) {
      const slots = this.#factory.slots;
      return `it is busy (all ${slots} slot${slots === 1 ? '' : 's'} taken); a request addressed to an instance does not wait for a slot`;
    }
    const killed = member.handle.killedBecause;
    if (killed !== undefined) return `it is being killed: ${killed}`;
    if (this.#retiring.has(member))
      return 'it is draining: it is being retired and finishes only the requests it has';
    if (this.#unresponsive.has(member))
      return `it is unresponsive: its event loop has not answered for more than limits.unresponsive_after (${this.#options.unresponsiveAfterMs} ms)`;
    if (this.#suspect.has(member))
      return 'it is unresponsive: a request lost its connection to it, and it takes none until it answers a ping';
    if (!member.admitted) return 'it is starting and takes requests once it is ready';
    return 'it is unresponsive: a request outlived its deadline on it, and it takes none until it answers a ping';
  }

  #lease(member: Member, pendingMs: number): Lease {
    member.inflight++;
    member.idleSince = undefined;
    return new PoolLease(this.#owner, member, pendingMs);
  }

  /** What the pool's leases call back; one object per pool, so a lease costs one allocation. */
  readonly #owner: LeaseOwner = {
    send: (member, request) => this.#send(member, request),
    release: (member, sent) => {
      member.inflight--;
      if (sent) member.served++;
      if (member.inflight === 0) {
        member.idleSince = this.#clock.now();
        for (const wake of member.idleWaiters.splice(0)) wake();
      }
      this.#dispatchPending();
    },
  };

  /**
   * Runs a request on the member and says what a failure means (S6): past its deadline and
   * grace the instance is checked for a blocked event loop and the request ends with
   * DEADLINE_EXCEEDED; a lost connection takes the instance out of routing until its exit or
   * a ping says which it was, and ends the request with INSTANCE_EXITED, or INSTANCE_KILLED
   * when the platform killed it. A request that never reached the instance is `retryable`.
   */
  async #send(member: Member, request: InstanceRequest): Promise<InstanceResponse> {
    try {
      return await member.handle.send(request);
    } catch (err) {
      const expiry = request.expiry;
      if (expiry?.expired) {
        const reason = `request ${request.requestId} outlived its deadline and grace period`;
        // A loop that is still blocked at deadline + grace: killed at once (S6). Otherwise the
        // client gets its answer now, and whether the instance is stuck is found out meanwhile.
        if (this.#unresponsive.has(member))
          this.#killStuck(member, `${reason} while its event loop was blocked`);
        else void this.#checkResponsive(member, reason);
        throw new HangarError('DEADLINE_EXCEEDED', expiry.reason?.message ?? 'the deadline passed', {
          cause: err,
        });
      }
      if (member.handle.state === 'ready' && !isConnectionLoss(err)) throw err;
      this.#suspectLost(member);
      const killed = member.handle.killedBecause;
      const error = killed
        ? new HangarError('INSTANCE_KILLED', `the instance serving this request was killed: ${killed}`, {
            cause: err,
          })
        : new HangarError('INSTANCE_EXITED', 'the instance serving this request exited unexpectedly', {
            cause: err,
          });
      // Refused before anything was sent (the process died and its exit is not processed yet):
      // nothing ran, so the request may go elsewhere. A connection lost mid-request is a 500 (S6).
      throw neverDelivered(err) ? Object.assign(error, { retryable: true }) : error;
    }
  }

  /**
   * A request on the member outlived its deadline and grace while its loop still seemed alive:
   * no new requests go to it until it answers a ping; one that does not answer within
   * `unresponsive_after` has a blocked event loop and is killed (S6). Resolves true when healthy.
   */
  async #checkResponsive(member: Member, reason: string): Promise<boolean> {
    if (!this.#serving.delete(member)) return member.handle.state !== 'stopped';
    const timeoutMs = this.#options.unresponsiveAfterMs;
    const alive = await member.handle.ping(timeoutMs);
    if (alive && this.#all.has(member) && !this.#retiring.has(member) && !this.#closed) {
      this.#serving.add(member);
      this.#dispatchPending();
      return true;
    }
    if (!alive) this.#killStuck(member, `${reason}; it did not answer a ping within ${timeoutMs} ms`);
    return alive;
  }

  /**
   * A connection to the member broke mid-request: most often the process just died, and its
   * exit comes a moment later. Until then no request may be routed to it (a quick next request
   * would fail too); if it answers a ping it was alive and goes back into routing.
   */
  #suspectLost(member: Member): void {
    if (!this.#serving.delete(member)) return;
    this.#suspect.add(member);
    void member.handle.ping(this.#options.heartbeatTimeoutMs).then((alive) => {
      if (!this.#suspect.delete(member)) return;
      if (alive && this.#all.has(member) && !this.#retiring.has(member) && !this.#closed) {
        this.#serving.add(member);
        this.#dispatchPending();
      } else if (!alive) {
        this.#killStuck(member, 'a request lost its connection and the instance does not answer pings');
      }
    });
  }

  /**
   * Kills an instance whose event loop does not answer (S6: a blocked handler at its deadline);
   * its other requests get 500, and a replacement starts when needed.
   */
  #killStuck(member: Member, reason: string): void {
    if (!this.#all.has(member)) return;
    this.#serving.delete(member);
    // An unresponsive or retiring instance already has its replacement (or needs none).
    const replaced = this.#unresponsive.delete(member) || this.#retiring.has(member);
    this.#retiring.add(member);
    this.#record('kill', reason, member);
    member.handle.kill(reason);
    if (!replaced) this.#start(`replacing ${member.handle.id.slice(0, 8)}, which was killed`);
  }

  /**
   * S6's blocked event loop: an instance not heard from for `unresponsive_after` takes no new
   * requests and a replacement starts at once, so the version's other requests do not wait for
   * it; one heard from again serves again.
   */
  #checkLiveness(now: number): void {
    const limit = this.#options.unresponsiveAfterMs;
    for (const member of this.#serving) {
      const heard = member.handle.lastHeardAt;
      if (heard === undefined || now - heard <= limit) continue;
      this.#serving.delete(member);
      this.#unresponsive.add(member);
      this.#record(
        'unresponsive',
        `its event loop has not answered for ${now - heard} ms (limits.unresponsive_after ${limit} ms); no new requests until it does`,
        member,
      );
      this.#start(`replacing ${member.handle.id.slice(0, 8)}, whose event loop is blocked`);
    }
    // One still on its start or warmup request (not admitted yet) whose loop stopped answering
    // would wait there for ever (manual scaling has no deadline): its start has failed.
    for (const member of this.#all) {
      if (member.admitted || this.#retiring.has(member) || member.handle.state !== 'ready') continue;
      const heard = member.handle.lastHeardAt;
      if (heard === undefined || now - heard <= limit) continue;
      const reason = `its event loop has not answered for ${now - heard} ms (limits.unresponsive_after ${limit} ms) during its start request`;
      this.#record('unresponsive', `${reason}; killed, its start failed`, member);
      member.handle.kill(reason);
    }
    for (const member of this.#unresponsive) {
      const heard = member.handle.lastHeardAt;
      if (heard === undefined || now - heard > limit) continue;
      this.#unresponsive.delete(member);
      if (!this.#all.has(member) || this.#retiring.has(member) || this.#closed) continue;
      this.#record('recovered', 'its event loop answers again; it takes requests again', member);
      this.#serving.add(member);
      this.#dispatchPending();
    }
  }

  /**
   * Below the target utilisation requests are packed onto the busiest instance, so spare ones can
   * go idle and scale down; above it they spread to the least busy, to keep latency low.
   */
  #pick(): Member | undefined {
    const { scaling } = this.#options;
    const slots = this.#factory.slots;
    const target = scaling.kind === 'automatic' ? scaling.targetThroughputUtilization : 1;
    let packed: Member | undefined;
    let spread: Member | undefined;
    for (const member of this.#serving) {
      if (member.inflight >= slots) continue;
      if ((member.inflight + 1) / slots <= target && (!packed || member.inflight > packed.inflight)) {
        packed = member;
      }
      if (!spread || member.inflight < spread.inflight) spread = member;
    }
    return packed ?? spread;
  }

  #dispatchPending(): void {
    while (this.#pending.length > 0) {
      const member = this.#pick();
      if (!member) return;
      const waiter = this.#pending.shift()!;
      this.#clock.clearTimeout(waiter.timer);
      waiter.resolve(this.#lease(member, this.#clock.now() - waiter.since));
    }
  }

  #liveCount(): number {
    return this.#all.size - this.#retiring.size;
  }

  #blocked(): boolean {
    return this.#blockedUntil !== undefined && this.#clock.now() < this.#blockedUntil;
  }

  #evaluate(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    this.#checkLiveness(now);
    const snapshot: PoolSnapshot = {
      now,
      scaling: this.#options.scaling,
      slotsPerInstance: this.#factory.slots,
      instances: [],
      pendingCount: this.#pending.length,
      oldestPendingSince: this.#pending[0]?.since,
      idlePeriodMs: this.#options.idlePeriodMs,
      startBlockedUntil: this.#blockedUntil,
    };
    for (const member of this.#all) {
      if (this.#retiring.has(member) || this.#suspect.has(member) || this.#unresponsive.has(member)) continue;
      const serving = this.#serving.has(member);
      snapshot.instances.push({
        id: member.handle.id,
        state: serving ? 'ready' : 'starting',
        inflight: member.inflight,
        idleSince: serving && member.inflight === 0 ? member.idleSince : undefined,
      });
    }
    for (const action of decide(snapshot)) this.#apply(action);
  }

  #apply(action: ScalingAction): void {
    if (action.kind === 'start') {
      this.#start(action.reason);
      return;
    }
    const member = [...this.#serving].find((m) => m.handle.id === action.instanceId);
    if (member) this.#retire(member, action.reason);
  }

  /**
   * Starts one instance now; resolves once it serves (its `/_ah/start` or warmup request done),
   * rejects with its start error. A deploy's proof that the version loads: the instance then
   * stays and serves, and ends when idle like any other.
   */
  startInstance(reason: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed) reject(new HangarError('INSTANCE_START_FAILED', 'the pool is closed'));
      else this.#start(reason, { resolve, reject });
    });
  }

  #start(
    reason: string,
    told?: { resolve(): void; reject(err: Error): void; candidate?: InstanceFactory },
  ): void {
    if (this.#closed) return;
    const candidate = told?.candidate;
    const factory = candidate ?? this.#factory;
    const handle = factory.create();
    const member: Member = {
      handle,
      inflight: 0,
      served: 0,
      idleSince: undefined,
      loading: true,
      admitted: false,
      idleWaiters: [],
    };
    // "First" is decided at start: instances started while the first is still starting (a burst
    // of traffic on a cold version) are not first, and get their warmup request.
    // A trial of new code is the first instance of that code: no warmup request.
    const first = candidate !== undefined || !this.#anyStarted;
    if (!candidate) this.#anyStarted = true;
    this.#all.add(member);
    this.#record('start', reason, member);
    handle.onExit((exit) => this.#exited(member, exit));
    handle.onMemoryExceeded((level) => {
      const limit = Math.round(factory.memoryLimitBytes / 2 ** 20);
      if (level === 'cap') {
        const cap = Math.round((factory.memoryLimitBytes * memoryCapFactor) / 2 ** 20);
        this.#killStuck(
          member,
          `memory ${Math.round(handle.rss / 2 ** 20)} MiB passed the hard cap of ${cap} MiB (${memoryCapFactor}× instance_class ${limit} MiB); killed at once`,
        );
        return;
      }
      this.#record(
        'replace',
        `memory ${Math.round(handle.rss / 2 ** 20)} MiB is over the limit of ${limit} MiB (instance_class); replacing it after its current requests`,
        member,
      );
      this.#retire(member, 'over its memory limit', false);
      this.#evaluate();
    });
    handle
      .start()
      .then(async () => {
        const wanted = factory === this.#factory || factory === this.#candidate;
        if (this.#retiring.has(member) || this.#closed || !wanted) {
          this.#retire(member, 'no longer wanted once it had started', false);
          told?.reject(
            new HangarError('INSTANCE_START_FAILED', 'the instance was no longer wanted once it had started'),
          );
          return;
        }
        if (this.#options.prepare) {
          const lease = this.#lease(member, 0);
          try {
            await this.#options.prepare(lease, first);
          } finally {
            lease.release();
          }
        }
        if (this.#retiring.has(member) || this.#closed || (candidate && candidate !== this.#candidate)) {
          this.#retire(member, 'no longer wanted once it had started', false);
          told?.reject(new HangarError('INSTANCE_START_FAILED', 'the instance was retired while it started'));
          return;
        }
        if (candidate) this.#adopt(member, candidate);
        this.#failures = 0;
        this.#blockedUntil = undefined;
        this.#lastError = undefined;
        member.idleSince ??= this.#clock.now();
        member.admitted = true;
        this.#serving.add(member);
        this.#dispatchPending();
        told?.resolve();
      })
      .catch((err: unknown) => {
        const error = err instanceof Error ? err : new HangarError('INSTANCE_START_FAILED', String(err));
        told?.reject(error);
        handle.kill();
        this.#all.delete(member);
        this.#retiring.delete(member);
        if (factory !== this.#factory || this.#closed) return;
        this.#failures++;
        const backoff = Math.min(firstBackoffMs * 2 ** (this.#failures - 1), this.#options.startBackoffMaxMs);
        this.#blockedUntil = this.#clock.now() + backoff;
        this.#lastError = error;
        this.#record(
          'start-failed',
          `start failed (${this.#failures} in a row); next attempt in ${backoff} ms`,
          member,
        );
        this.#options.onStartFailed?.(error);
        // Nothing can serve the queue before the back-off ends: fail it now, with the reason.
        if (this.#serving.size === 0) {
          for (const waiter of this.#pending.splice(0)) {
            this.#clock.clearTimeout(waiter.timer);
            waiter.reject(error);
          }
        }
      });
  }

  /** Stops routing to the instance and stops it once its in-flight requests finish (drain). */
  #retire(member: Member, reason: string, record = true): void {
    this.#serving.delete(member);
    if (this.#retiring.has(member) || !this.#all.has(member)) return;
    this.#retiring.add(member);
    if (record) this.#record('stop', reason, member);
    const stopping = this.#drain(member)
      .then(() => member.handle.stop())
      .finally(() => this.#stopping.delete(stopping));
    this.#stopping.add(stopping);
  }

  /** Resolves when the member has no request in flight, or after drain_timeout (S6). */
  #drain(member: Member): Promise<void> {
    if (member.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(resolve, this.#options.drainTimeoutMs);
      member.idleWaiters.push(() => {
        this.#clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  #exited(member: Member, exit: InstanceExit): void {
    const wasServing =
      this.#serving.delete(member) || this.#suspect.delete(member) || this.#unresponsive.delete(member);
    const expected = this.#retiring.delete(member);
    this.#all.delete(member);
    for (const wake of member.idleWaiters.splice(0)) wake();
    if (!expected && wasServing && !this.#closed) {
      const why = exit.reason ? `: ${exit.reason}` : '';
      this.#record('exit', `exited unexpectedly (${exit.signal ?? `code ${exit.code}`})${why}`, member);
      this.#options.onExit?.(member.handle.id, exit);
      this.#start(`replacing ${member.handle.id.slice(0, 8)}, which exited unexpectedly`);
    }
  }

  #record(action: ScalingDecision['action'], reason: string, member?: Member): void {
    const decision: ScalingDecision = {
      at: new Date(this.#clock.now()).toISOString(),
      ...(this.#options.app === undefined ? {} : { app: this.#options.app }),
      service: this.#options.service,
      version: this.#options.version,
      action,
      instanceId: member?.handle.id,
      reason,
    };
    this.#decisions.push(decision);
    if (this.#decisions.length > keptDecisions) this.#decisions.shift();
    this.#options.onDecision?.(decision);
  }
}

import type { Scaling } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import { decide, type PoolSnapshot, type ScalingAction } from './autoscaler.js';
import { InstanceProcess, type InstanceSpec } from './instance-process.js';

/** A request's hold on one instance slot; `release()` exactly once when the request ends. */
export interface Lease {
  instance: InstanceProcess;
  /** How long the request waited in the pending queue. */
  pendingMs: number;
  /** The instance's first request: a loading request (S6). */
  loading: boolean;
  release(): void;
}

/** One scaling decision with its reason (S6: every decision is logged). */
export interface ScalingDecision {
  at: string;
  service: string;
  version: string;
  action: 'start' | 'stop' | 'replace' | 'exit' | 'kill' | 'start-failed';
  instanceId?: string;
  reason: string;
}

export interface VersionPoolOptions {
  service: string;
  version: string;
  scaling: Scaling;
  /** Concurrent requests per instance: 1 when threadsafe: false, else max_concurrent_requests. */
  slots: number;
  maxPendingLatencyMs: number;
  drainTimeoutMs: number;
  idlePeriodMs: number;
  startBackoffMaxMs: number;
  /** Start one instance as soon as the pool exists (the dev server does, so load errors show at once). */
  warm: boolean;
  /**
   * Runs on each new instance before it takes traffic: `/_ah/start` (manual scaling) and
   * `/_ah/warmup` (inbound_services: warmup, every instance after the first). A rejection fails
   * the start. `first` is true for the first instance started for this code (not for those
   * started while it was still starting).
   */
  prepare?(instance: InstanceProcess, first: boolean): Promise<void>;
  onDecision?(decision: ScalingDecision): void;
  onStartFailed?(error: Error): void;
  onExit?(instance: InstanceProcess, code: number | null, signal: NodeJS.Signals | null): void;
}

interface Waiter {
  since: number;
  timer: NodeJS.Timeout;
  resolve(lease: Lease): void;
  reject(error: Error): void;
}

/** How often the autoscaler looks at the pool besides reacting to events. */
const tickMs = 100;
const firstBackoffMs = 1_000;

/**
 * The instances of one version and the slots they offer (SPEC S6): requests take a free slot
 * or wait in a FIFO pending queue (503 past `max_pending_latency`); the autoscaler starts and
 * stops instances; crashed, stuck and over-memory instances are replaced; reload, scale-down and
 * shutdown drain.
 */
export class VersionPool {
  #spec: InstanceSpec;
  readonly #options: VersionPoolOptions;
  /** Every instance not yet exited: starting, serving, or draining. */
  readonly #all = new Set<InstanceProcess>();
  /** Instances that may take traffic (ready and prepared, not retiring). */
  readonly #serving = new Set<InstanceProcess>();
  readonly #retiring = new Set<InstanceProcess>();
  /** Out of routing after a lost connection, until its exit or a ping says which it was. */
  readonly #suspect = new Set<InstanceProcess>();
  readonly #stopping = new Set<Promise<void>>();
  readonly #pending: Waiter[] = [];
  readonly #decisions: ScalingDecision[] = [];
  #failures = 0;
  #blockedUntil: number | undefined;
  #lastError: Error | undefined;
  /** Set once an instance of this code was started: every later one is warmed up (S6). */
  #anyStarted = false;
  #closed = false;
  readonly #ticker: NodeJS.Timeout;

  constructor(spec: InstanceSpec, options: VersionPoolOptions) {
    this.#spec = spec;
    this.#options = options;
    this.#ticker = setInterval(() => this.#evaluate(), tickMs).unref();
    if (options.warm) this.#start('the dev server starts one instance ahead of traffic');
    this.#evaluate();
  }

  /** Instances not yet exited, in start order. */
  get instances(): InstanceProcess[] {
    return [...this.#all];
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
    const instance = this.#pick();
    if (instance) return Promise.resolve(this.#lease(instance, 0));
    if (this.#lastError && this.#liveCount() === 0 && this.#blocked()) return Promise.reject(this.#lastError);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        since: Date.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
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

  /** Serves new code: fresh instances take new requests, the old ones drain. */
  reload(spec: InstanceSpec = this.#spec): void {
    this.#spec = spec;
    this.#failures = 0;
    this.#blockedUntil = undefined;
    this.#lastError = undefined;
    this.#anyStarted = false;
    for (const instance of this.#all) this.#retire(instance, 'stop', 'the code or app.yaml changed');
    if (this.#options.warm) this.#start('the code or app.yaml changed');
    this.#evaluate();
  }

  /**
   * A request on `instance` outlived its deadline and grace: no new requests go to the instance
   * until it answers a ping; one that does not answer within `timeoutMs` has a blocked event
   * loop and is killed (S6). Resolves true when the instance was healthy.
   */
  async checkResponsive(instance: InstanceProcess, timeoutMs: number, reason: string): Promise<boolean> {
    if (!this.#serving.delete(instance)) return instance.state !== 'stopped';
    const alive = await instance.ping(timeoutMs);
    if (alive && this.#all.has(instance) && !this.#retiring.has(instance) && !this.#closed) {
      this.#serving.add(instance);
      this.#dispatchPending();
      return true;
    }
    if (!alive) this.killStuck(instance, `${reason}; it did not answer a ping within ${timeoutMs} ms`);
    return alive;
  }

  /**
   * A connection to `instance` broke mid-request: most often the process just died, and its
   * `exit` event comes a moment later. Until then no request may be routed to it (a quick next
   * request would fail too); if it answers a ping it was alive and goes back into routing.
   */
  suspect(instance: InstanceProcess, timeoutMs: number): void {
    if (!this.#serving.delete(instance)) return;
    this.#suspect.add(instance);
    void instance.ping(timeoutMs).then((alive) => {
      if (!this.#suspect.delete(instance)) return;
      if (alive && this.#all.has(instance) && !this.#retiring.has(instance) && !this.#closed) {
        this.#serving.add(instance);
        this.#dispatchPending();
      } else if (!alive) {
        this.killStuck(instance, 'a request lost its connection and the instance does not answer pings');
      }
    });
  }

  /**
   * Kills an instance whose event loop does not answer (S6: a blocked handler at its deadline);
   * its other requests get 500, and a replacement starts when needed.
   */
  killStuck(instance: InstanceProcess, reason: string): void {
    if (!this.#all.has(instance)) return;
    this.#serving.delete(instance);
    this.#retiring.add(instance);
    this.#record('kill', reason, instance);
    instance.killedBecause = reason;
    instance.kill();
    this.#start(`replacing ${instance.id.slice(0, 8)}, which was killed`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#ticker);
    for (const waiter of this.#pending.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new HangarError('INSTANCE_START_FAILED', 'the platform is shutting down'));
    }
    for (const instance of this.#all) this.#retire(instance, 'stop', 'the platform is shutting down', false);
    await Promise.all(this.#stopping);
  }

  #lease(instance: InstanceProcess, pendingMs: number): Lease {
    instance.requestStarted();
    const loading = instance.loading;
    instance.loading = false;
    let released = false;
    return {
      instance,
      pendingMs,
      loading,
      release: () => {
        if (released) return;
        released = true;
        instance.requestDone();
        this.#dispatchPending();
      },
    };
  }

  /**
   * Below the target utilisation requests are packed onto the busiest instance, so spare ones can
   * go idle and scale down; above it they spread to the least busy, to keep latency low.
   */
  #pick(): InstanceProcess | undefined {
    const { slots, scaling } = this.#options;
    const target = scaling.kind === 'automatic' ? scaling.targetThroughputUtilization : 1;
    let packed: InstanceProcess | undefined;
    let spread: InstanceProcess | undefined;
    for (const instance of this.#serving) {
      if (instance.inflight >= slots) continue;
      if ((instance.inflight + 1) / slots <= target && (!packed || instance.inflight > packed.inflight)) {
        packed = instance;
      }
      if (!spread || instance.inflight < spread.inflight) spread = instance;
    }
    return packed ?? spread;
  }

  #dispatchPending(): void {
    while (this.#pending.length > 0) {
      const instance = this.#pick();
      if (!instance) return;
      const waiter = this.#pending.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.#lease(instance, Date.now() - waiter.since));
    }
  }

  #liveCount(): number {
    return this.#all.size - this.#retiring.size;
  }

  #blocked(): boolean {
    return this.#blockedUntil !== undefined && Date.now() < this.#blockedUntil;
  }

  #evaluate(): void {
    if (this.#closed) return;
    const now = Date.now();
    const snapshot: PoolSnapshot = {
      now,
      scaling: this.#options.scaling,
      slotsPerInstance: this.#options.slots,
      instances: [],
      pendingCount: this.#pending.length,
      oldestPendingSince: this.#pending[0]?.since,
      idlePeriodMs: this.#options.idlePeriodMs,
      startBlockedUntil: this.#blockedUntil,
    };
    for (const instance of this.#all) {
      if (this.#retiring.has(instance) || this.#suspect.has(instance)) continue;
      const serving = this.#serving.has(instance);
      snapshot.instances.push({
        id: instance.id,
        state: serving ? 'ready' : 'starting',
        inflight: instance.inflight,
        idleSince: serving && instance.inflight === 0 ? instance.idleSince : undefined,
      });
    }
    for (const action of decide(snapshot)) this.#apply(action);
  }

  #apply(action: ScalingAction): void {
    if (action.kind === 'start') {
      this.#start(action.reason);
      return;
    }
    const instance = [...this.#serving].find((i) => i.id === action.instanceId);
    if (instance) this.#retire(instance, 'stop', action.reason);
  }

  #start(reason: string): void {
    if (this.#closed) return;
    const instance = new InstanceProcess(this.#spec);
    // "First" is decided at start: instances started while the first is still starting (a burst
    // of traffic on a cold version) are not first, and get their warmup request.
    const first = !this.#anyStarted;
    this.#anyStarted = true;
    this.#all.add(instance);
    this.#record('start', reason, instance);
    instance.onExit((code, signal) => this.#exited(instance, code, signal));
    instance.onMemoryExceeded((i) => {
      const limit = Math.round(i.spec.memoryLimitBytes / 2 ** 20);
      this.#record(
        'replace',
        `memory ${Math.round(i.rss / 2 ** 20)} MiB is over the limit of ${limit} MiB (instance_class); replacing it after its current requests`,
        i,
      );
      this.#retire(i, 'stop', 'over its memory limit', false);
      this.#evaluate();
    });
    const spec = this.#spec;
    instance
      .start()
      .then(async () => {
        if (this.#retiring.has(instance) || this.#closed || spec !== this.#spec) {
          this.#retire(instance, 'stop', 'no longer wanted once it had started', false);
          return;
        }
        await this.#options.prepare?.(instance, first);
        if (this.#retiring.has(instance) || this.#closed) return;
        this.#failures = 0;
        this.#blockedUntil = undefined;
        this.#lastError = undefined;
        this.#serving.add(instance);
        this.#dispatchPending();
      })
      .catch((err: unknown) => {
        const error = err instanceof Error ? err : new HangarError('INSTANCE_START_FAILED', String(err));
        instance.kill();
        this.#all.delete(instance);
        this.#retiring.delete(instance);
        if (spec !== this.#spec || this.#closed) return;
        this.#failures++;
        const backoff = Math.min(firstBackoffMs * 2 ** (this.#failures - 1), this.#options.startBackoffMaxMs);
        this.#blockedUntil = Date.now() + backoff;
        this.#lastError = error;
        this.#record(
          'start-failed',
          `start failed (${this.#failures} in a row); next attempt in ${backoff} ms`,
          instance,
        );
        this.#options.onStartFailed?.(error);
        // Nothing can serve the queue before the back-off ends: fail it now, with the reason.
        if (this.#serving.size === 0) {
          for (const waiter of this.#pending.splice(0)) {
            clearTimeout(waiter.timer);
            waiter.reject(error);
          }
        }
      });
  }

  /** Stops routing to the instance and stops it once its in-flight requests finish (drain). */
  #retire(instance: InstanceProcess, action: 'stop', reason: string, record = true): void {
    this.#serving.delete(instance);
    if (this.#retiring.has(instance) || !this.#all.has(instance)) return;
    this.#retiring.add(instance);
    if (record) this.#record(action, reason, instance);
    const stopping = instance
      .stop(this.#options.drainTimeoutMs)
      .finally(() => this.#stopping.delete(stopping));
    this.#stopping.add(stopping);
  }

  #exited(instance: InstanceProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const wasServing = this.#serving.delete(instance) || this.#suspect.delete(instance);
    const expected = this.#retiring.delete(instance);
    this.#all.delete(instance);
    if (!expected && wasServing && !this.#closed) {
      this.#record('exit', `exited unexpectedly (${signal ?? `code ${code}`})`, instance);
      this.#options.onExit?.(instance, code, signal);
      this.#start(`replacing ${instance.id.slice(0, 8)}, which exited unexpectedly`);
    }
  }

  #record(action: ScalingDecision['action'], reason: string, instance?: InstanceProcess): void {
    const decision: ScalingDecision = {
      at: new Date().toISOString(),
      service: this.#options.service,
      version: this.#options.version,
      action,
      instanceId: instance?.id,
      reason,
    };
    this.#decisions.push(decision);
    if (this.#decisions.length > 200) this.#decisions.shift();
    this.#options.onDecision?.(decision);
  }
}

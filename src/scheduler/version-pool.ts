import { HangarError } from '../shared/errors.js';
import { InstanceProcess, type InstanceSpec } from './instance-process.js';

/** A request's hold on one instance slot; `release()` exactly once when the request ends. */
export interface Lease {
  instance: InstanceProcess;
  release(): void;
}

export interface VersionPoolOptions {
  drainTimeoutMs: number;
  /** After a failed start, requests get the same error for this long instead of a new attempt. */
  retryAfterFailureMs: number;
  onStarted?: (instance: InstanceProcess) => void;
  onStartFailed?: (error: Error) => void;
  onExit?: (instance: InstanceProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

/**
 * The instances of one version and the slots they offer (SPEC S6). This first version runs one
 * instance per version; the scheduler issue widens it to pools, queues and autoscaling behind
 * the same `acquire`/`reload`/`close` surface.
 */
export class VersionPool {
  #spec: InstanceSpec;
  readonly #options: VersionPoolOptions;
  #current: InstanceProcess | undefined;
  #starting: Promise<InstanceProcess> | undefined;
  #failure: { error: Error; at: number } | undefined;
  #closed = false;
  readonly #stopping = new Set<Promise<void>>();

  constructor(spec: InstanceSpec, options: VersionPoolOptions) {
    this.#spec = spec;
    this.#options = options;
  }

  get instances(): InstanceProcess[] {
    return this.#current ? [this.#current] : [];
  }

  /** Starts the version's first instance ahead of traffic; failures are reported, not thrown. */
  warm(): void {
    this.#ensureStarted().catch(() => {});
  }

  async acquire(): Promise<Lease> {
    const instance = this.#current?.state === 'ready' ? this.#current : await this.#ensureStarted();
    instance.inflight++;
    let released = false;
    return {
      instance,
      release: () => {
        if (released) return;
        released = true;
        instance.requestDone();
      },
    };
  }

  /**
   * Serves new code: starts a fresh instance with `spec`, routes new requests to it, and drains
   * the old one. If the new code fails to start, its error is what requests get until the next
   * reload (dev_appserver shows the broken code's error rather than silently serving stale code).
   */
  async reload(spec: InstanceSpec = this.#spec): Promise<void> {
    this.#spec = spec;
    this.#failure = undefined;
    const old = this.#current;
    this.#current = undefined;
    this.#starting = undefined;
    if (old) this.#retire(old);
    await this.#ensureStarted().catch(() => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    const starting = this.#starting;
    const current = this.#current;
    this.#current = undefined;
    if (current) this.#retire(current);
    if (starting) {
      const late = await starting.catch(() => undefined);
      if (late && late !== current) this.#retire(late);
    }
    await Promise.all(this.#stopping);
  }

  #retire(instance: InstanceProcess): void {
    const stopping = instance
      .stop(this.#options.drainTimeoutMs)
      .finally(() => this.#stopping.delete(stopping));
    this.#stopping.add(stopping);
  }

  #ensureStarted(): Promise<InstanceProcess> {
    if (this.#closed)
      return Promise.reject(new HangarError('INSTANCE_START_FAILED', 'the platform is shutting down'));
    if (this.#current?.state === 'ready') return Promise.resolve(this.#current);
    if (this.#starting) return this.#starting;
    const failure = this.#failure;
    if (failure && Date.now() - failure.at < this.#options.retryAfterFailureMs)
      return Promise.reject(failure.error);

    const instance = new InstanceProcess(this.#spec);
    const starting = instance.start().then(
      () => {
        if (this.#starting !== starting) {
          // A reload or close replaced this start while it ran; it is not wanted any more.
          this.#retire(instance);
          return this.#current ?? this.#ensureStarted();
        }
        this.#starting = undefined;
        this.#current = instance;
        this.#failure = undefined;
        instance.onExit((code, signal) => {
          if (this.#current === instance) this.#current = undefined;
          this.#options.onExit?.(instance, code, signal);
        });
        this.#options.onStarted?.(instance);
        return instance;
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new HangarError('INSTANCE_START_FAILED', String(err));
        if (this.#starting === starting) {
          this.#starting = undefined;
          this.#failure = { error, at: Date.now() };
          this.#options.onStartFailed?.(error);
        }
        throw error;
      },
    );
    this.#starting = starting;
    return starting;
  }
}

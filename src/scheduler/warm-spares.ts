/**
 * Warm spares (docs/scaling.md "Warm spares"): instance processes started ahead of need, which
 * have done Node's start and loaded Hangar's own modules (src/instance/main.ts, spare mode) and
 * wait, with no app code loaded, for the platform to say which app version they become. A
 * version that needs an instance (a loading request, S6) takes one instead of spawning, and the
 * next spare starts behind it. A spare is taken once and never comes back: a process that has
 * loaded one app's code never serves another.
 *
 * Processes are interchangeable when they are started alike: the same Node executable, the same
 * isolation wrapper (an `unshare` namespace, the permission model's flags) and the same Node
 * flags (`kindOf`). Spares are kept for the `count` kinds used most recently, one each; a kind
 * is used when an instance of it starts, or announced by a version that will start such
 * instances (`prepare`, at platform start).
 */
import { readFileSync } from 'node:fs';
import { SupervisedChild, type SupervisedChildOptions } from '../shared/supervised-child.js';

/** How an instance process is spawned before it knows its app: no app variables, no init. */
export type SparePlan = Pick<SupervisedChildOptions, 'args' | 'execPath' | 'command' | 'commandArgs'> & {
  /** The environment common to every instance of this kind (the platform's, plus PATH and TZ). */
  env: NodeJS.ProcessEnv;
};

/** What makes two plans interchangeable processes. */
export function kindOf(plan: SparePlan): string {
  return JSON.stringify([
    plan.command ?? null,
    plan.commandArgs ?? [],
    plan.execPath ?? process.execPath,
    plan.args,
    plan.env.PATH ?? null,
    plan.env.TZ ?? null,
  ]);
}

/**
 * Variables Node, libuv, OpenSSL or the C library read once, when the process starts: an app
 * that sets one in `env_variables` gets it only in a process started with it, so its instances
 * are not made from spares.
 *
 * @example
 * startupVariable({ NODE_OPTIONS: '--max-old-space-size=256' }) // 'NODE_OPTIONS'
 */
export function startupVariable(env: Record<string, string>): string | undefined {
  return Object.keys(env).find((name) =>
    /^(?:NODE_|UV_|OPENSSL_|SSL_CERT_|LD_|MALLOC_|GLIBC_|LANG$|LANGUAGE$|LC_)/.test(name),
  );
}

export interface WarmSparesOptions {
  /** Spares kept: one for each of the `count` kinds used most recently (0: none, every start spawns). */
  count: number;
  /** Where a spare waits (it changes to its app's folder once it knows it). */
  cwd: string;
  /** A spare must report that it waits within this. */
  startTimeoutMs: number;
  /** Restarts of a spare that failed are spaced 1 s, 2 s, ... up to this. */
  backoffMaxMs: number;
  /** Lines a spare prints before it is taken (none, unless it fails), and its failures. */
  log?(message: string): void;
}

/** How long after an instance start settled its kind's next spare starts. */
const settleDelayMs = 50;

/** A spare as `GET /api/instances` lists it (memory accounting counts it). */
export interface SpareStatus {
  pid: number | undefined;
  startedAt: Date;
  /** It has loaded Hangar's modules and waits for its app. */
  ready: boolean;
  /** Resident memory in bytes (0 where /proc cannot tell). */
  rss: number;
}

/** Counters for `/metrics`. */
export interface SpareCounters {
  /** Instance starts that took a spare. */
  hits: number;
  /** Instance starts that spawned a process (no spare of their kind, or the app cannot use one). */
  misses: number;
}

/** One spare process while it waits, and the handle a starting instance gets when it takes it. */
export class Spare {
  readonly child: SupervisedChild;
  readonly kind: string;
  readonly startedAt = new Date();
  /** Resolves once it reports that it waits; rejects when it failed to get there. */
  readonly waiting: Promise<void>;
  #ready = false;
  #sink: ((stream: 'stdout' | 'stderr', line: string) => void) | undefined;

  constructor(kind: string, plan: SparePlan, options: WarmSparesOptions) {
    this.kind = kind;
    this.child = new SupervisedChild({
      ...plan,
      cwd: options.cwd,
      env: { ...plan.env, HANGAR_INSTANCE_SPARE: '1' },
      onLine: (stream, line) => {
        if (this.#sink) this.#sink(stream, line);
        else options.log?.(`warm spare ${this.child.pid ?? '?'} ${stream}: ${line}`);
      },
    });
    this.waiting = this.child.ready({
      startTimeoutMs: options.startTimeoutMs,
      isReady: (message) => ((message as { type?: unknown } | null)?.type === 'spare' ? true : undefined),
    });
    this.waiting.then(
      () => {
        this.#ready = true;
      },
      () => {},
    );
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** From now on its lines go to `onLine` (the instance it became). */
  attach(onLine: (stream: 'stdout' | 'stderr', line: string) => void): void {
    this.#sink = onLine;
  }

  /**
   * Sends the instance's `init` once the spare waits for it (before that, the message could come
   * before its listener). A spare that failed meanwhile has exited: the instance's `ready()` says so.
   */
  init(message: { type: 'init'; init: unknown }): void {
    void this.waiting.then(
      () => this.child.send(message),
      () => {},
    );
  }
}

/**
 * The platform's warm spares; one per platform process.
 *
 * @example
 * const spares = new WarmSpares({ count: 1, cwd: runDir, startTimeoutMs: 30_000, backoffMaxMs: 30_000 });
 * const spare = spares.take(plan, true); // then spare.attach(...), spare.init({ type: 'init', init })
 */
export class WarmSpares {
  readonly counters: SpareCounters = { hits: 0, misses: 0 };
  readonly #options: WarmSparesOptions;
  /** The spare of each kind that has one. */
  readonly #spares = new Map<string, Spare>();
  /** Kinds by last use, most recent first, with how to start them. */
  #recent: Array<{ kind: string; plan: SparePlan }> = [];
  /** Failed starts in a row per kind, and the pending restart. */
  readonly #failures = new Map<string, number>();
  readonly #restarts = new Map<string, NodeJS.Timeout>();
  /** Kinds whose next spare waits for an instance start to settle. */
  readonly #settling = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(options: WarmSparesOptions) {
    this.#options = options;
  }

  get count(): number {
    return this.#options.count;
  }

  /**
   * The spare of `plan`'s kind for an instance about to start (a hit), or undefined (a miss:
   * none waits, or `eligible` is false because the app cannot use one). Either way a spare of
   * this kind is started for the next start, once this one has settled (`settleAfter`).
   */
  take(plan: SparePlan, eligible = true): Spare | undefined {
    if (this.#closed) return undefined;
    const kind = kindOf(plan);
    this.#use(kind, plan);
    const spare = eligible ? this.#spares.get(kind) : undefined;
    const hit = spare?.child.running === true;
    if (hit) {
      this.#spares.delete(kind);
      this.counters.hits++;
    } else this.counters.misses++;
    // The next spare waits until this start is done (settleAfter), at most the start timeout: a
    // Node start beside it would share the CPU with the instance and its loading request.
    if (!this.#spares.has(kind) && !this.#settling.has(kind)) {
      const timer = setTimeout(() => this.#settled(kind), this.#options.startTimeoutMs);
      timer.unref();
      this.#settling.set(kind, timer);
    }
    this.#reconcile();
    return hit ? spare : undefined;
  }

  /**
   * The instance process that `take` was for (the spare, or the process spawned on a miss): the
   * next spare of `plan`'s kind starts shortly after it reports ready or failed, or exits.
   */
  settleAfter(plan: SparePlan, child: SupervisedChild): void {
    const kind = kindOf(plan);
    if (!this.#settling.has(kind)) return;
    const done = () => {
      off();
      // After the loading request, which the platform sends as the instance reports ready.
      setTimeout(() => this.#settled(kind), settleDelayMs).unref();
    };
    const off = child.onMessage((message) => {
      const type = (message as { type?: unknown } | null)?.type;
      if (type === 'ready' || type === 'failed') done();
    });
    child.onExit(done);
  }

  #settled(kind: string): void {
    const timer = this.#settling.get(kind);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#settling.delete(kind);
    this.#reconcile();
  }

  /** Announces a kind that instances will be started as (a version at platform start): its spare starts now. */
  prepare(plan: SparePlan): void {
    if (this.#closed) return;
    const kind = kindOf(plan);
    // Behind the kinds already in use: a version announced at platform start does not displace them.
    if (!this.#recent.some((r) => r.kind === kind))
      this.#recent = [...this.#recent, { kind, plan }].slice(0, 32);
    this.#reconcile();
  }

  /** The spares now, for the admin API. */
  list(): SpareStatus[] {
    return [...this.#spares.values()].map((spare) => ({
      pid: spare.child.pid,
      startedAt: spare.startedAt,
      ready: spare.ready,
      rss: spare.child.pid === undefined ? 0 : (residentBytesSync(spare.child.pid) ?? 0),
    }));
  }

  /** Ends every spare (with the platform); no new ones start. Resolves once they have exited. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of [...this.#restarts.values(), ...this.#settling.values()]) clearTimeout(timer);
    this.#restarts.clear();
    this.#settling.clear();
    const spares = [...this.#spares.values()];
    this.#spares.clear();
    for (const spare of spares) spare.child.kill();
    await Promise.all(spares.map((spare) => spare.child.exited));
  }

  #use(kind: string, plan: SparePlan): void {
    this.#recent = [{ kind, plan }, ...this.#recent.filter((r) => r.kind !== kind)].slice(0, 32);
  }

  /** A spare for each of the `count` most recent kinds; those of other kinds end. */
  #reconcile(): void {
    if (this.#closed) return;
    const wanted = this.#recent.slice(0, this.#options.count);
    for (const [kind, spare] of this.#spares) {
      if (wanted.some((w) => w.kind === kind)) continue;
      this.#spares.delete(kind);
      spare.child.kill();
    }
    for (const { kind, plan } of wanted) {
      if (!this.#spares.has(kind) && !this.#restarts.has(kind) && !this.#settling.has(kind))
        this.#start(kind, plan);
    }
  }

  #start(kind: string, plan: SparePlan): void {
    const spare = new Spare(kind, plan, this.#options);
    this.#spares.set(kind, spare);
    spare.waiting.then(
      () => this.#failures.delete(kind),
      (err: unknown) => {
        if (this.#spares.get(kind) !== spare) return;
        this.#failed(kind, spare, err instanceof Error ? err.message : String(err));
      },
    );
    spare.child.onExit((code, signal) => {
      // Taken: its exit is its instance's business. Replaced or closed: expected.
      if (this.#spares.get(kind) !== spare || !spare.ready) return;
      this.#failed(kind, spare, `it exited (${signal ?? `code ${code}`}) while it waited`);
    });
  }

  /** A spare that did not start or died waiting: said once, and started again after a back-off. */
  #failed(kind: string, spare: Spare, reason: string): void {
    this.#spares.delete(kind);
    spare.child.kill();
    if (this.#closed) return;
    const failures = (this.#failures.get(kind) ?? 0) + 1;
    this.#failures.set(kind, failures);
    const backoff = Math.min(1_000 * 2 ** (failures - 1), this.#options.backoffMaxMs);
    this.#options.log?.(
      `warm spare ${spare.child.pid ?? '?'} failed: ${reason}; the next one starts in ${backoff} ms` +
        (spare.child.stderrTail ? `\n${spare.child.stderrTail}` : ''),
    );
    const timer = setTimeout(() => {
      this.#restarts.delete(kind);
      this.#reconcile();
    }, backoff);
    timer.unref();
    this.#restarts.set(kind, timer);
  }
}

/** `VmRSS` of `pid` in bytes, read now; undefined without /proc. */
function residentBytesSync(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

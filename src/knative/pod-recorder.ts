/**
 * What a Knative pod on the platform database keeps of its requests (SPEC S9, S10, S16;
 * docs/kubernetes.md "The pod and the platform database"): each request's log entry, with its
 * app lines, into the shared request log (logs/'s LogWriter on a LogStore), and its counts into
 * the shared metering table (metering/'s Meter on a MeteringStore), which also gives the quota
 * check the platform-wide day totals. It runs on the pod's database thread
 * (pod-database-worker.ts); nothing here is on a request's path, and nothing here waits for the
 * database before a request is answered.
 *
 * The database may be away (not reachable at start, or gone for a while): entries wait in
 * memory, at most `maxWaiting` of them and `maxWaitingBytes`, and are retried every
 * `flushMs`; beyond the bound, and whatever is still waiting when the pod stops, they go to
 * stdout as the JSON lines a pod without a database writes (pod-log.ts), so no entry is dropped
 * unsaid. Counts are kept by the Meter until the next write that succeeds.
 */

import type { LogStore } from '../logs/store.js';
import type { RecordWithLines } from '../logs/types.js';
import { LogWriter } from '../logs/writer.js';
import { Meter } from '../metering/meter.js';
import type { MeteringStore } from '../metering/types.js';
import { type PodLogEntry, podLogLine } from './pod-log.js';

/** The platform database's two stores, as the pod uses them. */
export interface PodStores {
  logs: LogStore;
  metering: MeteringStore;
}

/** What a pod is to the meter: one instance, counted in instance-hours while it runs. */
export interface PodInstance {
  id: string;
  app: string;
  service: string;
  version: string;
  startedAt: Date;
}

export interface PodRecorderOptions {
  /** The stores; rejects while the database cannot be reached (reconnecting() retries). */
  stores(): Promise<PodStores>;
  instance: PodInstance;
  /** `quotas.daily` of the platform config. */
  quotas: Readonly<Record<string, number>>;
  /** Text for the pod's stdout: JSON lines of entries the database did not take. */
  spill(text: string): void;
  /** A line about the database (it failed, it answers again, entries went to stdout). */
  say(severity: 'INFO' | 'WARNING', message: string): void;
  /** The daily quota the app has used up, or undefined, whenever that changes. */
  onQuota?(exhausted: string | undefined): void;
  /** Entries waiting for the database at most (default 10,000). */
  maxWaiting?: number;
  /** Their estimated size at most (default 16 MiB). */
  maxWaitingBytes?: number;
  /** Longest an entry waits before it is written; the retry interval too (default 100 ms). */
  flushMs?: number;
  /** The meter's write interval (default 1 s). */
  meterFlushMs?: number;
  /** How often the quota state is looked at for changes (default 250 ms). */
  quotaCheckMs?: number;
  /** Least time between two reports of a failing database (default 60 s). */
  reportEveryMs?: number;
  now?: () => number;
}

export const DEFAULT_MAX_WAITING = 10_000;
export const DEFAULT_MAX_WAITING_BYTES = 16 * 2 ** 20;

/** An entry's cost in memory while it waits, roughly: its texts and a fixed part. */
function entryBytes(entry: PodLogEntry): number {
  let bytes = 512 + entry.resource.length + (entry.userAgent?.length ?? 0) + (entry.error?.length ?? 0);
  for (const line of entry.lines) bytes += 64 + line.message.length;
  return bytes;
}

/**
 * A pod's request log and meter on the platform database.
 *
 * @example
 * const recorder = new PodRecorder({ stores: () => connection.get(), instance, quotas, spill, say });
 * recorder.entry(entry, true);
 * await recorder.close(5_000);
 */
export class PodRecorder {
  readonly #o: PodRecorderOptions;
  readonly #now: () => number;
  readonly #writer: LogWriter;
  readonly #meter: Meter;
  readonly #maxWaiting: number;
  readonly #maxWaitingBytes: number;
  /** Entries handed to the writer and not yet in the store, by request id. */
  readonly #waiting = new Map<string, { entry: PodLogEntry; bytes: number }>();
  #waitingBytes = 0;
  /** Entries written to stdout because the queue was full, since the last report of it. */
  #spilled = 0;
  /** The database failed and has not taken a write since. */
  #failing = false;
  #lastReport = Number.NEGATIVE_INFINITY;
  #closing = false;
  #closed = false;
  #exhausted: string | undefined;
  /** When the meter last failed to write or read (epoch ms). */
  #meterFailedAt = Number.NEGATIVE_INFINITY;
  readonly #quotaTimer: NodeJS.Timeout | undefined;

  constructor(options: PodRecorderOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#maxWaiting = options.maxWaiting ?? DEFAULT_MAX_WAITING;
    this.#maxWaitingBytes = options.maxWaitingBytes ?? DEFAULT_MAX_WAITING_BYTES;
    const stores = options.stores;
    // Once closed, a retry the writer still has scheduled finds nothing to do: what waited was
    // written to stdout by close().
    const logs: LogStore = {
      append: async (records, lines) => {
        if (this.#closed) return;
        await (await stores()).logs.append(records, lines);
      },
      query: async (query) => (await stores()).logs.query(query),
      prune: async () => 0,
      close: async () => {},
    };
    const limited = Object.keys(options.quotas).length > 0;
    const metering: MeteringStore = {
      add: async (rows) => (await stores()).metering.add(rows),
      // Without quotas the day's totals are never needed: the pod does not read them.
      day: async (day) => (limited ? (await stores()).metering.day(day) : []),
      allTime: async () => (await stores()).metering.allTime(),
    };
    this.#writer = new LogWriter(logs, {
      flushMs: options.flushMs ?? 100,
      onError: (err) => this.problem(err),
      onWritten: (records) => this.#written(records),
    });
    const { instance } = options;
    this.#meter = new Meter(metering, {
      quotas: options.quotas,
      flushIntervalMs: options.meterFlushMs ?? 1_000,
      ...(options.now ? { now: options.now } : {}),
      instances: () => [{ ...instance, state: 'running' }],
      onError: (err) => {
        this.#meterFailedAt = this.#now();
        this.problem(err, 'metering');
      },
    });
    if (limited && options.onQuota) {
      this.#quotaTimer = setInterval(() => this.#checkQuota(), options.quotaCheckMs ?? 250);
      this.#quotaTimer.unref();
    }
  }

  /**
   * A finished request: its entry to the request log, and (`metered`: it reached the app, as
   * the front end counts after routing) its counts to the meter.
   */
  entry(entry: PodLogEntry, metered: boolean): void {
    if (metered) {
      this.#meter.count({
        requestId: entry.requestId,
        method: entry.method,
        resource: entry.resource,
        status: entry.status,
        latencyMs: entry.latencyMs,
        app: this.#o.instance.app,
        service: this.#o.instance.service,
        version: this.#o.instance.version,
        bytesIn: entry.bytesIn,
        bytesOut: entry.bytesOut,
        secure: entry.secure,
        ...(entry.error === null ? {} : { error: entry.error }),
      });
      this.#checkQuota();
    }
    if (this.#closing) {
      this.#o.spill(podLogLine(entry));
      return;
    }
    const bytes = entryBytes(entry);
    if (this.#waiting.size >= this.#maxWaiting || this.#waitingBytes + bytes > this.#maxWaitingBytes) {
      if (this.#spilled++ === 0) {
        this.#o.say(
          'WARNING',
          `request log: ${this.#waiting.size} entries (${mib(this.#waitingBytes)}) wait for the platform database, the most a pod keeps; further entries go to stdout as JSON lines until it takes them`,
        );
      }
      this.#o.spill(podLogLine(entry));
      return;
    }
    this.#waiting.set(entry.requestId, { entry, bytes });
    this.#waitingBytes += bytes;
    const record: RecordWithLines = { ...entry, split: null };
    this.#writer.record(record);
  }

  /** The daily quota the pod's app has used up today (platform-wide), or undefined. */
  overQuota(): string | undefined {
    return this.#meter.overQuota(this.#o.instance.app);
  }

  /** Entries waiting for the database now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * The database failed (`what` it was doing); said at once, then at most every
   * `reportEveryMs` while it keeps failing, with what waits.
   */
  problem(err: Error, what = 'request log'): void {
    const now = this.#now();
    if (this.#failing && now - this.#lastReport < (this.#o.reportEveryMs ?? 60_000)) return;
    this.#failing = true;
    this.#lastReport = now;
    this.#o.say(
      'WARNING',
      `${what}: ${err.message}; ${this.#waiting.size} request log entries wait in memory (at most ${this.#maxWaiting} or ${mib(this.#maxWaitingBytes)}, then stdout) and counts are kept, retrying; requests are served meanwhile`,
    );
  }

  /**
   * Writes what waits and the last counts, for at most `budgetMs`; entries still not in the
   * store then go to stdout. An entry whose write was under way may end up in both.
   */
  async close(budgetMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#quotaTimer);
    const until = this.#now() + budgetMs;
    await within(this.#writer.flush(), budgetMs);
    const metering = this.#now();
    await within(this.#meter.close(), Math.max(0, until - this.#now()));
    this.#closed = true;
    if (this.#meterFailedAt >= metering) {
      this.#o.say(
        'WARNING',
        "metering: the pod's last counts could not be written to the platform database before it stopped; they are lost",
      );
    }
    const left = [...this.#waiting.values()];
    this.#waiting.clear();
    this.#waitingBytes = 0;
    if (left.length === 0) return;
    this.#o.say(
      'WARNING',
      `request log: ${left.length} entries could not be stored in the platform database before the pod stopped; they follow as JSON lines`,
    );
    this.#o.spill(left.map(({ entry }) => podLogLine(entry)).join(''));
  }

  #written(records: readonly RecordWithLines[]): void {
    if (this.#closed) return;
    for (const record of records) {
      const waiting = this.#waiting.get(record.requestId);
      if (!waiting) continue;
      this.#waiting.delete(record.requestId);
      this.#waitingBytes -= waiting.bytes;
    }
    if (this.#failing) {
      this.#failing = false;
      this.#o.say('INFO', 'request log: the platform database takes entries again');
    }
    if (this.#spilled > 0 && this.#waiting.size < this.#maxWaiting / 2) {
      this.#o.say(
        'INFO',
        `request log: ${this.#spilled} entries went to stdout while the queue was full; entries go to the platform database again`,
      );
      this.#spilled = 0;
    }
  }

  #checkQuota(): void {
    if (!this.#o.onQuota) return;
    const exhausted = this.#meter.overQuota(this.#o.instance.app);
    if (exhausted === this.#exhausted) return;
    this.#exhausted = exhausted;
    this.#o.onQuota(exhausted);
  }
}

/**
 * The value `open` resolves to, opened once: while it fails, the next attempt waits `minDelayMs`
 * and doubles up to `maxDelayMs`, and calls in between reject at once with the last error (so
 * a writer retrying every 100 ms does not open a connection every 100 ms).
 *
 * @example
 * const db = reconnecting(() => openStores(url));
 * await db.get(); // the stores, or the reason they cannot be opened now
 */
export function reconnecting<T>(
  open: () => Promise<T>,
  options: { minDelayMs?: number; maxDelayMs?: number; now?: () => number } = {},
): { get(): Promise<T>; current(): T | undefined } {
  const now = options.now ?? Date.now;
  const minDelay = options.minDelayMs ?? 1_000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  let value: T | undefined;
  let opened = false;
  let pending: Promise<T> | undefined;
  let delay = minDelay;
  let nextTry = 0;
  let lastError: Error | undefined;
  return {
    get() {
      if (opened) return Promise.resolve(value as T);
      if (pending) return pending;
      if (lastError && now() < nextTry) return Promise.reject(lastError);
      pending = open().then(
        (v) => {
          value = v;
          opened = true;
          pending = undefined;
          return v;
        },
        (err: unknown) => {
          pending = undefined;
          lastError = err instanceof Error ? err : new Error(String(err));
          nextTry = now() + delay;
          delay = Math.min(delay * 2, maxDelay);
          throw lastError;
        },
      );
      return pending;
    },
    current: () => value,
  };
}

function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * SPEC S10: counts requests, bytes and instance-hours per app, version and day, checks the
 * optional daily quotas, and persists the counts. Counting and the quota check are a few
 * operations in memory on the request path; the counts reach the store (SQLite, or PostgreSQL
 * under `serve --database`) once a second and on close, so a crash of the platform loses at
 * most the last second of counts.
 *
 * Several nodes on one database (S16): after each flush the meter reloads today's per-app
 * totals from the store, which hold every node's flushed counts, and adds its own counts not yet
 * written. A quota is thus enforced on the platform-wide total: this node's traffic at once,
 * the other nodes' within about two flush intervals (they write within one, this meter reloads
 * within the next; docs/metering.md).
 */
import type { RequestRecord } from '../shared/request-record.js';
import {
  addCounters,
  COUNTER_NAMES,
  type CounterName,
  type Counters,
  utcDay,
  zeroCounters,
} from './counters.js';
import type { MeteringStore, TrafficMeter, UsageRow } from './types.js';

/** One instance as the meter samples it for instance-hours. */
export interface InstanceSample {
  id: string;
  app: string;
  service: string;
  version: string;
  startedAt: Date;
  /** 'stopped' instances no longer count. */
  state: string;
}

export interface MeterOptions {
  /** `quotas.daily` of the platform config: counter name → limit per app and day. */
  quotas: Readonly<Record<string, number>>;
  /** The platform's instances now; sampled at every flush for instance-hours. */
  instances?: () => readonly InstanceSample[];
  flushIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * A failed write to the database (the counts are kept and written with the next flush), or a
   * failed reload of today's totals (the totals in memory stay in force until the next one).
   */
  onError?: (error: Error) => void;
}

/** What `GET /api/quotas` answers (and `hangar quotas` prints). */
export interface QuotaReport {
  day: string;
  /** The configured daily limits (`quotas.daily`); counters without a limit are absent. */
  limits: Record<string, number>;
  /** Per app: the day's totals over its versions, and the quotas it has used up. */
  apps: Array<{ app: string; usage: Counters; overQuota: CounterName[] }>;
  /** Per app version. */
  versions: Array<{ app: string; service: string; version: string; usage: Counters }>;
}

/**
 * The meter of one platform process.
 *
 * The store is only touched by one task at a time (a flush, or a report's read): a report then
 * never sees counts that are on their way to the store both in memory and stored, or in neither.
 */
export class Meter implements TrafficMeter {
  readonly #store: MeteringStore;
  readonly #options: MeterOptions;
  readonly #now: () => number;
  readonly #limits: Array<[CounterName, number]>;
  /** Counts not yet written, by `day\0app\0service\0version`. */
  #pending = new Map<string, UsageRow>();
  /**
   * Today's totals per app for the quota check: the store's at the last reload (every node's
   * flushed counts) plus this meter's counts since (`#pending` and a write under way).
   */
  #appTotals = new Map<string, Counters>();
  #today: string;
  /** Epoch ms at which `#today` ends (next 00:00 UTC): the day is not recomputed per request. */
  #todayEnds = 0;
  /** Instance id → epoch ms up to which its hours are counted. */
  #sampled = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  /** The end of the last task on the store: tasks run one after another. */
  #tail: Promise<unknown> = Promise.resolve();
  /** A flush queued behind the running task and not started: later flush() calls join it. */
  #queuedFlush: Promise<void> | undefined;

  /** Starts a first flush at once, which loads today's totals: await flush() to wait for them. */
  constructor(store: MeteringStore, options: MeterOptions) {
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#limits = Object.entries(options.quotas).filter((e): e is [CounterName, number] =>
      (COUNTER_NAMES as readonly string[]).includes(e[0]),
    );
    this.#today = utcDay(this.#now());
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1_000).unref();
    void this.flush();
  }

  /** The first daily quota `app` has used up today, or undefined. */
  overQuota(app: string): CounterName | undefined {
    if (this.#limits.length === 0) return undefined;
    this.#rollDay();
    const totals = this.#appTotals.get(app);
    if (!totals) return undefined;
    for (const [name, limit] of this.#limits) if (totals[name] >= limit) return name;
    return undefined;
  }

  /**
   * Counts a finished request: requests and wire bytes, and the secure variants for HTTPS.
   * Requests that reached no app (rejected before routing) and quota refusals are not counted:
   * they cost the app nothing, and a refusal must not use up more of the quota that refused it.
   */
  count(record: RequestRecord): void {
    const { app, service, version } = record;
    if (app === undefined || service === undefined || version === undefined) return;
    if (record.error?.startsWith('HANGAR_E_OVER_QUOTA')) return;
    const bytesIn = record.bytesIn ?? 0;
    const bytesOut = record.bytesOut;
    const delta = this.#row(app, service, version);
    const totals = this.#totals(app);
    const add = (name: CounterName, n: number) => {
      delta.counters[name] += n;
      totals[name] += n;
    };
    add('requests', 1);
    add('incoming_bytes', bytesIn);
    add('outgoing_bytes', bytesOut);
    if (record.secure) {
      add('secure_requests', 1);
      add('secure_incoming_bytes', bytesIn);
      add('secure_outgoing_bytes', bytesOut);
    }
  }

  /** Adds to any counter (socket bytes and URL Fetch use this from their services). */
  add(app: string, service: string, version: string, name: CounterName, amount: number): void {
    this.#row(app, service, version).counters[name] += amount;
    this.#totals(app)[name] += amount;
  }

  /**
   * Counters of `day` (default today): the store's (every node's written counts) with this
   * meter's not yet written counts included. Rejects when the store cannot be read.
   */
  async report(day: string = utcDay(this.#now())): Promise<QuotaReport> {
    const rows = await this.#exclusive(async () => {
      this.#rollDay();
      const stored = await this.#store.day(day);
      // Instance-hours up to this moment, not up to the last flush.
      this.#sampleInstances();
      return mergeRows(
        stored,
        [...this.#pending.values()].filter((r) => r.day === day),
      );
    });
    const apps = new Map<string, Counters>();
    for (const row of rows) {
      const usage = apps.get(row.app) ?? zeroCounters();
      addCounters(usage, row.counters);
      apps.set(row.app, usage);
    }
    return {
      day,
      limits: Object.fromEntries(this.#limits),
      apps: [...apps].map(([app, usage]) => ({
        app,
        usage,
        overQuota: this.#limits.filter(([name, limit]) => usage[name] >= limit).map(([name]) => name),
      })),
      versions: rows.map((r) => ({ app: r.app, service: r.service, version: r.version, usage: r.counters })),
    };
  }

  /** Counters summed over every stored day, per app version, pending counts included. */
  async allTime(): Promise<UsageRow[]> {
    return this.#exclusive(async () => {
      const stored = await this.#store.allTime();
      this.#sampleInstances();
      const pending = [...this.#pending.values()].map((r) => ({ ...r, day: '' }));
      return mergeRows(stored, pending);
    });
  }

  /**
   * Samples instance-hours, writes the pending counts to the store, then reloads today's
   * per-app totals from it (with the other nodes' counts). One flush at a time: a call while one
   * runs queues one more, which writes what was counted meanwhile. Never rejects: a failed write
   * keeps the counts for the next flush, and errors go to `onError`.
   */
  flush(): Promise<void> {
    this.#queuedFlush ??= this.#exclusive(async () => {
      this.#queuedFlush = undefined;
      await this.#flushNow().catch((err: Error) => this.#options.onError?.(err));
    });
    return this.#queuedFlush;
  }

  /** Stops the timer and writes the last counts. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #flushNow(): Promise<void> {
    this.#sampleInstances();
    if (this.#pending.size > 0) {
      const rows = [...this.#pending.values()];
      this.#pending = new Map();
      try {
        await this.#store.add(rows);
      } catch (err) {
        // Keep the counts for the next attempt rather than lose them (they are in #appTotals still).
        for (const row of rows) {
          const into = this.#pendingRow(row.day, row.app, row.service, row.version);
          addCounters(into.counters, row.counters);
        }
        this.#options.onError?.(err as Error);
        return;
      }
    }
    await this.#reloadToday();
  }

  /**
   * Today's totals afresh: the store's (written by every node, this one's included up to the
   * write just done) plus this meter's counts since. Both are taken in the same turn once the
   * read returns, so no count is in both or in neither.
   */
  async #reloadToday(): Promise<void> {
    const day = this.#rollDay();
    let stored: UsageRow[];
    try {
      stored = await this.#store.day(day);
    } catch (err) {
      this.#options.onError?.(err as Error);
      return;
    }
    // Midnight passed during the read: the new day's totals started from this meter's own.
    if (this.#rollDay() !== day) return;
    const totals = new Map<string, Counters>();
    const add = (row: UsageRow) => {
      let sum = totals.get(row.app);
      if (!sum) {
        sum = zeroCounters();
        totals.set(row.app, sum);
      }
      addCounters(sum, row.counters);
    };
    for (const row of stored) add(row);
    for (const row of this.#pending.values()) if (row.day === day) add(row);
    this.#appTotals = totals;
  }

  /** Runs `task` after every task before it on the store has settled. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  #row(app: string, service: string, version: string): UsageRow {
    return this.#pendingRow(this.#rollDay(), app, service, version);
  }

  #pendingRow(day: string, app: string, service: string, version: string): UsageRow {
    const key = `${day}\0${app}\0${service}\0${version}`;
    let row = this.#pending.get(key);
    if (!row) {
      row = { day, app, service, version, counters: zeroCounters() };
      this.#pending.set(key, row);
    }
    return row;
  }

  #totals(app: string): Counters {
    let totals = this.#appTotals.get(app);
    if (!totals) {
      totals = zeroCounters();
      this.#appTotals.set(app, totals);
    }
    return totals;
  }

  /** Today's date; at midnight UTC the quota totals start again from zero. */
  #rollDay(): string {
    const now = this.#now();
    if (now < this.#todayEnds) return this.#today;
    const day = utcDay(now);
    this.#todayEnds = Date.UTC(
      Number(day.slice(0, 4)),
      Number(day.slice(5, 7)) - 1,
      Number(day.slice(8, 10)) + 1,
    );
    if (day !== this.#today) {
      this.#today = day;
      this.#appTotals = new Map();
    }
    return day;
  }

  #sampleInstances(): void {
    const list = this.#options.instances?.();
    if (!list) return;
    const now = this.#now();
    const seen = new Set<string>();
    for (const instance of list) {
      if (instance.state === 'stopped') continue;
      seen.add(instance.id);
      const from = Math.max(this.#sampled.get(instance.id) ?? 0, instance.startedAt.getTime());
      this.#sampled.set(instance.id, now);
      if (now > from)
        this.add(
          instance.app,
          instance.service,
          instance.version,
          'instance_hours',
          (now - from) / 3_600_000,
        );
    }
    for (const id of this.#sampled.keys()) if (!seen.has(id)) this.#sampled.delete(id);
  }
}

/** Rows of `a` and `b` summed per (day, app, service, version). */
function mergeRows(a: readonly UsageRow[], b: readonly UsageRow[]): UsageRow[] {
  const merged = new Map<string, UsageRow>();
  for (const row of [...a, ...b]) {
    const key = `${row.day}\0${row.app}\0${row.service}\0${row.version}`;
    const prior = merged.get(key);
    if (prior) addCounters(prior.counters, row.counters);
    else merged.set(key, { ...row, counters: { ...row.counters } });
  }
  return [...merged.values()].sort((x, y) =>
    `${x.app}\0${x.service}\0${x.version}`.localeCompare(`${y.app}\0${y.service}\0${y.version}`),
  );
}

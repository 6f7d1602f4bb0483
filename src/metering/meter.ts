/**
 * SPEC S10: counts requests, bytes and instance-hours per app, version and day, checks the
 * optional daily quotas, and persists the counts. Counting is a few additions in memory on the
 * request path; the counts reach SQLite once a second and on close, so a crash of the platform
 * loses at most the last second of counts.
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
  /** A failed write to the database (the counts are kept and written with the next flush). */
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

/** The meter of one platform process. */
export class Meter implements TrafficMeter {
  readonly #store: MeteringStore;
  readonly #options: MeterOptions;
  readonly #now: () => number;
  readonly #limits: Array<[CounterName, number]>;
  /** Counts not yet written, by `day\0app\0service\0version`. */
  #pending = new Map<string, UsageRow>();
  /** Today's totals per app (stored + pending), for the quota check. */
  #appTotals = new Map<string, Counters>();
  #today: string;
  /** Epoch ms at which `#today` ends (next 00:00 UTC): the day is not recomputed per request. */
  #todayEnds = 0;
  /** Instance id → epoch ms up to which its hours are counted. */
  #sampled = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(store: MeteringStore, options: MeterOptions) {
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#limits = Object.entries(options.quotas).filter((e): e is [CounterName, number] =>
      (COUNTER_NAMES as readonly string[]).includes(e[0]),
    );
    this.#today = utcDay(this.#now());
    this.#loadToday();
    this.#timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 1_000).unref();
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

  /** Counters of `day` (default today) with the not yet written counts included. */
  report(day: string = utcDay(this.#now())): QuotaReport {
    this.#rollDay();
    // Instance-hours up to this moment, not up to the last flush.
    this.#sampleInstances();
    const rows = mergeRows(
      this.#store.day(day),
      [...this.#pending.values()].filter((r) => r.day === day),
    );
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
  allTime(): UsageRow[] {
    this.#sampleInstances();
    const pending = [...this.#pending.values()].map((r) => ({ ...r, day: '' }));
    return mergeRows(this.#store.allTime(), pending);
  }

  /** Samples instance-hours and writes the pending counts to the database. */
  flush(): void {
    this.#sampleInstances();
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    try {
      this.#store.add(rows);
    } catch (err) {
      // Keep the counts for the next attempt rather than lose them.
      for (const row of rows)
        addCounters(this.#row(row.app, row.service, row.version, row.day).counters, row.counters);
      this.#options.onError?.(err as Error);
    }
  }

  /** Final flush; stops the timer. */
  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }

  #row(app: string, service: string, version: string, day = this.#rollDay()): UsageRow {
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

  #loadToday(): void {
    for (const row of this.#store.day(this.#today)) addCounters(this.#totals(row.app), row.counters);
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

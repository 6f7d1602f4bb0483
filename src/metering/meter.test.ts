import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../shared/database.js';
import type { RequestRecord } from '../shared/request-record.js';
import { zeroCounters } from './counters.js';
import { type InstanceSample, Meter, type MeterOptions } from './meter.js';
import { prometheusText } from './prometheus.js';
import { SqliteMeteringStore } from './sqlite-store.js';
import type { MeteringStore, UsageRow } from './types.js';

const day1 = Date.UTC(2026, 10, 21, 12, 0, 0);
const day2 = Date.UTC(2026, 10, 22, 0, 0, 1);

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  requestId: 'r',
  method: 'GET',
  resource: '/',
  status: 200,
  latencyMs: 1,
  app: 'app',
  service: 'default',
  version: 'v1',
  bytesIn: 100,
  bytesOut: 1000,
  ...over,
});

/**
 * A store in memory whose writes and reads wait at a gate the test opens, to interleave counting,
 * flushes and reports deterministically.
 */
class GatedStore implements MeteringStore {
  rows = new Map<string, UsageRow>();
  adds: UsageRow[][] = [];
  /** While set, add() and day() wait for it. */
  gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  close() {
    this.gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }
  open() {
    this.#open?.();
    this.gate = undefined;
  }
  async add(rows: readonly UsageRow[]): Promise<void> {
    this.adds.push(rows.map((r) => ({ ...r, counters: { ...r.counters } })));
    await this.gate;
    for (const row of rows) {
      const key = `${row.day}/${row.app}/${row.service}/${row.version}`;
      const prior = this.rows.get(key);
      if (prior)
        for (const [name, n] of Object.entries(row.counters)) prior.counters[name as 'requests'] += n;
      else this.rows.set(key, { ...row, counters: { ...row.counters } });
    }
  }
  async day(day: string): Promise<UsageRow[]> {
    await this.gate;
    return [...this.rows.values()]
      .filter((r) => r.day === day)
      .map((r) => ({ ...r, counters: { ...r.counters } }));
  }
  async allTime(): Promise<UsageRow[]> {
    return [];
  }
}

/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Meter (S10)', () => {
  let dir: string;
  let db: Db;
  let now: number;
  const meters: Meter[] = [];
  const meter = (options: Partial<MeterOptions> = {}) => {
    const m = new Meter(new SqliteMeteringStore(db), {
      quotas: {},
      now: () => now,
      flushIntervalMs: 60_000,
      ...options,
    });
    meters.push(m);
    return m;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-meter-'));
    db = openDatabase(dir);
    now = day1;
  });
  afterEach(async () => {
    for (const m of meters.splice(0)) await m.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts requests and bytes, secure ones also separately, per app version', async () => {
    const m = meter();
    m.count(record());
    m.count(record({ secure: true, bytesIn: 7, bytesOut: 9 }));
    m.count(record({ version: 'v2' }));
    const report = await m.report();
    expect(report.day).toBe('2026-11-21');
    expect(report.apps).toEqual([
      {
        app: 'app',
        overQuota: [],
        usage: expect.objectContaining({
          requests: 3,
          secure_requests: 1,
          incoming_bytes: 207,
          outgoing_bytes: 2009,
          secure_incoming_bytes: 7,
          secure_outgoing_bytes: 9,
        }),
      },
    ]);
    expect(report.versions.map((v) => [v.version, v.usage.requests])).toEqual([
      ['v1', 2],
      ['v2', 1],
    ]);
  });

  it('does not count requests that reached no app, nor quota refusals', async () => {
    const m = meter();
    m.count(record({ app: undefined, service: undefined, version: undefined }));
    m.count(record({ status: 503, error: 'HANGAR_E_OVER_QUOTA: used up' }));
    expect((await m.report()).apps).toEqual([]);
  });

  it('persists on flush; a new meter on the same database continues the day', async () => {
    const m = meter();
    m.count(record());
    await m.flush();
    const again = meter();
    again.count(record());
    expect((await again.report()).apps[0]!.usage.requests).toBe(2);
    await again.close();
    const row = db.prepare('SELECT requests FROM metering_daily').get() as { requests: number };
    expect(row.requests).toBe(2);
  });

  it('refuses once a daily quota is used up, per app, and starts afresh the next UTC day', async () => {
    const m = meter({ quotas: { requests: 2, outgoing_bytes: 5000 } });
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record());
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record());
    expect(m.overQuota('app')).toBe('requests');
    expect(m.overQuota('other')).toBeUndefined();
    expect((await m.report()).apps[0]!.overQuota).toEqual(['requests']);
    now = day2;
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record({ bytesOut: 6000 }));
    expect(m.overQuota('app')).toBe('outgoing_bytes');
    expect((await m.report('2026-11-21')).apps[0]!.usage.requests).toBe(2);
  });

  it('samples instance-hours from the pool, from each instance’s start, not once stopped', async () => {
    const instances: InstanceSample[] = [
      {
        id: 'a',
        app: 'app',
        service: 'default',
        version: 'v1',
        startedAt: new Date(day1 - 1_800_000),
        state: 'ready',
      },
      { id: 'b', app: 'app', service: 'default', version: 'v1', startedAt: new Date(day1), state: 'ready' },
    ];
    const m = meter({ instances: () => instances });
    await m.flush(); // a: 30 min so far; b: nothing yet
    now = day1 + 3_600_000;
    instances[1]!.state = 'stopped';
    await m.flush(); // a: one more hour; b stopped
    expect((await m.report()).apps[0]!.usage.instance_hours).toBeCloseTo(1.5, 9);
  });

  it('keeps counts it could not write and writes them with the next flush', async () => {
    const errors: Error[] = [];
    const m = meter({ onError: (e) => errors.push(e) });
    await m.flush();
    m.count(record());
    db.exec('ALTER TABLE metering_daily RENAME TO gone');
    await m.flush();
    expect(errors).toHaveLength(1);
    db.exec('ALTER TABLE gone RENAME TO metering_daily');
    await m.flush();
    expect((db.prepare('SELECT requests FROM metering_daily').get() as { requests: number }).requests).toBe(
      1,
    );
  });

  it('exposes Prometheus text: monotonic totals over all days, quota gauges', async () => {
    const m = meter({ quotas: { requests: 10 } });
    m.count(record());
    await m.flush();
    now = day2;
    m.count(record({ app: 'we"ird' }));
    const text = await prometheusText(m);
    expect(text).toContain('hangar_requests_total{app="app",service="default",version="v1"} 1');
    expect(text).toContain('hangar_requests_total{app="we\\"ird",service="default",version="v1"} 1');
    expect(text).toContain('hangar_quota_limit{quota="requests"} 10');
    expect(text).toContain('hangar_quota_usage{app="we\\"ird",quota="requests"} 1');
    expect(text).not.toContain('hangar_quota_usage{app="app"');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('writes one flush at a time: calls during a write join one queued flush with what was counted meanwhile', async () => {
    const store = new GatedStore();
    const m = new Meter(store, { quotas: { requests: 3 }, now: () => now, flushIntervalMs: 60_000 });
    meters.push(m);
    await m.flush();
    m.count(record());
    store.close();
    const first = m.flush();
    await settle();
    expect(store.adds).toHaveLength(1);
    // Counted while the first write is under way: in the quota check at once, written next.
    m.count(record());
    m.count(record());
    expect(m.overQuota('app')).toBe('requests');
    const second = m.flush();
    expect(m.flush()).toBe(second);
    await settle();
    expect(store.adds).toHaveLength(1);
    store.open();
    await Promise.all([first, second]);
    expect(store.adds.map((rows) => rows.map((r) => r.counters.requests))).toEqual([[1], [2]]);
    expect((await store.day('2026-11-21'))[0]!.counters.requests).toBe(3);
    expect(m.overQuota('app')).toBe('requests');
  });

  it('a report waits for a write under way, so it counts what is being written once', async () => {
    const store = new GatedStore();
    const m = new Meter(store, { quotas: {}, now: () => now, flushIntervalMs: 60_000 });
    meters.push(m);
    await m.flush();
    m.count(record());
    store.close();
    const flushed = m.flush();
    await settle();
    const report = m.report();
    m.count(record());
    store.open();
    await flushed;
    expect((await report).apps[0]!.usage.requests).toBe(2);
  });

  it('reloads today’s totals from the store after each flush, with counts made during the reload kept', async () => {
    const store = new GatedStore();
    const m = new Meter(store, { quotas: { requests: 5 }, now: () => now, flushIntervalMs: 60_000 });
    meters.push(m);
    await m.flush();
    m.count(record());
    // Another node's flush lands: 3 requests of the same app today, 9 yesterday (not today's).
    const other = (day: string, requests: number): UsageRow => ({
      day,
      app: 'app',
      service: 'default',
      version: 'v9',
      counters: { ...zeroCounters(), requests },
    });
    await store.add([other('2026-11-21', 3), other('2026-11-20', 9)]);
    expect(m.overQuota('app')).toBeUndefined();
    store.close();
    const flushed = m.flush();
    await settle();
    m.count(record()); // during the write and reload: not stored, so added on top of the reload
    store.open();
    await flushed;
    // 3 (other node) + 1 (flushed) + 1 (pending) = 5
    expect(m.overQuota('app')).toBe('requests');
    expect((await m.report()).apps[0]!.usage.requests).toBe(5);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../shared/database.js';
import type { RequestRecord } from '../shared/request-record.js';
import { type InstanceSample, Meter, type MeterOptions } from './meter.js';
import { prometheusText } from './prometheus.js';
import { SqliteMeteringStore } from './sqlite-store.js';

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
  afterEach(() => {
    for (const m of meters.splice(0)) m.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts requests and bytes, secure ones also separately, per app version', () => {
    const m = meter();
    m.count(record());
    m.count(record({ secure: true, bytesIn: 7, bytesOut: 9 }));
    m.count(record({ version: 'v2' }));
    const report = m.report();
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

  it('does not count requests that reached no app, nor quota refusals', () => {
    const m = meter();
    m.count(record({ app: undefined, service: undefined, version: undefined }));
    m.count(record({ status: 503, error: 'HANGAR_E_OVER_QUOTA: used up' }));
    expect(m.report().apps).toEqual([]);
  });

  it('persists on flush; a new meter on the same database continues the day', () => {
    const m = meter();
    m.count(record());
    m.flush();
    const again = meter();
    again.count(record());
    expect(again.report().apps[0]!.usage.requests).toBe(2);
    again.close();
    const row = db.prepare('SELECT requests FROM metering_daily').get() as { requests: number };
    expect(row.requests).toBe(2);
  });

  it('refuses once a daily quota is used up, per app, and starts afresh the next UTC day', () => {
    const m = meter({ quotas: { requests: 2, outgoing_bytes: 5000 } });
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record());
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record());
    expect(m.overQuota('app')).toBe('requests');
    expect(m.overQuota('other')).toBeUndefined();
    expect(m.report().apps[0]!.overQuota).toEqual(['requests']);
    now = day2;
    expect(m.overQuota('app')).toBeUndefined();
    m.count(record({ bytesOut: 6000 }));
    expect(m.overQuota('app')).toBe('outgoing_bytes');
    expect(m.report('2026-11-21').apps[0]!.usage.requests).toBe(2);
  });

  it('samples instance-hours from the pool, from each instance’s start, not once stopped', () => {
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
    m.flush(); // a: 30 min so far; b: nothing yet
    now = day1 + 3_600_000;
    instances[1]!.state = 'stopped';
    m.flush(); // a: one more hour; b stopped
    expect(m.report().apps[0]!.usage.instance_hours).toBeCloseTo(1.5, 9);
  });

  it('keeps counts it could not write and writes them with the next flush', () => {
    const errors: Error[] = [];
    const m = meter({ onError: (e) => errors.push(e) });
    m.count(record());
    db.exec('ALTER TABLE metering_daily RENAME TO gone');
    m.flush();
    expect(errors).toHaveLength(1);
    db.exec('ALTER TABLE gone RENAME TO metering_daily');
    m.flush();
    expect((db.prepare('SELECT requests FROM metering_daily').get() as { requests: number }).requests).toBe(
      1,
    );
  });

  it('exposes Prometheus text: monotonic totals over all days, quota gauges', () => {
    const m = meter({ quotas: { requests: 10 } });
    m.count(record());
    m.flush();
    now = day2;
    m.count(record({ app: 'we"ird' }));
    const text = prometheusText(m);
    expect(text).toContain('hangar_requests_total{app="app",service="default",version="v1"} 1');
    expect(text).toContain('hangar_requests_total{app="we\\"ird",service="default",version="v1"} 1');
    expect(text).toContain('hangar_quota_limit{quota="requests"} 10');
    expect(text).toContain('hangar_quota_usage{app="we\\"ird",quota="requests"} 1');
    expect(text).not.toContain('hangar_quota_usage{app="app"');
    expect(text.endsWith('\n')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../shared/request-record.js';
import type { InstanceSample } from './meter.js';
import {
  bucketMidpoint,
  LATENCY_BUCKETS,
  latencyBucket,
  type SeriesPoints,
  TimeSeries,
  timeSeriesQuery,
} from './time-series.js';

/** An epoch second divisible by 1, 3 and 12, so step boundaries fall on it in every range. */
const T0 = 1_796_000_004;

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

const instance = (over: Partial<InstanceSample> = {}): InstanceSample => ({
  id: 'i1',
  app: 'app',
  service: 'default',
  version: 'v1',
  startedAt: new Date(0),
  state: 'ready',
  ...over,
});

/** A TimeSeries on a hand-moved clock, starting at T0 + 0.5 s. */
function setup() {
  let ms = T0 * 1000 + 500;
  const ts = new TimeSeries({ now: () => ms });
  return {
    ts,
    at: (second: number) => {
      ms = second * 1000 + 500;
    },
    second: () => Math.floor(ms / 1000),
  };
}

/** The point of `series` whose step holds epoch second `second`. */
function pointAt(series: SeriesPoints, second: number, step: number): number {
  const k = series.t.indexOf(second - (second % step));
  expect(k).toBeGreaterThanOrEqual(0);
  return k;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('TimeSeries', () => {
  it('answers 300 points, step = range / 300, t aligned to the step and oldest first', () => {
    expect(T0 % 12).toBe(0);
    const { ts, at } = setup();
    ts.record(record());
    for (const [range, step] of [
      [300, 1],
      [900, 3],
      [3600, 12],
    ] as const) {
      at(T0 + 7);
      const report = ts.query({ rangeSeconds: range });
      expect(report.now).toBe(T0 + 7);
      expect(report.step).toBe(step);
      const s = report.series[0]!;
      expect(s.t).toHaveLength(300);
      for (const key of ['requests', 'p50', 'p95', 'p99', 'instances', 'bytesOut', 'socketBytes'] as const)
        expect(s[key]).toHaveLength(300);
      expect(s.t.every((t, k) => t % step === 0 && (k === 0 || t - s.t[k - 1]! === step))).toBe(true);
      // The newest step is the running one, holding the current second.
      expect(s.t.at(-1)).toBe(T0 + 7 - ((T0 + 7) % step));
      expect(T0 + 7 - s.t[0]!).toBeLessThan(3600);
    }
  });

  it('counts requests per second, averaged over each step', () => {
    const { ts, at } = setup();
    // 6 requests in T0, 3 in T0+1, 3 in T0+13.
    for (let i = 0; i < 6; i++) ts.record(record());
    at(T0 + 1);
    for (let i = 0; i < 3; i++) ts.record(record());
    at(T0 + 13);
    for (let i = 0; i < 3; i++) ts.record(record());
    at(T0 + 30);

    const fine = ts.query({ rangeSeconds: 300 }).series[0]!;
    expect(fine.requests[pointAt(fine, T0, 1)]).toBe(6);
    expect(fine.requests[pointAt(fine, T0 + 1, 1)]).toBe(3);
    expect(fine.requests[pointAt(fine, T0 + 2, 1)]).toBe(0);
    expect(sum(fine.requests)).toBe(12);

    const mid = ts.query({ rangeSeconds: 900 }).series[0]!;
    expect(mid.requests[pointAt(mid, T0, 3)]).toBe(3); // (6 + 3 + 0) / 3 s
    expect(mid.requests[pointAt(mid, T0 + 13, 3)]).toBe(1); // 3 / 3 s
    expect(sum(mid.requests) * 3).toBe(12);

    const hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(hour.requests[pointAt(hour, T0, 12)]).toBe(0.75); // 9 / 12 s
    expect(hour.requests[pointAt(hour, T0 + 13, 12)]).toBe(0.25); // 3 / 12 s
    expect(sum(hour.requests) * 12).toBe(12);
  });

  it('averages the running step over its seconds so far', () => {
    const { ts, at } = setup();
    at(T0 + 1);
    for (let i = 0; i < 4; i++) ts.record(record());
    // Seconds T0 .. T0+1 of the 12-second step have begun: 4 requests / 2 s.
    const hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(hour.requests.at(-1)).toBe(2);
  });

  it('percentiles are within one bucket of the exact figures, null without requests', () => {
    const { ts, at } = setup();
    // 1..1000 ms: exact p50 500, p95 950, p99 990 (nearest rank).
    for (let ms = 1; ms <= 1000; ms++) ts.record(record({ latencyMs: ms }));
    // One second with a single slow request, one with sub-0.1 ms ones.
    at(T0 + 1);
    ts.record(record({ latencyMs: 45_000 }));
    at(T0 + 2);
    ts.record(record({ latencyMs: 0.02 }));
    ts.record(record({ latencyMs: 0.05 }));
    at(T0 + 3);
    const s = ts.query({ rangeSeconds: 300 }).series[0]!;
    const within = (got: number | null | undefined, exact: number) => {
      expect(got).toBeTypeOf('number');
      // The geometric midpoint: at most √1.25 (≈ 11.8 %) off, i.e. within one bucket.
      expect(got! / exact).toBeGreaterThanOrEqual(1 / Math.sqrt(1.25) - 1e-3);
      expect(got! / exact).toBeLessThanOrEqual(Math.sqrt(1.25) + 1e-3);
    };
    const k = pointAt(s, T0, 1);
    within(s.p50[k], 500);
    within(s.p95[k], 950);
    within(s.p99[k], 990);
    const slow = pointAt(s, T0 + 1, 1);
    within(s.p50[slow], 45_000);
    within(s.p99[slow], 45_000);
    // Up to 0.1 ms: bucket 0, reported as its midpoint.
    expect(s.p50[pointAt(s, T0 + 2, 1)]).toBe(0.089);
    expect(s.p50[pointAt(s, T0 + 3, 1)]).toBeNull();
    expect(s.p95[pointAt(s, T0 - 1, 1)]).toBeNull();

    // Over a 3-second step the step's requests are pooled: 1003 requests, p99 still ~990 ms.
    const mid = ts.query({ rangeSeconds: 900 }).series[0]!;
    within(mid.p99[pointAt(mid, T0, 3)], 990);
  });

  it('puts each latency in the bucket whose bounds hold it; 2 minutes is covered', () => {
    expect(LATENCY_BUCKETS).toBe(64);
    const upper = (i: number) => 0.1 * 1.25 ** i;
    for (const ms of [0.1, 0.1001, 0.125, 0.13, 1, 3.3, 17, 250, 999.9, 1000, 60_000, 119_999, 120_000]) {
      const i = latencyBucket(ms);
      expect(ms).toBeLessThanOrEqual(upper(i) * (1 + 1e-12));
      if (i > 0) expect(ms).toBeGreaterThan(upper(i - 1) * (1 - 1e-12));
    }
    expect(upper(LATENCY_BUCKETS - 1)).toBeGreaterThanOrEqual(120_000);
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(10 * 60_000)).toBe(LATENCY_BUCKETS - 1);
    expect(bucketMidpoint(1)).toBeCloseTo(0.125 / Math.sqrt(1.25), 12);
  });

  it('classifies 4xx, 5xx and platform errors, and counts loading requests and bytes', () => {
    const { ts, at } = setup();
    ts.record(record({ status: 404 }));
    ts.record(record({ status: 499, error: 'HANGAR_E_CLIENT_CLOSED: gone' }));
    ts.record(record({ status: 500 }));
    ts.record(record({ status: 503, error: 'HANGAR_E_PENDING_TIMEOUT: no instance' }));
    ts.record(record({ status: 500, error: 'HANGAR_E_DEADLINE_EXCEEDED: 60 s' }));
    ts.record(record({ status: 302 }));
    ts.record(record({ status: 200, loadingRequest: true, bytesIn: 10, bytesOut: 20 }));
    ts.record(record({ status: 200, loadingRequest: false, bytesIn: undefined, bytesOut: 5 }));
    at(T0 + 1);
    const s = ts.query({ rangeSeconds: 300 }).series[0]!;
    const k = pointAt(s, T0, 1);
    expect(s.requests[k]).toBe(8);
    expect(s.errors4xx[k]).toBe(2);
    expect(s.errors5xx[k]).toBe(3);
    expect(s.errorsPlatform[k]).toBe(3);
    expect(s.loading[k]).toBe(1);
    expect(s.bytesIn[k]).toBe(6 * 100 + 10);
    expect(s.bytesOut[k]).toBe(6 * 1000 + 20 + 5);
    expect(s.socketBytes[k]).toBe(0);
  });

  it('ignores requests that reached no app version', () => {
    const { ts } = setup();
    ts.record(record({ app: undefined }));
    ts.record(record({ service: undefined }));
    ts.record(record({ version: undefined }));
    expect(ts.size).toBe(0);
    expect(ts.query({ rangeSeconds: 300 }).series).toEqual([]);
  });

  it('adds socket bytes, which also start a series', () => {
    const { ts, at } = setup();
    ts.addSocketBytes('app', 'default', 'v1', 300);
    ts.addSocketBytes('app', 'default', 'v1', 200);
    ts.addSocketBytes('app', 'default', 'v1', 0);
    at(T0 + 3);
    ts.addSocketBytes('app', 'default', 'v1', 900);
    const s = ts.query({ rangeSeconds: 900 }).series[0]!;
    expect(s.socketBytes[pointAt(s, T0, 3)]).toBeCloseTo(500 / 3, 3);
    expect(s.socketBytes[pointAt(s, T0 + 3, 3)]).toBe(900); // the running step: 1 s so far
    expect(s.requests[pointAt(s, T0, 3)]).toBe(0);
    expect(s.p50[pointAt(s, T0, 3)]).toBeNull();
  });

  it('samples instances not stopped per version; a missed second shows the last sample', () => {
    const { ts, at } = setup();
    ts.record(record());
    ts.record(record({ version: 'v2' }));
    const two = [instance(), instance({ id: 'i2' }), instance({ id: 'i3', state: 'stopped' })];
    ts.sampleInstances([...two, instance({ id: 'i4', version: 'v2' })]);
    at(T0 + 1);
    ts.sampleInstances([instance(), instance({ id: 'i5', version: 'v3' })]);
    // T0+2 not sampled (the timer ran late); T0+3 sampled; T0+4 (now) not yet.
    at(T0 + 3);
    ts.sampleInstances([instance(), instance({ id: 'i2' }), instance({ id: 'i6' })]);
    at(T0 + 4);
    const report = ts.query({ rangeSeconds: 300 });
    // v3 had instances but no traffic: no series.
    expect(report.series.map((s) => s.version)).toEqual(['v1', 'v2']);
    const [v1, v2] = report.series as [SeriesPoints, SeriesPoints];
    const from = pointAt(v1, T0, 1);
    expect(v1.instances.slice(from)).toEqual([2, 1, 1, 3, 3]);
    expect(v2.instances.slice(from)).toEqual([1, 0, 0, 0, 0]);
    expect(v1.instances[from - 1]).toBe(0);
    // Over a 12-second step: the mean of its samples.
    const hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(hour.instances[pointAt(hour, T0, 12)]).toBe(2); // (2 + 1 + 3) / 3
  });

  it('sampling alone keeps no series alive', () => {
    const { ts, at } = setup();
    ts.record(record());
    for (let s = 1; s <= 3600; s += 1) {
      at(T0 + s);
      ts.sampleInstances([instance()]);
    }
    expect(ts.size).toBe(0);
  });

  it('wraps after an hour: old seconds are gone, the series keeps its arrays', () => {
    const { ts, at } = setup();
    for (let i = 0; i < 5; i++) ts.record(record({ latencyMs: 800, status: 500 }));
    ts.addSocketBytes('app', 'default', 'v1', 1000);
    ts.sampleInstances([instance()]);
    // 3,599 s later the second is still in the hour's window, as the oldest point's second.
    at(T0 + 3599);
    let hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(hour.t[0]).toBeLessThanOrEqual(T0);
    expect(sum(hour.requests) * 12).toBeCloseTo(5, 9);
    // Keep the series active, then write the same slot an hour later.
    ts.record(record({ latencyMs: 2 }));
    at(T0 + 3600);
    ts.record(record({ latencyMs: 2 }));
    hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(ts.size).toBe(1);
    expect(hour.t[0]).toBeGreaterThan(T0);
    const fine = ts.query({ rangeSeconds: 300 }).series[0]!;
    const k = pointAt(fine, T0 + 3600, 1);
    // The slot of T0 now holds T0+3600: its old requests, errors, latencies, bytes and sample are gone.
    expect(fine.requests[k]).toBe(1);
    expect(fine.errors5xx[k]).toBe(0);
    expect(fine.p99[k]).toBeLessThan(3);
    expect(fine.socketBytes[k]).toBe(0);
    expect(fine.bytesOut[k]).toBe(1000);
    expect(fine.instances[k]).toBe(0);
    // Two hours of traffic every second: still one series, and the hour holds one hour.
    for (let s = 3601; s <= 7200; s++) {
      at(T0 + s);
      ts.record(record());
    }
    expect(ts.size).toBe(1);
    hour = ts.query({ rangeSeconds: 3600 }).series[0]!;
    expect(sum(hour.requests.slice(0, -1))).toBeCloseTo(299, 6);
  });

  it('drops a series after an hour without traffic', () => {
    const { ts, at } = setup();
    ts.record(record());
    ts.record(record({ version: 'v2' }));
    at(T0 + 1800);
    ts.addSocketBytes('app', 'default', 'v2', 10);
    at(T0 + 3599);
    expect(ts.query({ rangeSeconds: 3600 }).series).toHaveLength(2);
    at(T0 + 3600);
    expect(ts.query({ rangeSeconds: 3600 }).series.map((s) => s.version)).toEqual(['v2']);
    expect(ts.size).toBe(1);
    at(T0 + 1800 + 3600);
    ts.sampleInstances([]);
    expect(ts.size).toBe(0);
    // A new request starts it afresh.
    ts.record(record());
    const s = ts.query({ rangeSeconds: 300 }).series[0]!;
    expect(sum(s.requests)).toBe(1);
  });

  it('filters by app and orders by app, service, version', () => {
    const { ts } = setup();
    ts.record(record({ app: 'b' }));
    ts.record(record({ app: 'a', service: 'worker' }));
    ts.record(record({ app: 'a', version: 'v2' }));
    ts.record(record({ app: 'a', version: 'v1' }));
    const all = ts.query({ rangeSeconds: 300 }).series.map((s) => `${s.app}/${s.service}/${s.version}`);
    expect(all).toEqual(['a/default/v1', 'a/default/v2', 'a/worker/v1', 'b/default/v1']);
    expect(ts.query({ rangeSeconds: 300, app: 'b' }).series.map((s) => s.app)).toEqual(['b']);
    expect(ts.query({ rangeSeconds: 300, app: 'c' }).series).toEqual([]);
  });

  it('takes the time to answer for from the query', () => {
    const { ts, second } = setup();
    ts.record(record());
    const report = ts.query({ rangeSeconds: 300, now: (second() + 10) * 1000 });
    expect(report.now).toBe(T0 + 10);
    expect(report.series[0]!.requests[pointAt(report.series[0]!, T0, 1)]).toBe(1);
  });

  it('refuses ranges other than 300, 900 and 3600 with USAGE, naming them', () => {
    const { ts } = setup();
    for (const range of [0, 60, 301, 1800, 7200, Number.NaN]) {
      expect(() => ts.query({ rangeSeconds: range })).toThrow(
        expect.objectContaining({
          code: 'HANGAR_E_USAGE',
          status: 400,
          message: expect.stringContaining('300, 900 or 3600'),
        }),
      );
    }
  });

  it('reads range and app from the API query string, default range 900', () => {
    expect(timeSeriesQuery(new URLSearchParams(''))).toEqual({ rangeSeconds: 900 });
    expect(timeSeriesQuery(new URLSearchParams('range=300&app=hello'))).toEqual({
      rangeSeconds: 300,
      app: 'hello',
    });
    expect(() => timeSeriesQuery(new URLSearchParams('range=5m'))).toThrow(
      expect.objectContaining({ code: 'HANGAR_E_USAGE', message: expect.stringContaining("not '5m'") }),
    );
    // A well-formed number is left to query() to judge.
    expect(timeSeriesQuery(new URLSearchParams('range=60'))).toEqual({ rangeSeconds: 60 });
  });
});

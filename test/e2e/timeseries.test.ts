/**
 * The console's metrics (docs/console.md "The metrics behind the charts") against a real
 * `hangar dev` of examples/hello: requests made over HTTP show up in `GET /api/timeseries`
 * with their rate, latency, bytes and the sampled instance; a bad range is a 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeriesPoints, TimeSeriesReport } from '../../src/metering/time-series.js';
import { adminGet, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';

const REQUESTS = 50;

/** Polls the 5-minute range until `done` holds for hello's series, at most 10 s. */
async function seriesWhen(dev: DevServer, done: (s: SeriesPoints) => boolean): Promise<SeriesPoints> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const report = await adminGet<TimeSeriesReport>(dev, '/api/timeseries?range=300');
    const series = report.series.find((s) => s.app === 'hello' && s.service === 'default');
    if ((series && done(series)) || Date.now() > deadline) {
      expect(report.step).toBe(1);
      expect(series, JSON.stringify(report.series.map((s) => [s.app, s.service, s.version]))).toBeDefined();
      return series!;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const total = (s: SeriesPoints, step: number) => s.requests.reduce((sum, rate) => sum + rate * step, 0);

describe('GET /api/timeseries under hangar dev', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([`${repoRoot}/examples/hello`], ['--no-watch']);
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${dev.url}/?n=${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
  });
  afterAll(() => dev.stop());

  it('shows the requests made, their latency, bytes and the instance that served them', async () => {
    // Counts land as each response finishes; the instance sample once a second.
    const series = await seriesWhen(
      dev,
      (s) => total(s, 1) >= REQUESTS - 0.5 && Math.max(...s.instances) >= 1,
    );
    expect(series.t).toHaveLength(300);
    // Each request once: no other traffic reached the app, and none is counted twice.
    expect(total(series, 1)).toBeCloseTo(REQUESTS, 9);
    const p50s = series.p50.filter((p): p is number => p !== null);
    expect(p50s.length).toBeGreaterThan(0);
    for (const p of p50s) expect(p).toBeGreaterThan(0);
    expect(Math.max(...series.instances)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...series.bytesOut)).toBeGreaterThan(0);
    expect(Math.max(...series.bytesIn)).toBeGreaterThan(0);
    expect(Math.max(...series.errors5xx, ...series.errorsPlatform)).toBe(0);
  });

  it('filters by app and defaults to the 15-minute range', async () => {
    const other = await adminGet<TimeSeriesReport>(dev, '/api/timeseries?app=nope');
    expect(other.step).toBe(3);
    expect(other.series).toEqual([]);
    expect(typeof other.now).toBe('number');
  });

  it('answers 400 naming the allowed ranges for any other range', async () => {
    for (const range of ['60', 'abc']) {
      const res = await fetch(`${dev.adminUrl}/api/timeseries?range=${range}`, {
        headers: { authorization: `Bearer ${dev.token}` },
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string };
      expect(body.error).toContain('300, 900 or 3600');
    }
    const unauthorised = await fetch(`${dev.adminUrl}/api/timeseries?range=300`);
    expect(unauthorised.status).toBe(401);
  });
});

import { describe, expect, it } from 'vitest';
import { CHARTS, chartData, linesKey } from './chart-data.js';
import type { TimeSeries } from './types.js';

function series(version: string, t: number[], requests: Array<number | null>): TimeSeries {
  const zeros = t.map(() => 0);
  return {
    app: 'shop',
    service: 'default',
    version,
    t,
    requests,
    p50: t.map(() => null),
    p95: t.map(() => null),
    p99: t.map(() => null),
    errors4xx: zeros,
    errors5xx: zeros,
    errorsPlatform: zeros,
    instances: zeros,
    loading: zeros,
    bytesIn: zeros,
    bytesOut: zeros,
    socketBytes: zeros,
  };
}

const spec = (name: string) => CHARTS.find((c) => c.name === name)!;

describe('chartData', () => {
  it('puts the versions on the union of their steps, a gap where one has no step', () => {
    const data = chartData(spec('requests'), [
      series('v1', [10, 11, 12], [1, 0, 2]),
      series('v2', [11, 12, 13], [5, 6, 7]),
    ]);
    expect(data.columns).toEqual([
      [10, 11, 12, 13],
      [1, 0, 2, null],
      [null, 5, 6, 7],
    ]);
    expect(data.lines.map((l) => l.label)).toEqual(['shop/default/v1', 'shop/default/v2']);
    expect(data.points).toBe(3);
    expect(data.nonZero).toBe(2);
  });

  it('draws one line per metric of the chart and version, labelled with the metric', () => {
    const s = series('v1', [1, 2], [1, 1]);
    s.p50 = [null, 3];
    const data = chartData(spec('latency'), [s]);
    expect(data.lines.map((l) => l.label)).toEqual([
      'shop/default/v1 p50',
      'shop/default/v1 p95',
      'shop/default/v1 p99',
    ]);
    // data-points counts the first line's values: a step without requests has no latency.
    expect(data.points).toBe(1);
  });

  it('has no points and no lines without series, and a key that changes with the lines', () => {
    const empty = chartData(spec('requests'), []);
    expect(empty).toMatchObject({ lines: [], points: 0, nonZero: 0 });
    const one = chartData(spec('requests'), [series('v1', [1], [1])]);
    const two = chartData(spec('requests'), [series('v1', [1], [1]), series('v2', [1], [1])]);
    expect(linesKey(one.lines)).not.toBe(linesKey(two.lines));
    expect(linesKey(one.lines)).toBe(linesKey(chartData(spec('requests'), [series('v1', [2], [3])]).lines));
  });
});

/**
 * What each dashboard chart draws, and `GET /api/timeseries` turned into uPlot's aligned
 * columns. Pure: the dashboard page and the chart component only pass the result along.
 */
import { formatBytes, formatMs, formatNumber } from './format.js';
import type { Metric, TimeSeries } from './types.js';

export interface ChartLine {
  metric: Metric;
  /** Added to the version's label when a chart draws several lines per version (` p95`). */
  suffix: string;
  dash?: number[];
}

export interface ChartSpec {
  name: string;
  title: string;
  /** The y axis' figures. */
  format: (value: number) => string;
  lines: ChartLine[];
}

const perSecond = (value: number) => `${formatNumber(value)}/s`;
const bytesPerSecond = (value: number) => `${formatBytes(value)}/s`;

/** The six charts of the dashboard (docs/console.md), in page order. */
export const CHARTS: ChartSpec[] = [
  {
    name: 'requests',
    title: 'Requests per second',
    format: perSecond,
    lines: [{ metric: 'requests', suffix: '' }],
  },
  {
    name: 'latency',
    title: 'Latency (p50, p95, p99)',
    format: formatMs,
    lines: [
      { metric: 'p50', suffix: ' p50' },
      { metric: 'p95', suffix: ' p95', dash: [6, 3] },
      { metric: 'p99', suffix: ' p99', dash: [2, 3] },
    ],
  },
  {
    name: 'errors',
    title: 'Errors per second (4xx, 5xx, platform)',
    format: perSecond,
    lines: [
      { metric: 'errors4xx', suffix: ' 4xx', dash: [6, 3] },
      { metric: 'errors5xx', suffix: ' 5xx' },
      { metric: 'errorsPlatform', suffix: ' platform', dash: [2, 3] },
    ],
  },
  {
    name: 'instances',
    title: 'Instances and loading requests',
    format: formatNumber,
    lines: [
      { metric: 'instances', suffix: ' instances' },
      { metric: 'loading', suffix: ' loading', dash: [2, 3] },
    ],
  },
  {
    name: 'bandwidth',
    title: 'Bandwidth (in, out)',
    format: bytesPerSecond,
    lines: [
      { metric: 'bytesIn', suffix: ' in', dash: [6, 3] },
      { metric: 'bytesOut', suffix: ' out' },
    ],
  },
  {
    name: 'sockets',
    title: 'Socket bytes',
    format: bytesPerSecond,
    lines: [{ metric: 'socketBytes', suffix: '' }],
  },
];

/** One drawn line: its legend label, its version's colour index, its dash. */
export interface LineInfo {
  label: string;
  colour: number;
  dash?: number[];
}

export interface ChartData {
  lines: LineInfo[];
  /** uPlot's columns: x (epoch seconds) first, then one column per line. */
  columns: [number[], ...Array<Array<number | null>>];
  /** Non-null values of the first line (the `data-points` the tests read). */
  points: number;
  /** Values of the first line other than null and 0 (`data-nonzero`: steps that had traffic). */
  nonZero: number;
}

/** `app/service/version`, the legend of a version. */
export const seriesLabel = (s: Pick<TimeSeries, 'app' | 'service' | 'version'>) =>
  `${s.app}/${s.service}/${s.version}`;

/**
 * The columns of one chart: one line per version (and per metric of the chart), on the union of
 * the versions' time steps (a version absent at a step has null there, a gap).
 *
 * @example
 * chartData(CHARTS[0], doc.series).columns // [[t0, t1, …], [v1 req/s…], [v2 req/s…]]
 */
export function chartData(spec: ChartSpec, series: readonly TimeSeries[]): ChartData {
  const times = [...new Set(series.flatMap((s) => s.t))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const lines: LineInfo[] = [];
  const columns: Array<Array<number | null>> = [];
  series.forEach((s, colour) => {
    for (const line of spec.lines) {
      const values: Array<number | null> = new Array(times.length).fill(null);
      const from = s[line.metric] ?? [];
      s.t.forEach((t, i) => {
        const value = from[i];
        values[index.get(t)!] = typeof value === 'number' && Number.isFinite(value) ? value : null;
      });
      lines.push({ label: seriesLabel(s) + line.suffix, colour, ...(line.dash ? { dash: line.dash } : {}) });
      columns.push(values);
    }
  });
  const first = columns[0] ?? [];
  return {
    lines,
    columns: [times, ...columns],
    points: first.filter((v) => v !== null).length,
    nonZero: first.filter((v) => v !== null && v !== 0).length,
  };
}

/** A key that changes when the chart's lines change (then the chart is made again, not just refilled). */
export function linesKey(lines: readonly LineInfo[]): string {
  return lines.map((l) => l.label).join('\n');
}

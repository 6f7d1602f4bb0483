/**
 * A uPlot chart as a Preact component. The uPlot instance is made once per set of lines (and
 * colour scheme) and then refilled in place with `setData` on every refresh, so live updates do
 * not flicker; a ResizeObserver keeps it as wide as its container (a phone's 390 px included).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { type ChartData, type ChartSpec, type LineInfo, linesKey } from './chart-data.js';

/** Line colours, one per version; chosen to read on both the light and the dark background. */
const PALETTE = ['#3b82f6', '#e4572e', '#22a06b', '#a35ee0', '#d4a017', '#0ea5b7', '#d63384', '#8a8f98'];

/** 'light' or 'dark', following the system setting as it changes. */
function useColourScheme(): 'light' | 'dark' {
  const query = '(prefers-color-scheme: dark)';
  const [dark, setDark] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const list = matchMedia(query);
    const changed = () => setDark(list.matches);
    list.addEventListener('change', changed);
    return () => list.removeEventListener('change', changed);
  }, []);
  return dark ? 'dark' : 'light';
}

const heightFor = (width: number) => (width < 500 ? 170 : 210);

/**
 * Points are drawn only where a value stands alone between gaps (a single busy step would
 * otherwise be an invisible zero-length line); uPlot draws them all when it has room.
 */
function isolatedPoints(u: uPlot, seriesIdx: number, show: boolean): number[] | null {
  if (show) return null;
  const values = u.data[seriesIdx] ?? [];
  const found: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] == null) continue;
    if (values[i - 1] == null && values[i + 1] == null) found.push(i);
  }
  return found.length > 0 ? found : null;
}

function options(
  spec: ChartSpec,
  lines: readonly LineInfo[],
  width: number,
  xRange: () => [number, number],
): uPlot.Options {
  const style = getComputedStyle(document.documentElement);
  const fg = style.getPropertyValue('--muted').trim() || '#666';
  const grid = style.getPropertyValue('--grid').trim() || 'rgba(128,128,128,0.2)';
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const value = (_u: uPlot, v: number | null) => (v == null ? '—' : spec.format(v));
  return {
    width,
    height: heightFor(width),
    series: [
      {},
      ...lines.map((line) => ({
        label: line.label,
        stroke: PALETTE[line.colour % PALETTE.length],
        width: 1.5,
        ...(line.dash ? { dash: line.dash } : {}),
        spanGaps: false,
        value,
        points: { size: 6, fill: PALETTE[line.colour % PALETTE.length], filter: isolatedPoints },
      })),
    ],
    scales: {
      x: { time: true, range: () => xRange() },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      { ...axis, space: 60 },
      {
        ...axis,
        // Wide enough for the longest figure (uPlot's fixed default cuts "1000 B/s").
        size: (_u, values) => 14 + 7.5 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
        values: (_u, splits) => splits.map((v) => spec.format(v)),
      },
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
}

/**
 * One chart in `div.chart[data-chart=NAME]`; `data-points` is the number of values of its first
 * line, `data-nonzero` of those that are not 0 (what the e2e test reads to know the chart drew
 * the traffic).
 */
export function Chart({
  spec,
  data,
  xRange,
}: {
  spec: ChartSpec;
  data: ChartData;
  xRange: [number, number];
}) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const range = useRef(xRange);
  range.current = xRange;
  const scheme = useColourScheme();
  const key = `${linesKey(data.lines)}\n${scheme}`;
  const empty = data.lines.length === 0;

  useEffect(() => {
    const el = holder.current;
    if (!el || empty) return;
    const u = new uPlot(
      options(spec, data.lines, Math.max(200, el.clientWidth), () => range.current),
      data.columns as uPlot.AlignedData,
      el,
    );
    plot.current = u;
    let width = el.clientWidth;
    const observer = new ResizeObserver(() => {
      const now = Math.max(200, el.clientWidth);
      if (now === width) return;
      width = now;
      u.setSize({ width: now, height: heightFor(now) });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, [key, spec]);

  useEffect(() => {
    plot.current?.setData(data.columns as uPlot.AlignedData);
  }, [data]);

  return (
    <figure class="chart-box">
      <figcaption id={`chart-${spec.name}-title`}>{spec.title}</figcaption>
      <div
        class="chart"
        data-chart={spec.name}
        data-points={String(data.points)}
        data-nonzero={String(data.nonZero)}
      >
        <div class="chart-plot" ref={holder} />
        {empty ? <p class="chart-empty">No traffic in this range yet.</p> : null}
      </div>
    </figure>
  );
}

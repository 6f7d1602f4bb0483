/**
 * `#/dashboard`: requests, latency, errors, instances, bandwidth and socket bytes over the last
 * 5 minutes, 15 minutes or hour, one line per version, from `GET /api/timeseries` refetched
 * every 2 s while the page is visible (the charts are refilled in place).
 */
import { useMemo, useState } from 'preact/hooks';
import { api } from '../api.js';
import { CHARTS, chartData, seriesLabel } from '../chart-data.js';
import { Chart } from '../charts.js';
import { ErrorBox } from '../components.js';
import { usePolling } from '../polling.js';
import type { TimeSeriesDoc } from '../types.js';

const RANGES = [
  { seconds: 300, label: '5 min' },
  { seconds: 900, label: '15 min' },
  { seconds: 3600, label: '1 h' },
];

export function DashboardPage() {
  const [range, setRange] = useState(900);
  const [app, setApp] = useState('');
  const { data, error } = usePolling(
    () => api<TimeSeriesDoc>('GET', `/api/timeseries?range=${range}`),
    2000,
    [range],
  );

  const apps = useMemo(() => [...new Set((data?.series ?? []).map((s) => s.app))].sort(), [data]);
  const charts = useMemo(() => {
    const series = (data?.series ?? [])
      .filter((s) => app === '' || s.app === app)
      .sort((a, b) => seriesLabel(a).localeCompare(seriesLabel(b)));
    return CHARTS.map((spec) => ({ spec, data: chartData(spec, series) }));
  }, [data, app]);
  const now = data?.now ?? Math.floor(Date.now() / 1000);
  const xRange: [number, number] = [now - range, now];

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Dashboard</h1>
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>
          Range
          <select id="range" value={String(range)} onChange={(e) => setRange(Number(e.currentTarget.value))}>
            {RANGES.map((r) => (
              <option key={r.seconds} value={String(r.seconds)}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          App
          <select id="app" value={app} onChange={(e) => setApp(e.currentTarget.value)}>
            <option value="">All apps</option>
            {app !== '' && !apps.includes(app) ? <option value={app}>{app}</option> : null}
            {apps.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        {data ? (
          <span class="muted">
            one point every {data.step} s{data.series.length === 0 ? ' · no traffic yet' : ''}
          </span>
        ) : null}
      </form>
      <ErrorBox error={error} prefix="The metrics could not be read" />
      <div class="charts">
        {charts.map(({ spec, data: columns }) => (
          <Chart key={spec.name} spec={spec} data={columns} xRange={xRange} />
        ))}
      </div>
    </section>
  );
}

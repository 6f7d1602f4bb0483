/**
 * `#/quotas`: each app's counters of the day (S10) and, where `quotas.daily` sets a limit, a bar
 * of usage against it with the percentage. A counter at its limit is marked: requests over it
 * get 503 until 00:00 UTC.
 */
import { useState } from 'preact/hooks';
import { DAILY_QUOTA_NAMES } from '../../config/quota-names.js';
import { api, queryString } from '../api.js';
import { ErrorBox, TableScroll, UsageBar } from '../components.js';
import { formatBytes, formatNumber, formatPercent } from '../format.js';
import { usePolling } from '../polling.js';
import type { QuotaReport } from '../types.js';

/** The S10 counters in the platform's order. */
const COUNTERS: readonly string[] = DAILY_QUOTA_NAMES;

function formatCounter(name: string, value: number): string {
  if (name.endsWith('_bytes')) return formatBytes(value);
  if (name === 'instance_hours') return `${value.toFixed(2)} h`;
  return formatNumber(value);
}

const counterLabel = (name: string) =>
  name
    .replace(/_/g, ' ')
    .replace('urlfetch', 'URL Fetch')
    .replace(/^./, (c) => c.toUpperCase());

export function QuotasPage() {
  const [day, setDay] = useState('');
  const { data, error } = usePolling(
    () => api<QuotaReport>('GET', `/api/quotas${queryString({ day })}`),
    5000,
    [day],
  );
  const names = data
    ? [...COUNTERS, ...Object.keys(data.apps[0]?.usage ?? {}).filter((n) => !COUNTERS.includes(n))]
    : [];

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Quotas</h1>
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>
          Day (UTC)
          <input
            id="quota-day"
            type="date"
            value={day || data?.day || ''}
            onChange={(e) => setDay(e.currentTarget.value)}
          />
        </label>
        {data ? <span class="muted">Daily quotas reset at 00:00 UTC.</span> : null}
      </form>
      <ErrorBox error={error} prefix="The quotas could not be read" />
      {data && data.apps.length === 0 ? <p class="muted">No app has used anything on {data.day}.</p> : null}
      <TableScroll label="Quotas">
        <table id="quotas">
          <thead>
            <tr>
              <th scope="col">Counter</th>
              <th scope="col">Usage</th>
              <th scope="col">Against the daily limit</th>
            </tr>
          </thead>
          {data?.apps.map(({ app, usage, overQuota }) => (
            <tbody key={app} data-app={app}>
              <tr class="group">
                <th scope="rowgroup" colSpan={3}>
                  {app}
                  {overQuota.length > 0 ? (
                    <span class="over"> over quota: {overQuota.join(', ')}</span>
                  ) : null}
                </th>
              </tr>
              {names.map((name) => {
                const value = usage[name] ?? 0;
                const limit = data.limits[name];
                return (
                  <tr
                    key={name}
                    data-counter={name}
                    class={overQuota.includes(name) ? 'over-quota' : undefined}
                  >
                    <th scope="row">{counterLabel(name)}</th>
                    <td class="num usage-figure">{formatCounter(name, value)}</td>
                    <td>
                      {limit !== undefined ? (
                        <UsageBar
                          value={value}
                          max={limit}
                          label={`${counterLabel(name)} of ${app} against its daily limit`}
                          text={`${formatPercent(limit > 0 ? value / limit : 1)} of ${formatCounter(name, limit)}`}
                        />
                      ) : (
                        <span class="muted">no limit</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          ))}
        </table>
      </TableScroll>
    </section>
  );
}

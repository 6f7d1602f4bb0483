import type { QuotaReport } from '../metering/meter.js';
import { HangarError } from '../shared/errors.js';
import { type AdminClientOptions, adminGetJson } from './admin-client.js';

export interface QuotasOptions extends AdminClientOptions {
  json?: boolean;
  /** UTC date `YYYY-MM-DD`; default today. */
  day?: string;
  /** Only this app (several share one serve). */
  app?: string;
}

/** `hangar quotas` (SPEC S2, S10): the day's usage per app and version, against the daily quotas. */
export async function runQuotas(opts: QuotasOptions): Promise<void> {
  if (opts.day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.day)) {
    throw new HangarError('USAGE', `--day must be a UTC date YYYY-MM-DD, not '${opts.day}'`);
  }
  const all = await adminGetJson<QuotaReport>(opts, `/api/quotas${opts.day ? `?day=${opts.day}` : ''}`);
  const report =
    opts.app === undefined
      ? all
      : {
          ...all,
          apps: all.apps.filter((a) => a.app === opts.app),
          versions: all.versions.filter((v) => v.app === opts.app),
        };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatQuotas(report));
}

/** Human sizes for byte counters: 1536 → '1.5 KiB'. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatValue(name: string, value: number): string {
  if (name.endsWith('_bytes')) return formatBytes(value);
  if (name === 'instance_hours') return value.toFixed(3);
  return String(value);
}

/**
 * The text `hangar quotas` prints: one block per app with each counter, its daily limit and
 * how much of it is used, then one line per version.
 *
 * @example
 * formatQuotas(report) // "Usage on 2026-11-21 (UTC)\n\nmyapp\n  requests  12  of 100 (12%)\n..."
 */
export function formatQuotas(report: QuotaReport): string {
  const lines = [`Usage on ${report.day} (UTC; quotas reset at 00:00 UTC)`];
  if (report.apps.length === 0) lines.push('', '(no traffic counted this day)');
  for (const { app, usage, overQuota } of report.apps) {
    lines.push('', `${app}${overQuota.length ? `  OVER QUOTA: ${overQuota.join(', ')}` : ''}`);
    const names = Object.keys(usage);
    const width = Math.max(...names.map((n) => n.length));
    for (const name of names) {
      const value = usage[name as keyof typeof usage];
      const limit = report.limits[name];
      const share =
        limit === undefined
          ? ''
          : `  of ${formatValue(name, limit)} (${limit > 0 ? Math.floor((100 * value) / limit) : 100}%)`;
      lines.push(`  ${name.padEnd(width)}  ${formatValue(name, value)}${share}`);
    }
  }
  if (report.versions.length > 0) {
    lines.push('', 'Per version:', '  SERVICE/VERSION  REQUESTS  SECURE  IN  OUT  INSTANCE-HOURS');
    for (const v of report.versions) {
      lines.push(
        `  ${v.app} ${v.service}/${v.version}  ${v.usage.requests}  ${v.usage.secure_requests}  ${formatBytes(v.usage.incoming_bytes)}  ${formatBytes(v.usage.outgoing_bytes)}  ${v.usage.instance_hours.toFixed(3)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

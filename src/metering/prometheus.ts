/**
 * Prometheus text exposition (format 0.0.4) of the S10 counters, served at `/metrics` on the
 * admin port. Counters are totals over every stored day (monotonic, as Prometheus expects);
 * the day's quota usage and limits are gauges. With several nodes on one database (S16) every
 * node answers the platform's totals: the stored counts of all nodes plus its own unwritten ones.
 */
import { COUNTER_NAMES, type CounterName } from './counters.js';
import type { Meter } from './meter.js';

/** One family per counter; `instance_hours` is exposed in seconds, Prometheus's base unit. */
const families: Record<CounterName, { name: string; help: string; scale?: number }> = {
  requests: { name: 'hangar_requests_total', help: 'Requests served (S10).' },
  secure_requests: { name: 'hangar_secure_requests_total', help: 'Requests served over HTTPS.' },
  incoming_bytes: {
    name: 'hangar_incoming_bytes_total',
    help: 'Request bytes on the wire (headers and bodies).',
  },
  outgoing_bytes: {
    name: 'hangar_outgoing_bytes_total',
    help: 'Response bytes on the wire (headers and bodies).',
  },
  secure_incoming_bytes: { name: 'hangar_secure_incoming_bytes_total', help: 'Request bytes over HTTPS.' },
  secure_outgoing_bytes: { name: 'hangar_secure_outgoing_bytes_total', help: 'Response bytes over HTTPS.' },
  socket_bytes: { name: 'hangar_socket_bytes_total', help: 'Sockets API bytes, both directions.' },
  urlfetch_calls: { name: 'hangar_urlfetch_calls_total', help: 'URL Fetch calls.' },
  urlfetch_bytes: { name: 'hangar_urlfetch_bytes_total', help: 'URL Fetch bytes.' },
  instance_hours: {
    name: 'hangar_instance_seconds_total',
    help: 'Instance running time in seconds (instance-hours × 3600).',
    scale: 3600,
  },
};

/**
 * The metrics page; rejects when the store cannot be read.
 *
 * @example
 * res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(await prometheusText(meter));
 */
export async function prometheusText(meter: Meter): Promise<string> {
  const lines: string[] = [];
  const rows = await meter.allTime();
  for (const name of COUNTER_NAMES) {
    const family = families[name];
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} counter`);
    for (const row of rows) {
      const labels = `app="${label(row.app)}",service="${label(row.service)}",version="${label(row.version)}"`;
      lines.push(`${family.name}{${labels}} ${formatNumber(row.counters[name] * (family.scale ?? 1))}`);
    }
  }
  const report = await meter.report();
  lines.push(
    '# HELP hangar_quota_usage Usage of each daily quota today (UTC), per app.',
    '# TYPE hangar_quota_usage gauge',
  );
  for (const { app, usage } of report.apps) {
    for (const name of COUNTER_NAMES) {
      lines.push(`hangar_quota_usage{app="${label(app)}",quota="${name}"} ${formatNumber(usage[name])}`);
    }
  }
  lines.push(
    '# HELP hangar_quota_limit Configured daily quota (quotas.daily).',
    '# TYPE hangar_quota_limit gauge',
  );
  for (const [name, limit] of Object.entries(report.limits)) {
    lines.push(`hangar_quota_limit{quota="${name}"} ${formatNumber(limit)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Content type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(12).replace(/\.?0+$/, '');
}

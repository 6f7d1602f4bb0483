import type { RequestRecord } from '../frontend/frontend.js';
import { paint } from '../shared/logger.js';

/**
 * The dev terminal's line for one request: method, path, status, latency, instance, and
 * `loading` for an instance's first request (S6), e.g. `GET /hello 200 3.1 ms instance 3f2a1b9c loading`.
 */
export function formatRequestLine(r: RequestRecord, color: boolean): string {
  const statusColor =
    r.status >= 500 ? 'red' : r.status >= 400 ? 'yellow' : r.status >= 300 ? 'cyan' : 'green';
  const latency = r.latencyMs < 10 ? r.latencyMs.toFixed(1) : Math.round(r.latencyMs).toString();
  const where = r.instanceId
    ? `instance ${r.instanceId.slice(0, 8)}${r.loadingRequest ? ' loading' : ''}`
    : r.service
      ? 'front end'
      : '';
  const parts = [
    paint(color, 'bold', r.method),
    r.resource,
    paint(color, statusColor, String(r.status)),
    `${latency} ms`,
    paint(color, 'gray', where),
  ];
  // A failed or rejected request names its id, so its log entry can be found (S5 step 2, S9).
  if (r.error) parts.push(paint(color, 'gray', `(${r.error}; request ${r.requestId})`));
  return parts.filter(Boolean).join(' ');
}

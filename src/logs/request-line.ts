import type { LogLine, RequestLogRecord } from '../logs/types.js';
import { paint } from '../shared/logger.js';
import type { RequestRecord } from '../shared/request-record.js';
import { trimStack } from '../shared/stack-trim.js';

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

const levelColor = {
  debug: 'gray',
  info: 'cyan',
  warning: 'yellow',
  error: 'red',
  critical: 'magenta',
} as const;

/** The last line's prefix (indent, time, level): a request's lines mostly share all three. */
const lastPrefix = { time: '', level: '', indent: '', color: false, text: '' };

/**
 * One app line as the dev terminal shows it under its request: `    12:00:01.250 warning disk almost full`.
 * With `trim`, a stack trace in it shows the app's own frames (stack-trim.ts); `trim` is the
 * hint that says how to see them all.
 */
export function formatAppLine(line: LogLine, color: boolean, indent = '    ', trim?: string): string {
  const last = lastPrefix;
  if (
    line.time !== last.time ||
    line.level !== last.level ||
    indent !== last.indent ||
    color !== last.color
  ) {
    last.time = line.time;
    last.level = line.level;
    last.indent = indent;
    last.color = color;
    last.text = `${indent}${paint(color, 'gray', line.time.slice(11, 23))} ${paint(color, levelColor[line.level], paddedLevel[line.level])} `;
  }
  const message = line.message.includes('\n')
    ? (trim === undefined ? line.message : trimStack(line.message, trim)).replaceAll(
        '\n',
        `\n${indent}${' '.repeat(21)}`,
      )
    : line.message;
  return last.text + message;
}

const paddedLevel = {
  debug: 'debug   ',
  info: 'info    ',
  warning: 'warning ',
  error: 'error   ',
  critical: 'critical',
} as const;

/** A request's line with its app lines under it (S9 "one colourised line per request with its lines"). */
export function formatRequestEntry(
  entry: RequestLogRecord,
  lines: readonly LogLine[],
  color: boolean,
  trim?: string,
): string {
  let text = formatRequestLine(
    {
      requestId: entry.requestId,
      method: entry.method,
      resource: entry.resource,
      status: entry.status,
      latencyMs: entry.latencyMs,
      bytesOut: entry.bytesOut,
      ...(entry.service ? { service: entry.service } : {}),
      ...(entry.instanceId ? { instanceId: entry.instanceId } : {}),
      ...(entry.loadingRequest ? { loadingRequest: true } : {}),
      ...(entry.error ? { error: entry.error } : {}),
    },
    color,
  );
  for (const line of lines) text += `\n${formatAppLine(line, color, '    ', trim)}`;
  return text;
}

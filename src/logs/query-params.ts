/**
 * `GET /api/logs` query parameters → {@link LogQuery}, and the same filters as a predicate for
 * the live stream. One parser for the API and the CLI's flags, so both accept the same values.
 */
import { parseDuration } from '../config/durations.js';
import { HangarError } from '../shared/errors.js';
import { LOG_LEVELS, type LogLevel } from '../shared/messages.js';
import { MAX_LIMIT } from './store.js';
import type { LogEntry, LogQuery } from './types.js';

/**
 * A time bound: an ISO 8601 time (`2026-01-01T10:00:00Z`), epoch milliseconds, or a duration
 * meaning that long ago (`10m`, `2h`, `7d`).
 *
 * @example parseTimeBound('15m', Date.now()) // a quarter of an hour ago
 */
export function parseTimeBound(value: string, now: number, name: string): number {
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(value)) return now - parseDuration(value);
  if (/^\d{10,}$/.test(value)) return Number(value);
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new HangarError(
      'USAGE',
      `${name} must be an ISO 8601 time (2026-01-01T10:00:00Z), epoch milliseconds, or a duration ago (15m, 2h, 7d), not '${value}'`,
    );
  }
  return parsed;
}

function isLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Parses the filters of `GET /api/logs`; a bad value is a HangarError USAGE (400) saying what fits. */
export function parseLogQuery(params: URLSearchParams, now = Date.now()): LogQuery {
  const q: LogQuery = {};
  const text = (name: string) => params.get(name) ?? undefined;
  const app = text('app');
  if (app) q.app = app;
  const service = text('service');
  if (service) q.service = service;
  const version = text('version');
  if (version) q.version = version;
  const requestId = text('requestId');
  if (requestId) q.requestId = requestId.toLowerCase();
  const minLevel = text('minLevel');
  if (minLevel) {
    if (!isLevel(minLevel)) {
      throw new HangarError('USAGE', `minLevel must be one of ${LOG_LEVELS.join(', ')}, not '${minLevel}'`);
    }
    q.minLevel = minLevel;
  }
  const since = text('since');
  if (since) q.since = parseTimeBound(since, now, 'since');
  const until = text('until');
  if (until) q.until = parseTimeBound(until, now, 'until');
  const status = text('status');
  if (status) {
    if (!/^[1-5]\d\d$/.test(status))
      throw new HangarError('USAGE', `status must be an HTTP status like 404, not '${status}'`);
    q.status = Number(status);
  }
  const grep = text('text');
  if (grep) q.text = grep;
  const limit = text('limit');
  if (limit) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) {
      throw new HangarError('USAGE', `limit must be a whole number from 1 to ${MAX_LIMIT}, not '${limit}'`);
    }
    q.limit = Number(limit);
  }
  const cursor = text('cursor');
  if (cursor) {
    if (!/^[0-9a-f]+$/.test(cursor))
      throw new HangarError('USAGE', `cursor must be the 'next' of a previous page`);
    q.cursor = cursor;
  }
  return q;
}

/** The query's filters as a predicate, for entries of the live stream (limit and cursor do not apply). */
export function matchesQuery(entry: LogEntry, q: LogQuery): boolean {
  if (q.app !== undefined && entry.appId !== q.app) return false;
  if (q.service !== undefined && entry.service !== q.service) return false;
  if (q.version !== undefined && entry.version !== q.version) return false;
  if (q.requestId !== undefined && entry.requestId !== q.requestId) return false;
  if (q.status !== undefined && entry.status !== q.status) return false;
  if (q.since !== undefined || q.until !== undefined) {
    const start = Date.parse(entry.startTime);
    if (q.since !== undefined && start < q.since) return false;
    if (q.until !== undefined && start >= q.until) return false;
  }
  if (q.minLevel !== undefined) {
    const min = LOG_LEVELS.indexOf(q.minLevel);
    if (!entry.lines.some((l) => LOG_LEVELS.indexOf(l.level) >= min)) return false;
  }
  if (q.text !== undefined) {
    const t = q.text;
    if (!entry.resource.includes(t) && !entry.lines.some((l) => l.message.includes(t))) return false;
  }
  return true;
}

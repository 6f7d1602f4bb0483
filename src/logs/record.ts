import type { RequestRecord } from '../frontend/frontend.js';
import type { AppLogLine } from '../shared/messages.js';
import type { LogLine, RequestLogRecord, StoredLine } from './types.js';

/**
 * The S9 record of what the front end (or the platform, for /_ah/ requests) knows about a
 * finished request. Unknown fields are null, never missing, so `--json` has every key.
 */
export function toLogRecord(r: RequestRecord): RequestLogRecord {
  return {
    requestId: r.requestId,
    appId: r.app ?? null,
    service: r.service ?? null,
    version: r.version ?? null,
    instanceId: r.instanceId ?? null,
    startTime: isoTime(r.startTime ?? Date.now() - r.latencyMs),
    latencyMs: r.latencyMs,
    pendingMs: r.pendingMs ?? 0,
    method: r.method,
    resource: r.resource,
    httpVersion: r.httpVersion ?? null,
    status: r.status,
    bytesIn: r.bytesIn ?? 0,
    bytesOut: r.bytesOut,
    userAgent: r.userAgent ?? null,
    ip: r.ip ?? null,
    host: r.host ?? null,
    loadingRequest: r.loadingRequest === true,
    secure: r.secure === true,
    error: r.error ?? null,
  };
}

/** An instance's line as the store keeps it; only lines written under a request have one. */
export function toStoredLine(line: AppLogLine & { requestId: string }): StoredLine {
  return { requestId: line.requestId, ...toLogLine(line), epochMs: line.time };
}

export function toLogLine(line: AppLogLine): LogLine {
  return { time: isoTime(line.time), level: line.level, message: line.message };
}

/** The last two conversions, [ms, iso, ms, iso]; the older pair is replaced. */
const recent: [number, string, number, string] = [Number.NaN, '', Number.NaN, ''];
let older = 0;

/**
 * Epoch ms as ISO 8601. A request's lines are mostly written within one millisecond, often the
 * one after its start time, and formatting a Date is the dearest part of turning a line into
 * its log form: the last two conversions are kept (with one, start time and lines replaced
 * each other).
 */
export function isoTime(ms: number): string {
  if (ms === recent[0]) return recent[1];
  if (ms === recent[2]) return recent[3];
  const iso = new Date(ms).toISOString();
  recent[older] = ms;
  recent[older + 1] = iso;
  older = 2 - older;
  return iso;
}

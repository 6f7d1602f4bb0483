import { describe, expect, it } from 'vitest';
import { matchesQuery, parseLogQuery } from './query-params.js';
import type { LogEntry } from './types.js';

function entry(over: Partial<LogEntry> = {}): LogEntry {
  return {
    requestId: '0000019b7f8a5c0000000000000000001',
    appId: 'alpha',
    service: 'default',
    version: 'v1',
    instanceId: 'i1',
    startTime: '2026-01-01T00:00:00.000Z',
    latencyMs: 1,
    pendingMs: 0,
    method: 'GET',
    resource: '/',
    httpVersion: '1.1',
    status: 200,
    bytesIn: 0,
    bytesOut: 2,
    userAgent: null,
    ip: null,
    host: null,
    loadingRequest: false,
    secure: false,
    error: null,
    split: null,
    lines: [],
    ...over,
  };
}

describe('the app filter', () => {
  it('is the `app` query parameter; empty means every app', () => {
    expect(parseLogQuery(new URLSearchParams('app=alpha&service=default'))).toEqual({
      app: 'alpha',
      service: 'default',
    });
    expect(parseLogQuery(new URLSearchParams('app='))).toEqual({});
  });

  it('keeps only that app’s entries in the live stream, with the other filters', () => {
    const alpha = entry();
    const beta = entry({ appId: 'beta' });
    const none = entry({ appId: null });
    expect([alpha, beta, none].filter((e) => matchesQuery(e, { app: 'alpha' }))).toEqual([alpha]);
    expect([alpha, beta, none].filter((e) => matchesQuery(e, { app: 'beta', service: 'default' }))).toEqual([
      beta,
    ]);
    expect([alpha, beta, none].filter((e) => matchesQuery(e, {}))).toHaveLength(3);
  });
});

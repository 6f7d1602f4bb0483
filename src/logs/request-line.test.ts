import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../shared/request-record.js';
import { formatRequestLine } from './request-line.js';

const record: RequestRecord = {
  requestId: '0'.repeat(32),
  method: 'GET',
  resource: '/hello?x=1',
  status: 200,
  latencyMs: 3.12,
  service: 'default',
  instanceId: '3f2a1b9c'.padEnd(32, '0'),
  bytesOut: 5,
};

describe('formatRequestLine', () => {
  it('shows method, path, status, latency and instance, without colour off a terminal', () => {
    expect(formatRequestLine(record, false)).toBe('GET /hello?x=1 200 3.1 ms instance 3f2a1b9c');
  });

  it('marks loading requests and front-end answers, and names the error', () => {
    expect(formatRequestLine({ ...record, loadingRequest: true, latencyMs: 42.4 }, false)).toBe(
      'GET /hello?x=1 200 42 ms instance 3f2a1b9c loading',
    );
    const { instanceId: _, ...static_ } = record;
    expect(
      formatRequestLine({ ...static_, status: 404, error: 'HANGAR_E_HANDLER_NOT_FOUND: no' }, false),
    ).toBe(`GET /hello?x=1 404 3.1 ms front end (HANGAR_E_HANDLER_NOT_FOUND: no; request ${'0'.repeat(32)})`);
  });

  it('colours only when asked (a TTY)', () => {
    const coloured = formatRequestLine({ ...record, status: 500 }, true);
    expect(coloured).toContain('\x1b[31m500\x1b[0m');
    expect(formatRequestLine(record, false)).not.toContain('\x1b[');
  });
});

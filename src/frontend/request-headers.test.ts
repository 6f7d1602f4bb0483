import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sanitiseRequestHeaders } from './request-headers.js';
import { traceContext } from './trace-context.js';

const requestId = '01a1fc00000000000011223344556677';

function request(raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return { rawHeaders: raw, headers } as unknown as IncomingMessage;
}

describe('sanitiseRequestHeaders (S5 step 5)', () => {
  it('strips platform, hop-by-hop, Connection-named and encoding headers; adds the front end’s own', () => {
    const req = request([
      'Host',
      'app.example',
      'Accept-Encoding',
      'gzip',
      'X-AppEngine-Country',
      'US',
      'X-Appengine-User-Is-Admin',
      '1',
      'X-Google-Apps-Metadata',
      'x',
      'X-Hangar-Request-Id',
      'forged',
      'Connection',
      'keep-alive, X-Hop, Host',
      'X-Hop',
      'h',
      'TE',
      'trailers',
      'Upgrade',
      'websocket',
      'Expect',
      '100-continue',
      'Content-Length',
      '5',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-For',
      '198.51.100.1',
      'x-forwarded-for',
      '198.51.100.2',
      'Cookie',
      'a=1',
      'X-Kept',
      'yes',
    ]);
    const trace = sanitiseRequestHeaders(req, { requestId, remoteAddr: '127.0.0.1', https: true });
    const names = req.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names).toEqual([
      'Host',
      'Cookie',
      'X-Kept',
      'X-AppEngine-Country',
      'X-Forwarded-For',
      'X-Forwarded-Proto',
      'X-Cloud-Trace-Context',
      'traceparent',
    ]);
    expect(req.headers['x-appengine-country']).toBe('ZZ');
    expect(req.headers['x-forwarded-for']).toBe('198.51.100.1, 198.51.100.2, 127.0.0.1');
    expect(req.headers['x-forwarded-proto']).toBe('https');
    expect(req.headers.connection).toBeUndefined();
    expect(trace.traceId).toBe(requestId);
    expect(req.headers['x-cloud-trace-context']).toBe(`${requestId}/${BigInt(`0x${trace.spanId}`)};o=0`);
    expect(req.headers.traceparent).toBe(`00-${requestId}-${trace.spanId}-00`);
  });

  it('continues a trace the client started, and ignores a trace header it marked connection-scoped', () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const req = request(['Host', 'a', 'X-Cloud-Trace-Context', `${trace.toUpperCase()}/123;o=1`]);
    sanitiseRequestHeaders(req, { requestId, remoteAddr: '::1', https: false });
    expect(req.headers.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    const scoped = request([
      'Host',
      'a',
      'Connection',
      'traceparent',
      'traceparent',
      `00-${trace}-00f067aa0ba902b7-01`,
    ]);
    sanitiseRequestHeaders(scoped, { requestId, remoteAddr: '::1', https: false });
    expect(scoped.headers.traceparent).toMatch(new RegExp(`^00-${requestId}-`));
  });
});

describe('traceContext', () => {
  it.each([
    [
      'valid traceparent wins',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'abc',
      '0af7651916cd43dd8448eb211c80319c',
      true,
    ],
    ['all-zero trace id is ignored', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, undefined, requestId, false],
    [
      'unknown traceparent version is ignored',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      undefined,
      requestId,
      false,
    ],
    [
      'cloud trace without options',
      undefined,
      '0af7651916cd43dd8448eb211c80319c/1',
      '0af7651916cd43dd8448eb211c80319c',
      false,
    ],
    ['garbage', 'x', 'y', requestId, false],
  ])('%s', (_what, traceparent, cloud, traceId, sampled) => {
    const t = traceContext(traceparent, cloud, requestId);
    expect(t).toMatchObject({ traceId, sampled });
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe('0000000000000000');
  });

  it('gives every request its own span id', () => {
    const ids = new Set(
      Array.from({ length: 2000 }, () => traceContext(undefined, undefined, requestId).spanId),
    );
    expect(ids.size).toBe(2000);
  });
});

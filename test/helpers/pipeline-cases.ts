/**
 * S5 cases that run twice: in process against stub instances (src/frontend/pipeline-*.test.ts)
 * and end to end against a real `hangar dev` and its instance (test/e2e/pipeline-*.test.ts).
 * The request and the expectations live here once, so the two tiers cannot drift apart.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { type RawResponse, rawRequest } from './raw-http.js';

/** The client's W3C trace id in the header-hygiene request. */
export const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';

/** Header lines of a request that forges platform headers, names one in Connection, and traces. */
export const hygieneRequestHeaders = [
  'Accept-Encoding: gzip, deflate',
  'X-AppEngine-Country: US',
  'X-AppEngine-User-Email: admin@example.com',
  'X-Google-Internal: 1',
  'X-Hangar-Https: on',
  'Connection: keep-alive, X-Secret',
  'X-Secret: only-for-this-hop',
  'Keep-Alive: timeout=5',
  'X-Forwarded-For: 203.0.113.9',
  'X-Forwarded-Proto: https',
  `traceparent: 00-${clientTrace}-00f067aa0ba902b7-01`,
  'User-Agent: pipeline-test',
  'X-Kept: yes',
  '',
].join('\r\n');

/** What the app must (not) see of `hygieneRequestHeaders`, over plain HTTP from 127.0.0.1. */
export function expectHygiene(seen: Map<string, string>): void {
  for (const gone of [
    'accept-encoding',
    'x-appengine-user-email',
    'x-google-internal',
    'x-secret',
    'keep-alive',
  ]) {
    expect(seen.has(gone), gone).toBe(false);
  }
  expect(seen.get('x-appengine-country')).toBe('ZZ');
  expect(seen.get('x-forwarded-for')).toBe('203.0.113.9, 127.0.0.1');
  expect(seen.get('x-forwarded-proto')).toBe('http');
  expect(seen.get('x-cloud-trace-context')).toMatch(new RegExp(`^${clientTrace}/\\d+;o=1$`));
  const traceparent = seen.get('traceparent') ?? '';
  expect(traceparent).toMatch(new RegExp(`^00-${clientTrace}-[0-9a-f]{16}-01$`));
  expect(traceparent).not.toContain('00f067aa0ba902b7');
  expect(seen.get('x-kept')).toBe('yes');
  expect(seen.get('user-agent')).toBe('pipeline-test');
}

/**
 * The client's view of the `/headers` answer (the app sets Latin-1 and hop-by-hop headers,
 * no Content-Type, two cookies): rewritten by step 6.
 */
export function expectRewrittenHeaders(res: RawResponse): void {
  expect(res.status).toBe(200);
  expect(res.headers.server).toEqual(['Development/0.1']);
  expect(res.headers.date).toHaveLength(1);
  expect(res.headers.date![0]).not.toContain('1970');
  expect(res.headers['x-latin']).toBeUndefined();
  expect(res.headers['x-plain']).toEqual(['kept']);
  expect(res.headers['x-drop-me']).toBeUndefined();
  expect(res.headers['keep-alive']).not.toEqual(['timeout=1']);
  expect(res.headers['content-type']).toEqual(['text/html']);
  expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  expect(res.headers['cache-control']).toEqual(['private, max-age=600']);
  expect(res.headers['content-length']).toEqual([String(res.body.length)]);
  expect(res.headers['transfer-encoding']).toBeUndefined();
}

/** POSTs a body of exactly `limit` bytes to `/echo` and checks the app got it byte for byte. */
export async function expectLargestBodyPasses(url: string, limit: number): Promise<void> {
  const body = Buffer.alloc(limit, 7);
  body.write('start', 0);
  body.write('end', limit - 3);
  const res = await rawRequest(
    url,
    Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${limit}\r\n\r\n`), body]),
  );
  expect(res.status).toBe(200);
  const echo = JSON.parse(res.body.toString()) as { bodyLength: number; bodySha256: string };
  expect(echo.bodyLength).toBe(limit);
  expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
}

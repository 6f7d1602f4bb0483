import { describe, expect, it } from 'vitest';
import type { UpstreamResponse } from './response-rewrite.js';
import { privateCacheControl, rewriteResponse } from './response-rewrite.js';

const options = { method: 'GET', maxResponseBytes: 100, serverSoftware: 'Hangar/0.1.0' };
const upstream = (over: Partial<UpstreamResponse> = {}): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'text/plain' },
  body: Buffer.from('hello'),
  ...over,
});

describe('rewriteResponse (S5 step 6)', () => {
  it('sets Server and Content-Length; drops platform-owned, hop-by-hop, Connection-named and non-ASCII headers', () => {
    const out = rewriteResponse(
      upstream({
        headers: {
          'content-type': 'text/plain',
          server: 'app',
          date: 'Thu, 01 Jan 1970 00:00:00 GMT',
          'content-length': '999',
          connection: 'x-private',
          'x-private': 'hop',
          'keep-alive': 'timeout=5',
          'transfer-encoding': 'chunked',
          'x-latin': 'caf\u00e9',
          'x-list': ['ok', 'caf\u00e9'],
          'x-kept': 'yes',
        },
      }),
      options,
    );
    expect(out.headers).toEqual({
      'content-type': 'text/plain',
      'x-list': ['ok'],
      'x-kept': 'yes',
      server: 'Hangar/0.1.0',
      'content-length': '5',
    });
    expect(out.body.toString()).toBe('hello');
  });

  it('defaults Content-Type to text/html', () => {
    expect(rewriteResponse(upstream({ headers: {} }), options).headers['content-type']).toBe('text/html');
  });

  it('makes Cache-Control private when the response sets a cookie', () => {
    const out = rewriteResponse(
      upstream({ headers: { 'set-cookie': ['a=1'], 'cache-control': 'public, max-age=60' } }),
      options,
    );
    expect(out.headers['cache-control']).toBe('private, max-age=60');
    expect(
      rewriteResponse(upstream({ headers: { 'set-cookie': ['a=1'] } }), options).headers['cache-control'],
    ).toBe('private');
  });

  it.each([
    [undefined, 'private'],
    ['public', 'private'],
    ['public, max-age=60, s-maxage=600', 'private, max-age=60'],
    ['no-store', 'no-store'],
    ['private, max-age=5', 'private, max-age=5'],
    ['max-age=0, must-revalidate', 'private, max-age=0, must-revalidate'],
  ])('privateCacheControl(%j) → %j', (value, expected) => {
    expect(privateCacheControl(value)).toBe(expected);
  });

  it('204 and 304 go out without a body or Content-Length', () => {
    for (const status of [204, 304]) {
      const out = rewriteResponse(upstream({ status, body: Buffer.alloc(0) }), options);
      expect(out.headers['content-length']).toBeUndefined();
      expect(out.body.length).toBe(0);
    }
  });

  it('HEAD keeps the Content-Length the instance declared', () => {
    const out = rewriteResponse(upstream({ headers: { 'content-length': '42' }, body: Buffer.alloc(0) }), {
      ...options,
      method: 'HEAD',
    });
    expect(out.headers['content-length']).toBe('42');
    expect(out.body.length).toBe(0);
  });

  it('a body over max_response_bytes is RESPONSE_TOO_LARGE; exactly the limit passes', () => {
    expect(rewriteResponse(upstream({ body: Buffer.alloc(100) }), options).body.length).toBe(100);
    expect(() => rewriteResponse(upstream({ body: Buffer.alloc(101) }), options)).toThrow(
      expect.objectContaining({ code: 'HANGAR_E_RESPONSE_TOO_LARGE', status: 500 }),
    );
    expect(() =>
      rewriteResponse(upstream({ headers: { 'content-length': '101' }, body: Buffer.alloc(0) }), {
        ...options,
        method: 'HEAD',
      }),
    ).toThrow(expect.objectContaining({ code: 'HANGAR_E_RESPONSE_TOO_LARGE' }));
  });

  it.each([99, 100, 101, 199, 600, 1000, Number.NaN])('status %s is UPSTREAM_INVALID (502)', (status) => {
    expect(() => rewriteResponse(upstream({ status }), options)).toThrow(
      expect.objectContaining({ code: 'HANGAR_E_UPSTREAM_INVALID', status: 502 }),
    );
  });
});

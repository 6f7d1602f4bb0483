/**
 * S5 steps 5-7 against the real front end in process (frontend-harness.ts), with a stub
 * instance that answers as the pipeline fixture app does: the headers the instance gets, the
 * buffered and rewritten response the client gets (32 MiB cap, header rules, 502 for invalid
 * answers with the app's default error page), and gzip. What needs a real instance (an app
 * that streams, an answer that is not HTTP) stays in test/e2e/pipeline-response.test.ts.
 */
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FrontendHarness,
  headerMap,
  reply,
  startFrontendHarness,
} from '../../test/helpers/frontend-harness.js';
import {
  expectHygiene,
  expectRewrittenHeaders,
  hygieneRequestHeaders,
} from '../../test/helpers/pipeline-cases.js';
import { rawRequest } from '../../test/helpers/raw-http.js';
import type { InstanceRequest, InstanceResponse } from '../scheduler/instance.js';

const limit = 32 * 1024 * 1024;
const browser = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** What test/fixtures/pipeline/main.ts answers, as its instance would hand it to the front end. */
function app(request: InstanceRequest): InstanceResponse {
  const url = new URL(request.url, 'http://stub');
  switch (url.pathname) {
    case '/size': {
      const n = Number(url.searchParams.get('n') ?? 0);
      return reply(Buffer.alloc(n, 'a'), {
        headers: { 'content-type': url.searchParams.get('type') ?? 'application/octet-stream' },
      });
    }
    case '/text': {
      const n = Number(url.searchParams.get('n') ?? 1000);
      // A string body: Response adds its text/plain content type.
      const headers: Record<string, string> = { 'content-type': 'text/plain;charset=UTF-8' };
      for (const [name, value] of url.searchParams) if (name !== 'n') headers[name] = value;
      return reply('hello gzip '.repeat(Math.ceil(n / 11)).slice(0, n), { headers });
    }
    case '/headers':
      // Web Headers as the instance passes them: lower-case names, Set-Cookie kept apart.
      return reply('no content type', {
        headers: {
          server: 'app-server/1.0',
          date: 'Thu, 01 Jan 1970 00:00:00 GMT',
          'x-latin': 'caf\u00e9',
          'x-plain': 'kept',
          connection: 'x-drop-me',
          'x-drop-me': 'dropped',
          'keep-alive': 'timeout=1',
          'set-cookie': ['a=1', 'b=2'],
          'cache-control': 'public, max-age=600',
        },
      });
    case '/no-content':
      return reply('', { status: 204, headers: { 'x-note': 'nothing' } });
    case '/raw/status-600':
      return reply('ok', { status: 600, headers: { 'content-length': '2' } });
    case '/raw/bad-framing':
      // Stands in for undici refusing the instance's answer (not a HangarError).
      throw Object.assign(new Error('Response does not match the HTTP/1.1 protocol'), {
        code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
      });
    default:
      return reply(`pipeline app at ${url.pathname}`, { headers: { 'content-type': 'text/plain' } });
  }
}

describe('front end: request headers, buffered responses, gzip (S5 steps 5-7)', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ handler: app });
  });
  afterAll(() => h.stop());

  const get = (path: string, headers = '') =>
    rawRequest(h.url, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);
  /** The last request the instance received. */
  const lastReceived = () => h.received.at(-1)!;

  it('the app never sees Accept-Encoding, forged platform headers or Connection-named ones; it sees what the front end adds', async () => {
    const res = await get('/echo', hygieneRequestHeaders);
    expect(res.status).toBe(200);
    const request = lastReceived();
    expect(request.url).toBe('/echo');
    expect(request.https).toBe(false);
    expectHygiene(headerMap(request));
  });

  it('without a client trace, the request id is the trace id', async () => {
    await get('/echo');
    const request = lastReceived();
    const seen = headerMap(request);
    expect(seen.get('x-cloud-trace-context')).toMatch(/^[0-9a-f]{32}\/\d+;o=0$/);
    expect(seen.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(seen.get('x-cloud-trace-context')).toMatch(new RegExp(`^${request.requestId}/`));
  });

  it('rewrites response headers: Server, Date, non-ASCII, hop-by-hop, Content-Type, Set-Cookie → private', async () => {
    expectRewrittenHeaders(await get('/headers'));
  });

  it('204 goes out without a body or Content-Length; HEAD keeps the Content-Length GET would have', async () => {
    const noContent = await get('/no-content');
    expect(noContent.status).toBe(204);
    expect(noContent.headers['content-length']).toBeUndefined();
    expect(noContent.headers['x-note']).toEqual(['nothing']);
    const head = await rawRequest(
      h.url,
      'HEAD /size?n=1234 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      {
        head: true,
        untilClose: true,
      },
    );
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toEqual(['1234']);
    // Nothing after the head: the connection closed with no body bytes.
    expect(head.raw.length).toBe(head.raw.indexOf('\r\n\r\n') + 4);
  });

  it('a response of exactly 32 MiB passes', async () => {
    const res = await get(`/size?n=${limit}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toEqual([String(limit)]);
    expect(res.body.length).toBe(limit);
  });

  it('a response of 32 MiB + 1 byte becomes an empty 500, logged with its size', async () => {
    const res = await get(`/size?n=${limit + 1}`);
    expect(res.status).toBe(500);
    expect(res.headers['content-length']).toEqual(['0']);
    expect(res.body.length).toBe(0);
    const record = await h.record((r) => r.resource === '/size?n=33554433');
    expect(record.status).toBe(500);
    expect(record.error).toMatch(/^HANGAR_E_RESPONSE_TOO_LARGE: the response body has 33554433 bytes/);
  });

  it('an upstream status outside 100-599 and an answer the client library refuses become 502 with the default error page', async () => {
    for (const path of ['/raw/status-600', '/raw/bad-framing']) {
      const res = await get(path);
      expect(res.status, path).toBe(502);
      expect(res.headers['content-type']).toEqual(['text/html; charset=utf-8']);
      expect(res.body.toString()).toContain('pipeline app: default error page');
    }
    const status600 = await h.record((r) => r.resource === '/raw/status-600');
    expect(status600.status).toBe(502);
    expect(status600.error).toMatch(/^HANGAR_E_UPSTREAM_INVALID: the instance answered with status 600/);
    const badFraming = await h.record((r) => r.resource === '/raw/bad-framing');
    expect(badFraming.status).toBe(502);
    expect(badFraming.error).toMatch(/^HANGAR_E_UPSTREAM_INVALID: /);
    // The instance is still serving.
    expect((await get('/echo')).status).toBe(200);
  });

  describe('gzip (S5 step 7)', () => {
    const text = (query: string, headers: string) => get(`/text?${query}`, headers);

    it('compresses text for a browser that accepts gzip, with Vary and a weak ETag', async () => {
      const res = await text(
        'n=5000&etag=%22v1%22',
        `Accept-Encoding: gzip, br\r\nUser-Agent: ${browser}\r\n`,
      );
      expect(res.headers['content-encoding']).toEqual(['gzip']);
      expect(res.headers.vary).toEqual(['Accept-Encoding']);
      expect(res.headers.etag).toEqual(['W/"v1"']);
      expect(res.headers['content-length']).toEqual([String(res.body.length)]);
      expect(res.body.length).toBeLessThan(5000);
      expect(gunzipSync(res.body).toString()).toBe('hello gzip '.repeat(455).slice(0, 5000));
    });

    it('compresses for a custom client with gzip in both headers, not for one without it in User-Agent', async () => {
      const custom = await text('n=5000', 'Accept-Encoding: gzip\r\nUser-Agent: my-client/1.0 (gzip)\r\n');
      expect(custom.headers['content-encoding']).toEqual(['gzip']);
      const plain = await text('n=5000', 'Accept-Encoding: gzip\r\nUser-Agent: my-client/1.0\r\n');
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.length).toBe(5000);
    });

    it('leaves tiny bodies, binary types and already-encoded bodies alone', async () => {
      const headers = `Accept-Encoding: gzip\r\nUser-Agent: ${browser}\r\n`;
      expect((await text('n=100', headers)).headers['content-encoding']).toBeUndefined();
      expect((await get('/size?n=5000&type=image/png', headers)).headers['content-encoding']).toBeUndefined();
      const encoded = await text('n=5000&content-encoding=br', headers);
      expect(encoded.headers['content-encoding']).toEqual(['br']);
      expect(encoded.body.length).toBe(5000);
    });
  });

  it('every request was counted and logged once, and every lease released', () => {
    expect(h.records.length).toBeGreaterThan(0);
    expect(h.counted).toEqual(h.records);
    expect(new Set(h.records.map((r) => r.requestId)).size).toBe(h.records.length);
    expect(h.leases.released).toBe(h.leases.acquired);
  });
});

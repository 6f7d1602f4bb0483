/**
 * S5 steps 5-7 against a real `hangar dev`, for what only a real instance shows: the headers
 * a real app sees, its response rewritten, a too-large body, apps that stream (the response
 * still arrives whole), answers that are not valid HTTP (502 with the app's default error
 * page), and one gzip case. The rest of steps 5-7 is tested in process in
 * src/frontend/pipeline-response.test.ts.
 */
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { expectHygiene, expectRewrittenHeaders, hygieneRequestHeaders } from '../helpers/pipeline-cases.js';
import { openSocket, rawRequest, readResponse } from '../helpers/raw-http.js';

const limit = 32 * 1024 * 1024;
const browser = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('front end: request headers, buffered responses, gzip (S5 steps 5-7)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([join(repoRoot, 'test/fixtures/pipeline')], ['--no-watch']);
  });
  afterAll(() => dev.stop());

  const get = (path: string, headers = '') =>
    rawRequest(dev.url, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`);

  it('the app never sees Accept-Encoding, forged platform headers or Connection-named ones; it sees what the front end adds', async () => {
    const res = await get('/echo', hygieneRequestHeaders);
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as { headers: Array<[string, string]>; https: string };
    expect(echo.https).toBe('off');
    expectHygiene(new Map(echo.headers));
  });

  it('rewrites response headers: Server, Date, non-ASCII, hop-by-hop, Content-Type, Set-Cookie → private', async () => {
    expectRewrittenHeaders(await get('/headers'));
  });

  it('a response of 32 MiB + 1 byte becomes an empty 500, logged with its size', async () => {
    const res = await get(`/size?n=${limit + 1}`);
    expect(res.status).toBe(500);
    expect(res.headers['content-length']).toEqual(['0']);
    expect(res.body.length).toBe(0);
    await dev.waitFor(
      /GET \/size\?n=33554433 500 .*HANGAR_E_RESPONSE_TOO_LARGE: the response body has 33554433 bytes/,
    );
  });

  for (const path of ['/stream', '/raw/stream']) {
    it(`a streaming app's response (${path}) arrives whole, with Content-Length, after the body was produced`, async () => {
      const socket = await openSocket(dev.url);
      try {
        let firstByteAt: number | undefined;
        socket.once('data', () => {
          firstByteAt = performance.now();
        });
        const response = readResponse(socket);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
        // Wait until the app has produced its first chunk and blocks on /release.
        for (;;) {
          const { state } = (await (await fetch(`${dev.url}/stream-state`)).json()) as { state: string };
          if (state === 'waiting') break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // An observation window, not synchronisation: a streaming front end would have sent the
        // head and first chunk by now; a buffering one sends nothing.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(firstByteAt).toBeUndefined();
        const releasedAt = performance.now();
        expect(await (await fetch(`${dev.url}/release`)).json()).toEqual({ released: true });
        const res = await response;
        expect(firstByteAt).toBeGreaterThanOrEqual(releasedAt);
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe('first chunk;second chunk;');
        expect(res.headers['content-length']).toEqual(['25']);
        expect(res.headers['transfer-encoding']).toBeUndefined();
      } finally {
        socket.destroy();
      }
    });
  }

  it('an upstream status outside 100-599 and invalid upstream framing become 502 with the default error page', async () => {
    for (const path of ['/raw/status-600', '/raw/bad-framing']) {
      const res = await get(path);
      expect(res.status, path).toBe(502);
      expect(res.headers['content-type']).toEqual(['text/html; charset=utf-8']);
      expect(res.body.toString()).toContain('pipeline app: default error page');
    }
    await dev.waitFor(
      /GET \/raw\/status-600 502 .*HANGAR_E_UPSTREAM_INVALID: the instance answered with status 600/,
    );
    await dev.waitFor(/GET \/raw\/bad-framing 502 .*HANGAR_E_UPSTREAM_INVALID/);
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

    it("keeps App Engine's rule for curl (docs/pipeline.md): --compressed alone gets identity, a User-Agent naming gzip gets gzip", async () => {
      // What `curl --compressed` sends (curl 8 with every decoder built in).
      const compressed = 'Accept-Encoding: deflate, gzip, br, zstd\r\n';
      const plain = await text('n=5000', `${compressed}User-Agent: curl/8.5.0\r\n`);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.length).toBe(5000);
      const named = await text('n=5000', `${compressed}User-Agent: curl gzip\r\n`);
      expect(named.headers['content-encoding']).toEqual(['gzip']);
      expect(gunzipSync(named.body).length).toBe(5000);
    });
  });
});

/**
 * S5 step 2 over raw sockets against a real `hangar dev`: every framing vector gets its status,
 * a terminal line naming the rule with the request id, and never reaches the instance (the
 * fixture app counts the requests it sees). Limits are the real defaults: 32 MiB bodies,
 * 100 headers, 16 KiB of header bytes.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { openSocket, rawRequest, readResponse } from '../helpers/raw-http.js';

const MiB = 1024 * 1024;
const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const limit = 32 * MiB;

describe('front end: framing and size checks (S5 step 2)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([join(repoRoot, 'test/fixtures/pipeline')], ['--no-watch']);
  });
  afterAll(() => dev.stop());

  const seen = async () => ((await (await fetch(`${dev.url}/count`)).json()) as { seen: number }).seen;

  /** Sends `request`, expects `status`, a logged rejection naming `code`, and no request at the app. */
  async function expectRejected(name: string, request: string, status: number, code: string) {
    const before = await seen();
    const res = await rawRequest(dev.url, request, { head: request.startsWith('HEAD ') });
    expect(res.status, `${name}: ${res.raw.toString('latin1', 0, 200)}`).toBe(status);
    // The terminal line: method and target as sent, status, the rule hit, the request id.
    const [method, target] = request.split(' ', 2) as [string, string];
    await dev.waitFor(
      new RegExp(
        `^${escapeRe(method)} ${escapeRe(target)} ${status} [\\d.]+ ms.*\\(HANGAR_E_${code}: .*; request [0-9a-f]{32}\\)$`,
        'm',
      ),
    );
    expect(await seen(), `${name} reached the app`).toBe(before);
    return res;
  }

  const vectors: Array<[string, string, number, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      'POST /v/cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'duplicate Content-Length',
      'POST /v/dup-cl HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'Transfer-Encoding: gzip, chunked',
      'POST /v/te-gzip HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'two Transfer-Encoding headers',
      'POST /v/te-twice HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'Transfer-Encoding on HTTP/1.0',
      'POST /v/te-10 HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    ['duplicate Host', 'GET /v/dup-host HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'REQUEST_MALFORMED'],
    ['missing Host', 'GET /v/no-host HTTP/1.1\r\n\r\n', 400, 'REQUEST_MALFORMED'],
    ['TRACE', 'TRACE /v/trace HTTP/1.1\r\nHost: a\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
    [
      'GET with a body',
      'GET /v/get-body HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'HEAD with a chunked body',
      'HEAD /v/head-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'malformed chunk size',
      'POST /v/bad-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'Expect other than 100-continue',
      'POST /v/expect HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n',
      417,
      'EXPECTATION_FAILED',
    ],
    [
      'absolute-form request target',
      'GET http://a/v/absolute HTTP/1.1\r\nHost: a\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
  ];
  for (const [name, request, status, code] of vectors) {
    it(`${name} → ${status}`, async () => {
      const res = await expectRejected(name, request, status, code);
      if (status === 405) expect(res.headers.allow?.[0]).toContain('GET');
    });
  }

  it('more than max_header_count (100) headers → 431; exactly 100 pass', async () => {
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');
    // Host + 99 = 100 headers: at the limit, served.
    const before = await seen();
    const exact = await rawRequest(dev.url, `GET /v/h100 HTTP/1.1\r\nHost: a\r\n${headers(99)}\r\n`);
    expect(exact.status).toBe(200);
    expect(await seen()).toBe(before + 1);
    await expectRejected(
      '101 headers',
      `GET /v/h101 HTTP/1.1\r\nHost: a\r\n${headers(100)}\r\n`,
      431,
      'REQUEST_HEADERS_TOO_LARGE',
    );
    // 1500 headers, under the byte limit: Node alone would drop all past its count and serve it.
    await expectRejected(
      '1500 headers',
      `GET /v/h1500 HTTP/1.1\r\nHost: a\r\n${headers(1499)}\r\n`,
      431,
      'REQUEST_HEADERS_TOO_LARGE',
    );
  });

  it('more than max_header_bytes (16 KiB) of headers → 431', async () => {
    await expectRejected(
      'big header',
      `GET /v/big-header HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`,
      431,
      'REQUEST_HEADERS_TOO_LARGE',
    );
  });

  it('. and .. segments → 302 to the normalised path (also percent-encoded), query kept', async () => {
    const before = await seen();
    const res = await rawRequest(dev.url, 'GET /a/./b/../%2e%2E/c?x=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(res.status).toBe(302);
    expect(res.headers.location).toEqual(['/c?x=1']);
    await dev.waitFor(/GET \/a\/\.\/b\/\.\.\/%2e%2E\/c\?x=1 302 .*HANGAR_E_PATH_NOT_NORMALISED/);
    expect(await seen()).toBe(before);
  });

  it(`Content-Length ${limit + 1} → 413 at once, while the client has sent no body`, async () => {
    const before = await seen();
    const res = await rawRequest(
      dev.url,
      `POST /v/cl-too-big HTTP/1.1\r\nHost: a\r\nContent-Length: ${limit + 1}\r\n\r\n`,
      { untilClose: true, timeoutMs: 10_000 },
    );
    expect(res.status).toBe(413);
    expect(res.closed).toBe(true);
    await dev.waitFor(
      /POST \/v\/cl-too-big 413 .*HANGAR_E_REQUEST_TOO_LARGE: Content-Length 33554433 exceeds/,
    );
    expect(await seen()).toBe(before);
  });

  it('with Expect: 100-continue the 413 comes without a 100 Continue', async () => {
    const res = await rawRequest(
      dev.url,
      `POST /v/expect-too-big HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: ${limit + 1}\r\n\r\n`,
    );
    expect(res.status).toBe(413);
    expect(res.raw.toString('latin1', 0, 12)).toBe('HTTP/1.1 413');
  });

  it('with Expect: 100-continue an acceptable body gets its 100 Continue, then the app answers', async () => {
    const socket = await openSocket(dev.url);
    try {
      socket.write('POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      const first = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
      expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
      const response = readResponse(socket);
      socket.write('hello');
      const res = await response;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).bodyLength).toBe(5);
    } finally {
      socket.destroy();
    }
  });

  it('a 32 MiB body passes, byte for byte', async () => {
    const before = await seen();
    const body = Buffer.alloc(limit, 7);
    body.write('start', 0);
    body.write('end', limit - 3);
    const res = await rawRequest(
      dev.url,
      Buffer.concat([
        Buffer.from(`POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${limit}\r\n\r\n`),
        body,
      ]),
    );
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as { bodyLength: number; bodySha256: string };
    expect(echo.bodyLength).toBe(limit);
    expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(await seen()).toBe(before + 1);
  });

  it('a chunked body crossing 32 MiB → 413 and the connection closes', async () => {
    const before = await seen();
    const socket = await openSocket(dev.url);
    try {
      const response = readResponse(socket);
      let answered = false;
      response.then(
        () => {
          answered = true;
        },
        () => {
          answered = true;
        },
      );
      socket.on('error', () => {}); // the server may reset once it has answered; the answer is read
      socket.write('POST /v/chunked-too-big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(MiB, 1);
      const frame = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      let sent = 0;
      // Send up to 40 MiB, with back-pressure, until the answer arrives.
      while (!answered && sent < 40 * MiB && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(frame)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              resolve();
            };
            socket.once('drain', done);
            socket.once('close', done);
            response.then(done, done);
          });
        }
      }
      const res = await response;
      expect(res.status).toBe(413);
      expect(res.headers.connection).toEqual(['close']);
      expect(sent).toBeGreaterThan(limit - 2 * MiB);
      await dev.waitFor(
        /POST \/v\/chunked-too-big 413 .*HANGAR_E_REQUEST_TOO_LARGE: the request body crossed/,
      );
    } finally {
      socket.destroy();
    }
    expect(await seen()).toBe(before);
  });
});

/**
 * S5 step 2 over raw sockets against the real front end in process (frontend-harness.ts):
 * every framing vector gets its status, a request record naming the rule with the request id,
 * and never reaches an instance. Limits are the real defaults: 32 MiB bodies, 100 headers,
 * 16 KiB of header bytes. test/e2e/pipeline-framing.test.ts keeps a few of these against a
 * real `hangar dev`.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontendHarness, reply, startFrontendHarness } from '../../test/helpers/frontend-harness.js';
import { expectLargestBodyPasses } from '../../test/helpers/pipeline-cases.js';
import { openSocket, rawRequest, readResponse } from '../../test/helpers/raw-http.js';
import type { InstanceRequest, InstanceResponse } from '../scheduler/instance.js';
import type { RouteRequest, RouteTable } from './route.js';

const MiB = 1024 * 1024;
const limit = 32 * MiB;

/** The stub instance: the fixture app's `/echo` (body length and hash), else a line naming the path. */
function app(request: InstanceRequest): InstanceResponse {
  if (request.url === '/echo') {
    const body = Buffer.concat(request.body);
    return reply(
      JSON.stringify({
        bodyLength: body.length,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      }),
      { headers: { 'content-type': 'application/json' } },
    );
  }
  return reply(`pipeline app at ${request.url}`, { headers: { 'content-type': 'text/plain' } });
}

describe('front end: framing and size checks (S5 step 2)', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ handler: app });
  });
  afterAll(() => h.stop());

  /** Sends `request`, expects `status`, a recorded rejection naming `code`, and no request at the instance. */
  async function expectRejected(name: string, request: string, status: number, code: string) {
    const before = h.received.length;
    const res = await rawRequest(h.url, request, { head: request.startsWith('HEAD ') });
    expect(res.status, `${name}: ${res.raw.toString('latin1', 0, 200)}`).toBe(status);
    // The request log's record: method and target as sent, status, the rule hit, the request id.
    const [method, target] = request.split(' ', 2) as [string, string];
    const record = await h.record((r) => r.method === method && r.resource === target);
    expect(record.status, name).toBe(status);
    expect(record.error, name).toMatch(new RegExp(`^HANGAR_E_${code}: `));
    expect(record.requestId, name).toMatch(/^[0-9a-f]{32}$/);
    expect(h.received.length, `${name} reached the app`).toBe(before);
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
    const before = h.received.length;
    const exact = await rawRequest(h.url, `GET /v/h100 HTTP/1.1\r\nHost: a\r\n${headers(99)}\r\n`);
    expect(exact.status).toBe(200);
    expect(h.received.length).toBe(before + 1);
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
    const before = h.received.length;
    const res = await rawRequest(h.url, 'GET /a/./b/../%2e%2E/c?x=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(res.status).toBe(302);
    expect(res.headers.location).toEqual(['/c?x=1']);
    const record = await h.record((r) => r.resource === '/a/./b/../%2e%2E/c?x=1');
    expect(record.status).toBe(302);
    expect(record.error).toMatch(/^HANGAR_E_PATH_NOT_NORMALISED: /);
    expect(h.received.length).toBe(before);
  });

  it(`Content-Length ${limit + 1} → 413 at once, while the client has sent no body`, async () => {
    const before = h.received.length;
    const res = await rawRequest(
      h.url,
      `POST /v/cl-too-big HTTP/1.1\r\nHost: a\r\nContent-Length: ${limit + 1}\r\n\r\n`,
      { untilClose: true, timeoutMs: 10_000 },
    );
    expect(res.status).toBe(413);
    expect(res.closed).toBe(true);
    const record = await h.record((r) => r.resource === '/v/cl-too-big');
    expect(record.status).toBe(413);
    expect(record.error).toMatch(/^HANGAR_E_REQUEST_TOO_LARGE: Content-Length 33554433 exceeds/);
    expect(h.received.length).toBe(before);
  });

  it('with Expect: 100-continue the 413 comes without a 100 Continue', async () => {
    const res = await rawRequest(
      h.url,
      `POST /v/expect-too-big HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: ${limit + 1}\r\n\r\n`,
    );
    expect(res.status).toBe(413);
    expect(res.raw.toString('latin1', 0, 12)).toBe('HTTP/1.1 413');
  });

  it('with Expect: 100-continue an acceptable body gets its 100 Continue, then the app answers', async () => {
    const socket = await openSocket(h.url);
    try {
      socket.write('POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      const first = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
      expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
      const response = readResponse(socket);
      socket.write('hello');
      const res = await response;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).bodyLength).toBe(5);
      // The instance got the body, not the Expect header (answered here).
      const got = h.received.at(-1)!;
      expect(Buffer.concat(got.body).toString()).toBe('hello');
      expect(got.headers.some((name, i) => i % 2 === 0 && name.toLowerCase() === 'expect')).toBe(false);
    } finally {
      socket.destroy();
    }
  });

  it('a 32 MiB body passes, byte for byte', async () => {
    const before = h.received.length;
    await expectLargestBodyPasses(h.url, limit);
    expect(h.received.length).toBe(before + 1);
  });

  it('a chunked body crossing 32 MiB → 413 and the connection closes', async () => {
    const before = h.received.length;
    const socket = await openSocket(h.url);
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
      const record = await h.record((r) => r.resource === '/v/chunked-too-big');
      expect(record.status).toBe(413);
      expect(record.error).toMatch(/^HANGAR_E_REQUEST_TOO_LARGE: the request body crossed/);
    } finally {
      socket.destroy();
    }
    expect(h.received.length).toBe(before);
  });

  it('every lease taken was released', () => {
    expect(h.leases.acquired).toBeGreaterThan(0);
    expect(h.leases.released).toBe(h.leases.acquired);
  });
});

describe('front end: routing, quotas and secure: (S5 step 3)', () => {
  it('the route table gets host, path, cookie and client address; no route → 404 naming the host, no instance', async () => {
    const asked: RouteRequest[] = [];
    // Copies what it is asked: the pipeline's request object is not kept past the call.
    const routes: RouteTable = {
      route: ({ host, path, cookie, ip }) => {
        asked.push({ host, path, cookie, ip });
        return undefined;
      },
    };
    const h = await startFrontendHarness({ handler: app, routes });
    try {
      const res = await rawRequest(
        h.url,
        'GET /some/where?q=1 HTTP/1.1\r\nHost: API.localhost:8080\r\nCookie: GOOGAPPUID=42\r\n\r\n',
      );
      expect(res.status).toBe(404);
      expect(res.body.toString()).toContain('No service answers for host API.localhost:8080.');
      expect(asked).toEqual([
        { host: 'API.localhost:8080', path: '/some/where', cookie: 'GOOGAPPUID=42', ip: '127.0.0.1' },
      ]);
      const record = await h.record((r) => r.resource === '/some/where?q=1');
      expect(record.status).toBe(404);
      expect(record.error).toMatch(/^HANGAR_E_SERVICE_NOT_FOUND: /);
      expect(record.app).toBeUndefined();
      expect(h.received).toEqual([]);
    } finally {
      await h.stop();
    }
  });

  it('a route is recorded with its app, service and version; the app is over quota → 503 with its page', async () => {
    const h = await startFrontendHarness({ handler: app, overQuota: () => 'requests' });
    try {
      const res = await rawRequest(h.url, 'GET /quota HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toEqual(['text/html']);
      const record = await h.record((r) => r.resource === '/quota');
      expect(record).toMatchObject({ app: 'harness', service: 'default', status: 503 });
      expect(record.error).toMatch(/^HANGAR_E_OVER_QUOTA: app harness has used up its daily requests quota/);
      expect(h.received).toEqual([]);
    } finally {
      await h.stop();
    }
  });

  it('secure: always redirects HTTP to the HTTPS port with redirect_http_response_code; nothing reaches the instance', async () => {
    const h = await startFrontendHarness({ handler: app, ports: { http: 8080, https: 8443 } });
    try {
      const res = await rawRequest(h.url, 'GET /secure-always?x=1 HTTP/1.1\r\nHost: localhost:1234\r\n\r\n');
      expect(res.status).toBe(302);
      expect(res.headers.location).toEqual(['https://localhost:8443/secure-always?x=1']);
      expect(res.headers['content-length']).toEqual(['0']);
      expect(res.headers.server).toEqual(['Development/0.1']);
      const permanent = await rawRequest(h.url, 'GET /secure-always-301 HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(permanent.status).toBe(301);
      expect(permanent.headers.location).toEqual(['https://localhost:8443/secure-always-301']);
      const record = await h.record((r) => r.resource === '/secure-always-301');
      expect(record.status).toBe(301);
      expect(h.received).toEqual([]);
      // secure: never is served over HTTP as it came.
      const never = await rawRequest(h.url, 'GET /secure-never HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(never.status).toBe(200);
      expect(h.received.map((r) => r.url)).toEqual(['/secure-never']);
    } finally {
      await h.stop();
    }
  });

  it('secure: always without an HTTPS listener is served over HTTP, with one warning per handler', async () => {
    const h = await startFrontendHarness({ handler: app });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await rawRequest(h.url, 'GET /secure-always HTTP/1.1\r\nHost: localhost\r\n\r\n');
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe('pipeline app at /secure-always');
      }
      expect(h.warnings).toEqual([
        'handler /secure-always has secure: always, but there is no HTTPS listener (--https-port); serving it over HTTP',
      ]);
    } finally {
      await h.stop();
    }
  });
});

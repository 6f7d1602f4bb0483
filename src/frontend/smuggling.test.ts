/**
 * Issue 14, deliverable 1: after any step-2 refusal nothing more is read from the connection as
 * a request, and a request Node's parser refuses always gets its 4xx, pipelined or not.
 *
 * The corpus: each vector is a request S5 step 2 (or Node's parser) must refuse, sent with a
 * valid request pipelined behind it in the same write, so both arrive in one read. For every
 * one: its status and nothing else comes back, the connection is closed, the refusal is in the
 * request log with its rule, and neither request reached an instance (the harness's stub
 * instances record everything they receive). Controls show that a pipelined request that may
 * run does reach the instance, so the assertions can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontendHarness, reply, startFrontendHarness } from '../../test/helpers/frontend-harness.js';
import { type Conversation, converse } from '../../test/helpers/raw-http.js';
import type { InstanceRequest, InstanceResponse } from '../scheduler/instance.js';

/** The stub app: `/slow` answers after 150 ms (an app at work while more arrives); the rest at once. */
async function app(request: InstanceRequest): Promise<InstanceResponse> {
  if (request.url.startsWith('/slow')) await new Promise((resolve) => setTimeout(resolve, 150));
  return reply(`app at ${request.url}`, { headers: { 'content-type': 'text/plain' } });
}

/** A valid request, to pipeline behind a vector: it must never run. */
const smuggled = (tag: string) => `GET /smuggled/${tag} HTTP/1.1\r\nHost: a\r\n\r\n`;

/** A valid request that ends the connection after its answer (for controls that expect it to run). */
const last = (tag: string) => `GET /smuggled/${tag} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;

const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');

const H = 'Host: a\r\n';
const big = (n: number) => 'b'.repeat(n);
const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');

/** [name, a request that must be refused, its status] */
// biome-ignore format: one vector per line reads as a table
const vectors: Array<[string, string, number]> = [
  // Content-Length with Transfer-Encoding
  ['CL then TE', `POST /v HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE then CL', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400],
  ['CL.TE classic', `POST /v HTTP/1.1\r\n${H}Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED`, 400],
  ['TE.CL classic', `POST /v HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5c\r\nGPOST /x HTTP/1.1\r\nContent-Type: x\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n`, 400],
  ['CL 0 with TE', `POST /v HTTP/1.1\r\n${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGPOST\r\n0\r\n\r\n`, 400],
  ['CL with TE identity', `POST /v HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc`, 400],
  ['CL with uppercase TE', `POST /v HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`, 400],
  // Transfer-Encoding variants
  ['TE gzip, chunked', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE chunked, identity', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE chunked, chunked', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE identity', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE xchunked', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE quoted', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n`, 400],
  ['TE with parameter', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n`, 400],
  ['TE obs-fold', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE obs-fold continuation', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE space before colon', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE tab before colon', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['GET with tab-separated TE', `GET /v HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n`, 400],
  ['GET with uppercase TE', `GET /v HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`, 400],
  ['GET with TE, no space', `GET /v HTTP/1.1\r\n${H}Transfer-Encoding:chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE twice', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE gzip then chunked headers', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE chunked then identity headers', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE with NUL', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n`, 400],
  ['TE with vertical tab', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`, 400],
  // Bad chunk sizes
  ['chunk size not hex', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 400],
  ['negative chunk size', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n`, 400],
  ['0x chunk size', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`, 400],
  ['overflowing chunk size', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n`, 400],
  ['chunk size with leading space', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n`, 400],
  ['chunk size line ending in LF', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`, 400],
  ['chunk data longer than its size', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n`, 400],
  ['chunk data without CRLF', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n`, 400],
  ['empty chunk size', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n`, 400],
  // Chunk extensions
  ['chunk extension with NUL', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a\x00b\r\nabc\r\n0\r\n\r\n`, 400],
  ['chunk extension with bare LF', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;ext\nabc\r\n0\r\n\r\n`, 400],
  ['chunk extension unterminated quote', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a="x\r\nabc\r\n0\r\n\r\n`, 400],
  ['chunk extension with control byte', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n`, 400],
  ['chunk extensions over 16 KiB', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=${big(17_000)}\r\nabc\r\n0\r\n\r\n`, 400],
  // LF-only line endings
  ['request line ending in LF', `GET /v HTTP/1.1\n${H}\r\n`, 400],
  ['header line ending in LF', `GET /v HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n`, 400],
  ['all LF', `GET /v HTTP/1.1\nHost: a\n\n`, 400],
  ['head ending in LF LF', `GET /v HTTP/1.1\r\nHost: a\r\n\n`, 400],
  ['bare CR in header line', `GET /v HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n`, 400],
  // NUL and control bytes in headers
  ['NUL in header value', `GET /v HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400],
  ['SOH in header value', `GET /v HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, 400],
  ['DEL in header value', `GET /v HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400],
  ['ESC in header value', `GET /v HTTP/1.1\r\n${H}X-A: a\x1bb\r\n\r\n`, 400],
  ['NUL in header name', `GET /v HTTP/1.1\r\n${H}X-\x00A: b\r\n\r\n`, 400],
  ['space in header name', `GET /v HTTP/1.1\r\n${H}X A: b\r\n\r\n`, 400],
  ['empty header name', `GET /v HTTP/1.1\r\n${H}: b\r\n\r\n`, 400],
  ['header line without colon', `GET /v HTTP/1.1\r\n${H}X-A b\r\n\r\n`, 400],
  ['NUL in Host', `GET /v HTTP/1.1\r\nHost: a\x00b\r\n\r\n`, 400],
  // Duplicate Host, Content-Length; bad values
  ['two Host headers', `GET /v HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
  ['Host and host', `GET /v HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n`, 400],
  ['no Host', `GET /v HTTP/1.1\r\nX-A: b\r\n\r\n`, 400],
  ['empty Host', `GET /v HTTP/1.1\r\nHost: \r\n\r\n`, 400],
  ['Host with a space', `GET /v HTTP/1.1\r\nHost: a b\r\n\r\n`, 400],
  ['Host with userinfo', `GET /v HTTP/1.1\r\nHost: u@a\r\n\r\n`, 400],
  ['Host with a path', `GET /v HTTP/1.1\r\nHost: a/b\r\n\r\n`, 400],
  ['two equal Content-Lengths', `POST /v HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, 400],
  ['two different Content-Lengths', `POST /v HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400],
  ['Content-Length list', `POST /v HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, 400],
  ['Content-Length with plus', `POST /v HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 400],
  ['negative Content-Length', `POST /v HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
  ['hex Content-Length', `POST /v HTTP/1.1\r\n${H}Content-Length: 0x3\r\n\r\nabc`, 400],
  ['Content-Length with letters', `POST /v HTTP/1.1\r\n${H}Content-Length: 3a\r\n\r\nabc`, 400],
  ['Content-Length over max_request_bytes', `POST /v HTTP/1.1\r\n${H}Content-Length: 33554433\r\n\r\n`, 413],
  // Request targets
  ['absolute-form http', `GET http://a/v HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form https to another host', `GET https://evil.example/v HTTP/1.1\r\n${H}\r\n`, 400],
  ['asterisk-form', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 400],
  ['authority-form on GET', `GET a:443 HTTP/1.1\r\n${H}\r\n`, 400],
  ['space in target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['NUL in target', `GET /a\x00b HTTP/1.1\r\n${H}\r\n`, 400],
  ['target over max_header_bytes', `GET /${big(17 * 1024)} HTTP/1.1\r\n${H}\r\n`, 431],
  // HTTP versions
  ['HTTP/1.0 with TE', `POST /v HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['HTTP/1.0 with TE and CL', `POST /v HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400],
  ['HTTP/1.2', `GET /v HTTP/1.2\r\n${H}\r\n`, 400],
  ['HTTP/2.0', `GET /v HTTP/2.0\r\n${H}\r\n`, 400],
  ['HTTP/0.9 request line', `GET /v\r\n\r\n`, 400],
  ['HTTP/2 preface', `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, 400],
  ['lowercase protocol', `GET /v http/1.1\r\n${H}\r\n`, 400],
  // Methods
  ['TRACE', `TRACE /v HTTP/1.1\r\n${H}\r\n`, 405],
  // llhttp does not know TRACK: refused by the parser as an unknown method.
  ['TRACK', `TRACK /v HTTP/1.1\r\n${H}\r\n`, 400],
  ['CONNECT', `CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n`, 405],
  ['lowercase trace', `trace /v HTTP/1.1\r\n${H}\r\n`, 400],
  ['unknown method', `FOO /v HTTP/1.1\r\n${H}\r\n`, 400],
  // GET/HEAD with a body
  ['GET with Content-Length', `GET /v HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`, 400],
  ['GET with chunked body', `GET /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, 400],
  ['HEAD with Content-Length', `HEAD /v HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\na`, 400],
  ['HEAD with chunked body', `HEAD /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  // Oversize headers
  ['header value over max_header_bytes', `GET /v HTTP/1.1\r\n${H}X-Big: ${big(17 * 1024)}\r\n\r\n`, 431],
  ['101 headers', `GET /v HTTP/1.1\r\n${H}${headers(100)}\r\n`, 431],
  ['1500 headers', `GET /v HTTP/1.1\r\n${H}${headers(1499)}\r\n`, 431],
  // Request line garbage
  ['no space after the method', `GET/v HTTP/1.1\r\n${H}\r\n`, 400],
  ['extra token after the version', `GET /v HTTP/1.1 x\r\n${H}\r\n`, 400],
  ['bad character in method', `G@T /v HTTP/1.1\r\n${H}\r\n`, 400],
  ['TLS ClientHello on plain HTTP', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400],
  ['misspelt protocol', `GET /v HTTP/1.1x\r\n${H}\r\n`, 400],
  ['binary garbage', '\x00\x01\x02\x03\r\n\r\n', 400],
  // Expect
  ['Expect other than 100-continue', `POST /v HTTP/1.1\r\n${H}Expect: teapot\r\nContent-Length: 0\r\n\r\n`, 417],
];

describe('front end: nothing pipelined behind a refusal runs (S5 step 2, issue 14)', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ handler: app });
  });
  afterAll(() => h.stop());

  /** Sends `parts`; returns the conversation, what reached the instance and the records logged meanwhile. */
  async function run(parts: string[], options: { head?: boolean; pauseMs?: number } = {}) {
    const received = h.received.length;
    const records = h.records.length;
    const c = await converse(h.url, parts, { timeoutMs: 5_000, ...options });
    return {
      c,
      received: () => h.received.slice(received).map((r) => r.url),
      records: () => h.records.slice(records),
      /** The first record logged since the parts were sent (waits for it). */
      record: () => h.record((r) => h.records.indexOf(r) >= records),
    };
  }

  const describeRaw = (c: Conversation) => c.raw.toString('latin1', 0, 300);

  it(`the corpus has at least 60 vectors (${vectors.length})`, () => {
    expect(vectors.length).toBeGreaterThanOrEqual(60);
    expect(new Set(vectors.map(([name]) => name)).size).toBe(vectors.length);
  });

  const corpus = vectors.map(([name, request, status]) => ({ name, request, status }));
  it.each(corpus)(
    '$name → $status; the request pipelined behind it never runs',
    async ({ name, request, status }) => {
      const tag = slug(name);
      const { c, received, records, record } = await run([request + smuggled(tag)], {
        head: request.startsWith('HEAD '),
      });
      expect(c.statuses, describeRaw(c)).toEqual([status]);
      expect(c.closed, 'the connection is closed after the refusal').toBe(true);
      expect(c.responses[0]!.headers.connection).toEqual(['close']);
      const logged = await record();
      expect(logged.status).toBe(status);
      expect(logged.error).toMatch(/^HANGAR_E_[A-Z_]+: /);
      expect(logged.requestId).toMatch(/^[0-9a-f]{32}$/);
      expect(received(), 'reached an instance').toEqual([]);
      expect(records().map((r) => r.resource)).not.toContain(`/smuggled/${tag}`);
    },
  );

  // What is pipelined behind a refusal may come through any of the server's request events.
  const behind: Array<[string, (tag: string) => string]> = [
    ['a plain GET', smuggled],
    [
      'a POST with a body',
      (tag) => `POST /smuggled/${tag} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi`,
    ],
    [
      'a chunked POST',
      (tag) =>
        `POST /smuggled/${tag} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n`,
    ],
    [
      'Expect: 100-continue (checkContinue)',
      (tag) =>
        `POST /smuggled/${tag} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n`,
    ],
    [
      'an Upgrade request',
      (tag) =>
        `GET /smuggled/${tag} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    ],
    ['CONNECT', () => 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'],
    ['parser garbage', () => 'G@RBAGE / HTTP/1.1\r\n\r\n'],
    ['three GETs', (tag) => smuggled(`${tag}-1`) + smuggled(`${tag}-2`) + smuggled(`${tag}-3`)],
  ];
  const refusals: Array<[string, string, number]> = [
    ['TRACE', `TRACE /v HTTP/1.1\r\n${H}\r\n`, 405],
    ['GET with a chunked body', `GET /v HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['TE gzip, chunked', `POST /v HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 400],
  ];
  for (const [refusal, request, status] of refusals) {
    it.each(behind)(`${refusal} → ${status}, then %s: not run, not answered`, async (what, next) => {
      const tag = slug(`${refusal}-${what}`);
      const { c, received, records } = await run([request + next(tag)]);
      expect(c.statuses, describeRaw(c)).toEqual([status]);
      expect(c.closed).toBe(true);
      expect(received()).toEqual([]);
      // Only the refusal is logged: what came after it was never read as a request.
      await h.record((r) => r.method === request.split(' ')[0] && r.status === status);
      expect(records().map((r) => `${r.method} ${r.status}`)).toEqual([`${request.split(' ')[0]} ${status}`]);
    });
  }

  it('control: two valid requests pipelined are both served, in order', async () => {
    const { c, received } = await run([smuggled('ok-1') + last('ok-2')]);
    expect(c.statuses).toEqual([200, 200]);
    expect(c.responses.map((r) => r.body.toString())).toEqual([
      'app at /smuggled/ok-1',
      'app at /smuggled/ok-2',
    ]);
    expect(received().sort()).toEqual(['/smuggled/ok-1', '/smuggled/ok-2']);
  });

  it('control: a . segment redirect without a body keeps the connection; the next request runs', async () => {
    const { c, received } = await run([`GET /a/../b HTTP/1.1\r\n${H}\r\n${last('after-302')}`]);
    expect(c.statuses).toEqual([302, 200]);
    expect(received()).toEqual(['/smuggled/after-302']);
  });

  it('a . segment redirect of a request with a body closes the connection; nothing behind it runs', async () => {
    const { c, received } = await run([
      `POST /a/../b HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc${smuggled('after-302-body')}`,
    ]);
    expect(c.statuses).toEqual([302]);
    expect(c.closed).toBe(true);
    expect(received()).toEqual([]);
  });

  it('an Upgrade request is answered as HTTP/1.1 and the connection closes: nothing pipelined behind it is lost unanswered', async () => {
    const { c, received } = await run([
      `GET /up HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n${smuggled('after-upgrade')}`,
    ]);
    expect(c.statuses).toEqual([200]);
    expect(c.responses[0]!.headers.connection).toEqual(['close']);
    expect(c.closed).toBe(true);
    expect(received()).toEqual(['/up']);
  });

  it('a refused request whose body is still to come: neither its body nor a request sent after the answer runs', async () => {
    const socketParts = [
      `GET /v HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabcde`,
      `fghij${smuggled('late')}`,
    ];
    const { c, received } = await run(socketParts, { pauseMs: 100 });
    expect(c.statuses).toEqual([400]);
    expect(c.closed).toBe(true);
    expect(received()).toEqual([]);
  });

  it.each([
    ['Connection: close', `GET /said-close HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
    ['HTTP/1.0 without keep-alive', `GET /said-close HTTP/1.0\r\n${H}\r\n`],
  ])(
    'a request with %s is answered; what the client pipelined behind it is neither run nor logged',
    async (_, request) => {
      const { c, received, records } = await run([request + smuggled('after-close')]);
      expect(c.statuses).toEqual([200]);
      expect(c.closed).toBe(true);
      expect(received()).toEqual(['/said-close']);
      await h.record((r) => r.resource === '/said-close');
      expect(records().map((r) => `${r.method} ${r.resource} ${r.status}`)).toEqual(['GET /said-close 200']);
    },
  );

  describe('parser refusals behind requests that are served', () => {
    it('valid, then garbage in the same read: the 200, then the 400, then close', async () => {
      const { c, received, records } = await run([
        `GET /slow/1 HTTP/1.1\r\n${H}\r\nG@RBAGE / HTTP/1.1\r\n\r\n`,
      ]);
      expect(c.statuses, describeRaw(c)).toEqual([200, 400]);
      expect(c.responses[0]!.body.toString()).toBe('app at /slow/1');
      expect(c.closed).toBe(true);
      expect(received()).toEqual(['/slow/1']);
      // The garbage is logged as its own refusal, not under the request before it.
      const refusal = await h.record((r) => r.status === 400 && records().includes(r));
      expect(refusal).toMatchObject({ method: '-', resource: '-' });
      expect(refusal.error).toMatch(/^HANGAR_E_REQUEST_MALFORMED: unknown or malformed method/);
      expect(records().find((r) => r.resource === '/slow/1')?.status).toBe(200);
    });

    it('valid, then garbage in a later read: the 400 after the 200', async () => {
      const { c, received } = await run([`GET /slow/2 HTTP/1.1\r\n${H}\r\n`, 'G@RBAGE / HTTP/1.1\r\n\r\n'], {
        pauseMs: 20,
      });
      expect(c.statuses).toEqual([200, 400]);
      expect(c.closed).toBe(true);
      expect(received()).toEqual(['/slow/2']);
    });

    it('two valid, then Content-Length with Transfer-Encoding: 200, 200, 400', async () => {
      const { c, received } = await run([
        `GET /slow/3 HTTP/1.1\r\n${H}\r\nGET /4 HTTP/1.1\r\n${H}\r\n` +
          `POST /v HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ]);
      expect(c.statuses).toEqual([200, 200, 400]);
      expect(c.responses.map((r) => r.body.toString().slice(0, 14))).toEqual([
        'app at /slow/3',
        'app at /4',
        '400 Bad Reques',
      ]);
      expect(received()).toEqual(['/slow/3', '/4']);
    });

    it('valid, then headers over max_header_bytes: 200, 431', async () => {
      const { c } = await run([
        `GET /slow/5 HTTP/1.1\r\n${H}\r\nGET /v HTTP/1.1\r\n${H}X-Big: ${big(17 * 1024)}\r\n\r\n`,
      ]);
      expect(c.statuses).toEqual([200, 431]);
      expect(c.closed).toBe(true);
    });

    it('valid, then CONNECT: the 405 comes after the 200, not in its place', async () => {
      const { c, received } = await run([
        `GET /slow/6 HTTP/1.1\r\n${H}\r\nCONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n`,
      ]);
      expect(c.statuses, describeRaw(c)).toEqual([200, 405]);
      expect(c.responses[0]!.body.toString()).toBe('app at /slow/6');
      expect(received()).toEqual(['/slow/6']);
    });

    it('valid, then TRACE, then valid: 200, 405, and the third never runs', async () => {
      const { c, received } = await run([
        `GET /slow/7 HTTP/1.1\r\n${H}\r\nTRACE /v HTTP/1.1\r\n${H}\r\n${smuggled('third')}`,
      ]);
      expect(c.statuses).toEqual([200, 405]);
      expect(c.closed).toBe(true);
      expect(received()).toEqual(['/slow/7']);
    });
  });
});

describe('front end: a body refused while a request behind it is already parsed', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ handler: app, limits: { maxRequestBytes: 8 } });
  });
  afterAll(() => h.stop());

  it('a chunked body crossing max_request_bytes in the same read as a request behind it: 413, and that request never runs', async () => {
    const before = h.received.length;
    const c = await converse(h.url, [
      `POST /big HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n${smuggled('after-413')}`,
    ]);
    expect(c.statuses, c.raw.toString('latin1', 0, 200)).toEqual([413]);
    expect(c.closed).toBe(true);
    expect(h.received.slice(before).map((r) => r.url)).toEqual([]);
  });

  it('control: a body within the limit, with a request behind it in the same read: both run, in order', async () => {
    const before = h.received.length;
    const c = await converse(h.url, [
      `POST /small HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello${last('after-body')}`,
    ]);
    expect(c.statuses).toEqual([200, 200]);
    // Pipelined requests run concurrently; the answers keep their order.
    expect(c.responses.map((r) => r.body.toString())).toEqual([
      'app at /small',
      'app at /smuggled/after-body',
    ]);
    const got = h.received.slice(before);
    expect(got.map((r) => r.url).sort()).toEqual(['/small', '/smuggled/after-body']);
    expect(Buffer.concat(got.find((r) => r.url === '/small')!.body).toString()).toBe('hello');
  });
});

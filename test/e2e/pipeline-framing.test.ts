/**
 * S5 step 2 over raw sockets against a real `hangar dev`: a few representative cases, so the
 * multi-process path stays covered (the built CLI, the request line on the terminal, a real
 * instance counting the requests it sees). Every framing vector and limit is tested in process
 * in src/frontend/pipeline-framing.test.ts. Limits are the real defaults.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { expectLargestBodyPasses } from '../helpers/pipeline-cases.js';
import { converse, openSocket, rawRequest, readResponse } from '../helpers/raw-http.js';

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
  }

  // One refused by Node's parser (early-rejections.ts), one by the pipeline (framing-checks.ts).
  const vectors: Array<[string, string, number, string]> = [
    [
      'Content-Length with Transfer-Encoding',
      'POST /v/cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'REQUEST_MALFORMED',
    ],
    [
      'GET with a body',
      'GET /v/get-body HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
      400,
      'REQUEST_MALFORMED',
    ],
  ];
  for (const [name, request, status, code] of vectors) {
    it(`${name} → ${status}`, async () => {
      await expectRejected(name, request, status, code);
    });
  }

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
    await expectLargestBodyPasses(dev.url, limit);
    expect(await seen()).toBe(before + 1);
  });

  // Issue 14: a request pipelined behind a refusal must never reach the app. The app counts what
  // it sees; /count is asked after the connection closed, through the same (single) instance,
  // so a smuggled request the front end had forwarded would already be counted.
  describe('nothing pipelined behind a refusal reaches the app', () => {
    const smuggled = (tag: string) => `GET /smuggled/${tag} HTTP/1.1\r\nHost: a\r\n\r\n`;
    const refusals: Array<[string, string, number, string]> = [
      [
        'Transfer-Encoding: gzip, chunked',
        'POST /v/p-te-gzip HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
        400,
        'REQUEST_MALFORMED',
      ],
      [
        'GET with a chunked body',
        'GET /v/p-get-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
        'REQUEST_MALFORMED',
      ],
      ['TRACE', 'TRACE /v/p-trace HTTP/1.1\r\nHost: a\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
      [
        'duplicate Host',
        'GET /v/p-dup-host HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
        400,
        'REQUEST_MALFORMED',
      ],
      [
        'Content-Length with Transfer-Encoding (the parser)',
        'POST /v/p-cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
        'REQUEST_MALFORMED',
      ],
    ];
    for (const [name, request, status, code] of refusals) {
      it(`${name} → ${status}, and the request behind it never reaches the app`, async () => {
        const tag = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
        const before = await seen();
        const c = await converse(dev.url, [request + smuggled(tag)]);
        expect(c.statuses, c.raw.toString('latin1', 0, 200)).toEqual([status]);
        expect(c.closed).toBe(true);
        const [method, target] = request.split(' ', 2) as [string, string];
        await dev.waitFor(
          new RegExp(`^${escapeRe(method)} ${escapeRe(target)} ${status} .*\\(HANGAR_E_${code}: `, 'm'),
        );
        expect(await seen(), 'the app saw the pipelined request').toBe(before);
        expect(dev.output()).not.toContain(`/smuggled/${tag}`);
      });
    }

    it('a valid request, then garbage the parser refuses, in one write: the app answers the first, then the 400, then close', async () => {
      const before = await seen();
      const c = await converse(dev.url, [
        'GET /text?n=5 HTTP/1.1\r\nHost: a\r\n\r\nG@RBAGE / HTTP/1.1\r\n\r\n',
      ]);
      expect(c.statuses, c.raw.toString('latin1', 0, 400)).toEqual([200, 400]);
      expect(c.responses[0]!.body.toString()).toBe('hello');
      expect(c.closed).toBe(true);
      await dev.waitFor(/^- - 400 .*\(HANGAR_E_REQUEST_MALFORMED: unknown or malformed method/m);
      expect(await seen()).toBe(before + 1);
    });
  });
});

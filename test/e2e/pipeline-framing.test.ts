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
});

/**
 * limits.max_buffered_bytes through the real front end (in process, stub instances): a client
 * that does not read a large answer holds its bytes; past the budget the next request is
 * answered 503 with Retry-After instead of growing the platform; once the slow client has
 * taken its answer the room is free again. Sizes exceed what loopback's kernel buffers take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontendHarness, reply, startFrontendHarness } from '../../test/helpers/frontend-harness.js';
import { openSocket, rawRequest, readResponse } from '../../test/helpers/raw-http.js';

const MiB = 2 ** 20;
const answer = 24 * MiB;

describe('front end: the budget of held bodies (limits.max_buffered_bytes)', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({
      limits: { maxBufferedBytes: 40 * MiB },
      handler: (request) => reply(request.url === '/big' ? Buffer.alloc(answer, 120) : 'small'),
    });
  });
  afterAll(() => h.stop());

  it('a slow reader holds its answer; past the budget requests get 503 with Retry-After; then room again', async () => {
    const slow = await openSocket(h.url);
    try {
      slow.pause();
      slow.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
      // Once the front end has the answer and writes it to a client that does not read, it holds it.
      await expectEventually(
        async () => (await rawRequest(h.url, 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n')).status === 503,
      );
      const refused = await rawRequest(h.url, 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toEqual(['1']);
      const logged = await h.record((r) => r.status === 503 && r.resource === '/big');
      expect(logged.error).toMatch(
        /^HANGAR_E_BUFFERS_FULL: the front end already holds \d+ of limits.max_buffered_bytes \(41943040\)/,
      );
      // A declared body that does not fit is refused before it is read, and the connection closes.
      const upload = await rawRequest(
        h.url,
        `POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${20 * MiB}\r\n\r\n`,
      );
      expect(upload.status).toBe(503);
      expect(upload.headers.connection).toEqual(['close']);
      // Small answers still fit.
      expect((await rawRequest(h.url, 'GET /small HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe(200);
      // The slow client reads its answer: the room is free again.
      slow.resume();
      const first = await readResponse(slow);
      expect(first.status).toBe(200);
      expect(first.body.length).toBe(answer);
    } finally {
      slow.destroy();
    }
    await expectEventually(
      async () => (await rawRequest(h.url, 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n')).status === 200,
    );
  });
});

/** Retries `check` until it holds, bounded by 5 s (the bound is the test's limit). */
async function expectEventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('front end: a chunked body takes its room in the budget as it streams in', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ limits: { maxBufferedBytes: 4 * MiB }, handler: () => reply('ok') });
  });
  afterAll(() => h.stop());

  it('past the budget the client gets 503 before its body ends, and the room is free again after', async () => {
    const socket = await openSocket(h.url);
    try {
      const response = readResponse(socket);
      socket.write('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(MiB, 97);
      const framed = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]);
      // 6 MiB and no last chunk: only a refusal while it streams can answer this request.
      for (let i = 0; i < 6 && !socket.destroyed; i++) socket.write(framed);
      const refused = await response;
      expect(refused.status).toBe(503);
      expect(refused.headers.connection).toEqual(['close']);
      const logged = await h.record((r) => r.status === 503 && r.resource === '/up');
      expect(logged.error).toMatch(/^HANGAR_E_BUFFERS_FULL: /);
    } finally {
      socket.destroy();
    }
    const fits = await rawRequest(
      h.url,
      'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(fits.status).toBe(200);
  });
});

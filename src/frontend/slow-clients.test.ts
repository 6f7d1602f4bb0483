/**
 * Issue 14, deliverable 7: slow clients and connection caps (S15 `limits.header_timeout`,
 * `limits.body_idle_timeout`; `limits.max_connections`, `limits.max_connections_per_client`),
 * against the real front end in process (frontend-harness.ts) with small configured values:
 * a 300 ms header timeout and body idle timeout, caps of 3 per address and 5 per listener.
 * Bounded in count (at most 20 connections) and time (each wait has its own limit).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontendHarness, reply, startFrontendHarness } from '../../test/helpers/frontend-harness.js';
import { converse, openSocket, readResponse } from '../../test/helpers/raw-http.js';
import { defaultPlatformConfig } from '../config/platform-config.js';
import { makeSelfSignedCertificate } from '../platform/tls.js';
import type { InstanceRequest, InstanceResponse } from '../scheduler/instance.js';
import type { RequestRecord } from '../shared/request-record.js';
import { createFrontendServer } from './listener.js';

const headerTimeoutMs = 300;
const bodyIdleTimeoutMs = 300;
/** Slack for a loaded machine: Node checks header timeouts every quarter of them, the body sweep likewise. */
const slackMs = 1_500;

/** The stub app: `/slow` answers after 500 ms (longer than either timeout); `/echo` the body's length. */
async function app(request: InstanceRequest): Promise<InstanceResponse> {
  if (request.url === '/slow') await new Promise((resolve) => setTimeout(resolve, 500));
  const body = Buffer.concat(request.body);
  return reply(request.url === '/echo' ? `${body.length} ${body.toString()}` : `app at ${request.url}`);
}

/** Resolves when the server ends or closes `socket` (ms since `since`), or rejects after `timeoutMs`. */
function closedWithin(socket: Socket, since: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(performance.now() - since);
    };
    socket.once('end', done);
    socket.once('close', done);
  });
}

describe('slow clients: header_timeout and body_idle_timeout (S15)', () => {
  let h: FrontendHarness;
  beforeAll(async () => {
    h = await startFrontendHarness({ handler: app, limits: { headerTimeoutMs, bodyIdleTimeoutMs } });
  });
  afterAll(() => h.stop());

  it('slowloris: 20 connections sending their headers a byte every 50 ms get 408 and are closed after header_timeout', async () => {
    const received = h.received.length;
    const records = h.records.length;
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const socket = await openSocket(h.url);
        socket.on('error', () => {});
        let data = '';
        socket.on('data', (chunk: Buffer) => {
          data += chunk.toString('latin1');
        });
        // Never finishes: 200 bytes of one header at a byte per 50 ms would take 10 s.
        const head = `GET /loris/${i} HTTP/1.1\r\nHost: a\r\nX-Slow: ${'x'.repeat(200)}`;
        let sent = 0;
        const trickle = setInterval(() => {
          if (socket.writable) socket.write(head[sent++ % head.length]!);
        }, 50);
        try {
          const elapsed = await closedWithin(socket, started, headerTimeoutMs + slackMs);
          return { elapsed, status: data.slice(0, 12), sent };
        } finally {
          clearInterval(trickle);
          socket.destroy();
        }
      }),
    );
    for (const result of results) {
      expect(result.status).toBe('HTTP/1.1 408');
      expect(result.elapsed).toBeGreaterThanOrEqual(headerTimeoutMs - 5);
      expect(result.sent, 'the client was still sending when it was cut').toBeGreaterThan(1);
    }
    // Each is in the request log: 20 timeouts, none for anything the instance got.
    await h.record(() => h.records.slice(records).filter((r) => r.status === 408).length >= 20);
    const timeouts = h.records.slice(records).filter((r) => r.status === 408);
    expect(timeouts[0]!.error).toMatch(/^HANGAR_E_REQUEST_TIMEOUT: .*limits\.header_timeout \(300 ms\)/);
    expect(h.received.length).toBe(received);
  });

  it('a connection that sends nothing is closed after header_timeout, with no answer and no log line', async () => {
    const records = h.records.length;
    const socket = await openSocket(h.url);
    const started = performance.now();
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    try {
      const elapsed = await closedWithin(socket, started, headerTimeoutMs + slackMs);
      expect(elapsed).toBeGreaterThanOrEqual(headerTimeoutMs - 5);
      expect(bytes).toBe(0);
      expect(h.records.length).toBe(records);
    } finally {
      socket.destroy();
    }
  });

  it('headers that arrive in parts within header_timeout are served', async () => {
    const c = await converse(h.url, ['GET /parts HTTP/1.1\r\n', 'Host: a\r\n', 'Connection: close\r\n\r\n'], {
      pauseMs: 50,
    });
    expect(c.statuses).toEqual([200]);
  });

  it('an app slower than header_timeout is not cut off, on a new connection or a kept-alive one', async () => {
    const socket = await openSocket(h.url);
    try {
      for (const round of [1, 2]) {
        const response = readResponse(socket);
        socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n');
        const res = await response;
        expect(res.status, `round ${round}`).toBe(200);
        expect(res.body.toString()).toBe('app at /slow');
      }
    } finally {
      socket.destroy();
    }
  });

  it('a kept-alive connection idle longer than header_timeout between requests still serves the next', async () => {
    const socket = await openSocket(h.url);
    try {
      const first = readResponse(socket);
      socket.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\n');
      expect((await first).status).toBe(200);
      // Idle for longer than the header timeout: keep-alive (65 s) governs between requests.
      await new Promise((resolve) => setTimeout(resolve, headerTimeoutMs + 200));
      expect(socket.destroyed).toBe(false);
      const second = readResponse(socket);
      socket.write('GET /second HTTP/1.1\r\nHost: a\r\n\r\n');
      expect((await second).status).toBe(200);
    } finally {
      socket.destroy();
    }
  });

  it('a body that pauses longer than body_idle_timeout: 408 with Connection: close, closed, logged, nothing at the instance', async () => {
    const received = h.received.length;
    const c = await converse(h.url, ['POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabcde'], {
      timeoutMs: bodyIdleTimeoutMs + slackMs,
    });
    expect(c.statuses).toEqual([408]);
    expect(c.responses[0]!.headers.connection).toEqual(['close']);
    expect(c.closed).toBe(true);
    expect(c.elapsedMs).toBeGreaterThanOrEqual(bodyIdleTimeoutMs - 5);
    const record = await h.record((r) => r.resource === '/echo' && r.status === 408);
    expect(record.error).toMatch(
      /^HANGAR_E_REQUEST_TIMEOUT: the client paused for more than limits\.body_idle_timeout \(300 ms\) .*\(5 bytes received\)/,
    );
    expect(h.received.length).toBe(received);
  });

  it('nothing sent after a body refused for its pause runs, not even a request behind it', async () => {
    const received = h.received.length;
    const c = await converse(
      h.url,
      [
        'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabcde',
        'fghijGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      ],
      { pauseMs: bodyIdleTimeoutMs + 300, timeoutMs: bodyIdleTimeoutMs + slackMs },
    );
    expect(c.statuses).toEqual([408]);
    expect(c.closed).toBe(true);
    expect(h.received.length).toBe(received);
  });

  it('a body trickling in with pauses shorter than body_idle_timeout is read whole, however long it takes', async () => {
    const parts = [
      'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n',
      ...'0123456789'.split(''),
    ];
    const c = await converse(h.url, parts, { pauseMs: 60, timeoutMs: 5_000 });
    expect(c.elapsedMs).toBeGreaterThan(bodyIdleTimeoutMs * 1.5);
    expect(c.statuses).toEqual([200]);
    expect(c.responses[0]!.body.toString()).toBe('10 0123456789');
  });
});

describe('connection caps: max_connections_per_client and max_connections', () => {
  let h: FrontendHarness;
  /** A second client address on loopback (Linux routes all of 127/8 to lo); undefined if not usable. */
  let other: string | undefined;
  beforeAll(async () => {
    h = await startFrontendHarness({
      handler: app,
      limits: { maxConnectionsPerClient: 3, maxConnections: 5 },
    });
    const probe = await openSocket(h.url, undefined, { localAddress: '127.0.0.2' }).catch(() => undefined);
    if (probe) {
      other = '127.0.0.2';
      probe.destroy();
      await h.connectionsAtMost(0);
    }
  });
  afterAll(() => h.stop());

  /** A connection from `localAddress` that has been served one request and stays open. */
  async function held(localAddress?: string): Promise<Socket> {
    const socket = await openSocket(h.url, undefined, localAddress ? { localAddress } : {});
    const response = readResponse(socket);
    socket.write('GET /held HTTP/1.1\r\nHost: a\r\n\r\n');
    expect((await response).status).toBe(200);
    return socket;
  }

  it('the 4th connection of an address gets 503 and is closed, another address is still served; logged once', async (ctx) => {
    if (!other) ctx.skip();
    const records = h.records.length;
    const mine = [await held(), await held(), await held()];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await converse(h.url, ['GET /refused HTTP/1.1\r\nHost: a\r\n\r\n']);
        expect(c.statuses).toEqual([503]);
        expect(c.responses[0]!.headers.connection).toEqual(['close']);
        expect(c.responses[0]!.headers['retry-after']).toEqual(['1']);
        expect(c.closed).toBe(true);
      }
      const elsewhere = await converse(
        h.url,
        ['GET /elsewhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'],
        {
          localAddress: other,
        },
      );
      expect(elsewhere.statuses).toEqual([200]);
      expect(h.received.map((r) => r.url)).not.toContain('/refused');
      // Three refusals, one line: once per address per interval.
      const refusals = h.records
        .slice(records)
        .filter((r) => r.error?.startsWith('HANGAR_E_TOO_MANY_CONNECTIONS'));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ status: 503, ip: '127.0.0.1', method: '-' });
      expect(refusals[0]!.error).toContain('limits.max_connections_per_client (3)');

      // One closes: its place is free again.
      mine.pop()!.destroy();
      await h.connectionsAtMost(2);
      const again = await converse(h.url, ['GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']);
      expect(again.statuses).toEqual([200]);
    } finally {
      for (const socket of mine) socket.destroy();
      await h.connectionsAtMost(0);
    }
  });

  it('past max_connections a new connection is closed at once, from any address, and logged', async (ctx) => {
    if (!other) ctx.skip();
    const records = h.records.length;
    const open = [await held(), await held(), await held(), await held(other), await held(other)];
    try {
      const c = await converse(h.url, ['GET /over HTTP/1.1\r\nHost: a\r\n\r\n'], {
        localAddress: '127.0.0.3',
      });
      expect(c.raw.length).toBe(0);
      expect(c.closed).toBe(true);
      const record = await h.record((r) => h.records.indexOf(r) >= records && r.ip === '127.0.0.3');
      expect(record.error).toMatch(
        /^HANGAR_E_TOO_MANY_CONNECTIONS: the listener already has limits\.max_connections \(5\)/,
      );
      expect(h.received.map((r) => r.url)).not.toContain('/over');
    } finally {
      for (const socket of open) socket.destroy();
    }
  });
});

describe('over HTTPS: the handshake, the first request and the per-client cap', () => {
  let dir: string;
  let server: Server | undefined;
  let url = '';
  let ca: Buffer;
  const records: RequestRecord[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hangar-slow-tls-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const made = await makeSelfSignedCertificate(certFile, keyFile, 1).then(
      () => true,
      () => false, // no openssl: the tests below skip
    );
    if (!made) return;
    ca = readFileSync(certFile);
    // No routes: every request that gets through is a 404 from the front end itself.
    server = createFrontendServer({
      routes: { route: () => undefined },
      exposeErrors: true,
      limits: { ...defaultPlatformConfig.limits, headerTimeoutMs, maxConnectionsPerClient: 2 },
      serverSoftware: 'test',
      https: true,
      tls: { cert: ca, key: readFileSync(keyFile) },
      onRequest: (record) => records.push(record),
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', () => resolve()));
    url = `https://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('a TCP connection that never starts the TLS handshake, and one that sends nothing after it, are closed after header_timeout', async (ctx) => {
    if (!server) ctx.skip();
    const started = performance.now();
    const plain = await openSocket(url.replace('https:', 'http:'));
    const secure = await openSocket(url, { ca });
    plain.on('error', () => {});
    secure.on('error', () => {});
    try {
      const [a, b] = await Promise.all([
        closedWithin(plain, started, headerTimeoutMs + slackMs),
        closedWithin(secure, started, headerTimeoutMs + slackMs),
      ]);
      expect(a).toBeGreaterThanOrEqual(headerTimeoutMs - 5);
      expect(b).toBeGreaterThanOrEqual(headerTimeoutMs - 5);
    } finally {
      plain.destroy();
      secure.destroy();
    }
  });

  it('past max_connections_per_client a TLS connection is closed before its handshake, and logged', async (ctx) => {
    if (!server) ctx.skip();
    const before = records.length;
    const open: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = await openSocket(url, { ca });
        const response = readResponse(socket);
        socket.write('GET /held HTTP/1.1\r\nHost: a\r\n\r\n');
        expect((await response).status).toBe(404);
        open.push(socket);
      }
      await expect(openSocket(url, { ca })).rejects.toThrow();
      const refusals = records
        .slice(before)
        .filter((r) => r.error?.startsWith('HANGAR_E_TOO_MANY_CONNECTIONS'));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]!.error).toContain('limits.max_connections_per_client (2)');
      expect(refusals[0]!.error).toContain('closed at once');
    } finally {
      for (const socket of open) socket.destroy();
    }
  });
});

/**
 * The socket-service process, started by its real supervisor, driven by the real client code
 * (without patching this process's `net`), against peers on 127.0.0.1: descriptors bound to
 * their app, credentials, limits, half-close, resets, back-pressure and the byte totals
 * metering reads.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlatformConfig } from '../../config/platform-config.js';
import type { Logger } from '../../shared/logger.js';
import { attach, descriptor } from '../api.js';
import { ServiceLink, setLink } from '../client/link.js';
import { proxiedConnect } from '../client/tcp.js';
import type { SocketBytes } from '../ipc.js';
import { line, PROTOCOL_VERSION } from '../protocol.js';
import type { SocketServiceHandle, StartSocketServiceOptions } from '../supervisor.js';

// The supervisor spawns dist/sockets/service/main.js, so take it from the build `npm test` makes.
const { startSocketService } = (await import(
  new URL('../../../dist/sockets/supervisor.js', import.meta.url).href
)) as typeof import('../supervisor.js');

const quiet: Logger = { info() {}, warn() {}, error() {}, raw() {}, flush() {}, color: false, fd: undefined };
const instanceId = () => randomBytes(16).toString('hex');

interface Started {
  service: SocketServiceHandle;
  dir: string;
  deltas: SocketBytes[];
}

async function startService(config: Partial<StartSocketServiceOptions['config']> = {}): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-socket-service-'));
  const deltas: SocketBytes[] = [];
  const service = await startSocketService({
    dataDir: dir,
    config: { ...defaultPlatformConfig.sockets, idleTimeoutMs: 600_000, ...config },
    mode: 'dev',
    logger: quiet,
    onBytes: (delta) => deltas.push(delta),
  });
  return { service, dir, deltas };
}

function linkFor(service: SocketServiceHandle, app: string): ServiceLink {
  return new ServiceLink({
    ...service.instanceInit(app),
    instance: instanceId(),
    service: 'default',
    version: 'v1',
  });
}

/** A socket of `app` to 127.0.0.1:port through the service, resolved once connected. */
function open(link: ServiceLink, port: number): Promise<Socket> {
  const socket = new Socket();
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
    proxiedConnect(socket, { op: 'connect', host: '127.0.0.1', port }, link);
  });
}

function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) {
        socket.off('data', onData);
        resolve(text.trim());
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/** Numbers its connections: greets `hello N`, answers `whoami` with `conn N`. */
function idServer(): Server {
  let n = 0;
  return createServer((socket) => {
    const me = ++n;
    socket.on('error', () => {});
    socket.write(`hello ${me}\n`);
    socket.on('data', (chunk) => {
      if (chunk.toString().includes('whoami')) socket.write(`conn ${me}\n`);
    });
  });
}

describe('the socket service', () => {
  let started: Started;
  let ids: Server;
  let idPort: number;
  const servers: Server[] = [];

  beforeAll(async () => {
    started = await startService();
    ids = idServer();
    idPort = await listen(ids);
  });
  afterAll(async () => {
    await started.service.close();
    rmSync(started.dir, { recursive: true, force: true });
    ids.close();
  });
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  it('binds descriptors to their app: another app gets EACCES, a forged secret too, a stranger EBADF', async () => {
    const alpha = linkFor(started.service, 'alpha');
    const socket = await open(alpha, idPort);
    const greeting = await readLine(socket);
    const d = descriptor(socket);
    expect(d).toMatch(/^hsk1\.[0-9a-f]{16}\.[0-9a-f]{32}$/);

    setLink(linkFor(started.service, 'beta'));
    await expect(attach(d)).rejects.toMatchObject({
      code: 'EACCES',
      message: expect.stringContaining('belongs to another app'),
    });

    setLink(linkFor(started.service, 'alpha'));
    const forged = `${d.slice(0, d.lastIndexOf('.') + 1)}${'0'.repeat(32)}`;
    await expect(attach(forged)).rejects.toMatchObject({ code: 'EACCES' });
    await expect(attach(`hsk1.${'1'.repeat(16)}.${'2'.repeat(32)}`)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(attach('not a descriptor')).rejects.toMatchObject({ code: 'EBADF' });

    // The same app, another instance: the same connection.
    const again = await attach(d);
    again.write('whoami\n');
    expect(await readLine(again)).toBe(`conn ${greeting.split(' ')[1]}`);
    again.destroy();
    socket.destroy();
  });

  it('refuses a hello whose token is not the app’s (an instance cannot speak for another app)', async () => {
    const beta = started.service.instanceInit('beta');
    const conn = new Socket();
    const reply = await new Promise<string>((resolve) => {
      conn.connect({ path: beta.path }, () =>
        conn.write(
          line({
            v: PROTOCOL_VERSION,
            op: 'connect',
            app: 'alpha',
            token: beta.token,
            instance: 'x',
            host: '127.0.0.1',
            port: idPort,
          }),
        ),
      );
      let text = '';
      conn.on('data', (chunk) => (text += chunk));
      conn.on('end', () => resolve(text));
    });
    conn.destroy();
    expect(JSON.parse(reply)).toMatchObject({ ok: false, error: { code: 'EACCES' } });
  });

  it('half-close: the app ends its side and still reads what the remote sends before it closes', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      let got = '';
      socket.on('data', (chunk) => (got += chunk));
      socket.on('end', () => socket.end(`you said ${got}`));
    });
    servers.push(server);
    const socket = await open(linkFor(started.service, 'alpha'), await listen(server));
    socket.end('goodbye');
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
    });
    expect(reply).toBe('you said goodbye');
  });

  it('a reset by the remote side reaches the app as ECONNRESET', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.resetAndDestroy());
    });
    servers.push(server);
    const socket = await open(linkFor(started.service, 'alpha'), await listen(server));
    socket.write('x');
    await expect(new Promise((_, reject) => socket.once('error', reject))).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
  });

  it('keeps back-pressure: a remote that does not read stops the app’s writes instead of filling memory', async () => {
    let peer: Socket | undefined;
    const server = createServer((socket) => {
      peer = socket;
      socket.pause();
    });
    servers.push(server);
    const socket = await open(linkFor(started.service, 'alpha'), await listen(server));
    const chunk = Buffer.alloc(1 << 20, 0x62);
    let accepted = 0;
    // Write 1 MiB at a time while 'drain' keeps coming; with back-pressure it stops within a
    // few MiB (kernel and stream buffers), far below the 64 MiB offered.
    for (let i = 0; i < 64; i++) {
      const drained = socket.write(chunk)
        ? true
        : await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), 1_000);
            socket.once('drain', () => {
              clearTimeout(timer);
              resolve(true);
            });
          });
      if (!drained) break;
      accepted += chunk.length;
    }
    expect(accepted).toBeLessThan(32 << 20);
    // Once the remote reads, every byte arrives.
    const total = accepted + chunk.length;
    const received = await new Promise<number>((resolve) => {
      let n = 0;
      peer!.on('data', (data: Buffer) => {
        n += data.length;
        if (n >= total) resolve(n);
      });
      peer!.resume();
    });
    expect(received).toBe(total);
    socket.destroy();
  });

  it('counts the bytes of every socket per app version, both ways, for metering', async () => {
    const echo = createServer((socket) => socket.pipe(socket));
    servers.push(echo);
    const port = await listen(echo);
    const link = new ServiceLink({
      ...started.service.instanceInit('metered'),
      instance: instanceId(),
      service: 'svc',
      version: 'v9',
    });
    const socket = await open(link, port);
    socket.write(Buffer.alloc(100_000, 1));
    await new Promise<void>((resolve) => {
      let n = 0;
      socket.on('data', (chunk: Buffer) => {
        n += chunk.length;
        if (n >= 100_000) resolve();
      });
    });
    socket.end();
    await new Promise((resolve) => socket.once('close', resolve));
    const totals = await started.service.socketBytesByApp();
    expect(totals.find((t) => t.app === 'metered')).toEqual({
      app: 'metered',
      service: 'svc',
      version: 'v9',
      sent: 100_000,
      received: 100_000,
      urlfetchCalls: 0,
      urlfetchBytes: 0,
    });
    // socketBytesByApp also reported the change to onBytes, as deltas.
    const deltas = started.deltas.filter((d) => d.app === 'metered');
    expect(deltas.reduce((sum, d) => sum + d.sent + d.received, 0)).toBe(200_000);
  });
});

describe('the egress proxy behind the service (S4.3)', () => {
  /** A SOCKS5 CONNECT to 127.0.0.1:port over an `egress` hello; resolves with the reply code and the socket. */
  async function socksThroughService(
    started: Started,
    app: string,
    port: number,
    token?: string,
  ): Promise<{ reply: number; socket: Socket }> {
    const init = started.service.instanceInit(app);
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect({ path: init.path }, resolve);
    });
    socket.write(
      line({
        v: PROTOCOL_VERSION,
        op: 'egress',
        app,
        token: token ?? init.token,
        instance: instanceId(),
        service: 'svc',
        version: 'v2',
      }),
    );
    // Greeting (no auth), then CONNECT 127.0.0.1:port.
    socket.write(Buffer.from([5, 1, 0]));
    socket.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]));
    const reply = await new Promise<number>((resolve, reject) => {
      let got = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        // 2 bytes of method choice, then the 10-byte reply (IPv4 bound address).
        if (got[0] !== 5) {
          socket.off('data', onData);
          resolve(-1);
        } else if (got.length >= 12) {
          socket.off('data', onData);
          if (got.length > 12) socket.unshift(got.subarray(12));
          resolve(got[3]!);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => resolve(-1));
      socket.once('error', reject);
    });
    return { reply, socket };
  }

  it('tunnels an app’s connection and meters its bytes for that app', async () => {
    const started = await startService();
    const echo = createServer((socket) => socket.pipe(socket));
    const port = await listen(echo);
    try {
      const { reply, socket } = await socksThroughService(started, 'tunnelled', port);
      expect(reply).toBe(0);
      socket.write(Buffer.alloc(50_000, 2));
      await new Promise<void>((resolve) => {
        let n = 0;
        socket.on('data', (chunk: Buffer) => {
          n += chunk.length;
          if (n >= 50_000) resolve();
        });
      });
      socket.end();
      await new Promise((resolve) => socket.once('close', resolve));
      const totals = await started.service.socketBytesByApp();
      expect(totals.find((t) => t.app === 'tunnelled')).toEqual({
        app: 'tunnelled',
        service: 'svc',
        version: 'v2',
        sent: 50_000,
        received: 50_000,
        urlfetchCalls: 0,
        urlfetchBytes: 0,
      });
    } finally {
      echo.close();
      await started.service.close();
      rmSync(started.dir, { recursive: true, force: true });
    }
  });

  it('refuses port 25 with reply 2, and a token of another app before any SOCKS byte', async () => {
    const started = await startService();
    try {
      const refused = await socksThroughService(started, 'mailer', 25);
      expect(refused.reply).toBe(2);
      refused.socket.destroy();
      const other = started.service.instanceInit('other').token;
      const forged = await socksThroughService(started, 'mailer', 25, other);
      // The service answers the hello with its error line, not SOCKS.
      expect(forged.reply).toBe(-1);
      forged.socket.destroy();
    } finally {
      await started.service.close();
      rmSync(started.dir, { recursive: true, force: true });
    }
  });
});

describe('limits', () => {
  it('max_open_per_app: one socket more is EMFILE naming the limit', async () => {
    const started = await startService({ maxOpenPerApp: 2 });
    const ids = idServer();
    const port = await listen(ids);
    try {
      const link = linkFor(started.service, 'small');
      const a = await open(link, port);
      const b = await open(link, port);
      await expect(open(link, port)).rejects.toMatchObject({
        code: 'EMFILE',
        message: expect.stringContaining('sockets.max_open_per_app'),
      });
      // Another app is not affected.
      (await open(linkFor(started.service, 'other'), port)).destroy();
      a.destroy();
      b.destroy();
    } finally {
      await started.service.close();
      ids.close();
      rmSync(started.dir, { recursive: true, force: true });
    }
  });

  it('strict: loopback is refused with EACCES naming the address and rule, unless allowed', async () => {
    const ids = idServer();
    const port = await listen(ids);
    const started = await startService({ strict: true, allow: [`127.0.0.1:${port}`] });
    const other = idServer();
    const otherPort = await listen(other);
    try {
      const link = linkFor(started.service, 'strict');
      (await open(link, port)).destroy();
      await expect(open(link, otherPort)).rejects.toMatchObject({
        code: 'EACCES',
        address: '127.0.0.1',
        message: expect.stringContaining(`127.0.0.1:${otherPort}: 127.0.0.1 is loopback (127.0.0.0/8)`),
      });
    } finally {
      await started.service.close();
      ids.close();
      other.close();
      rmSync(started.dir, { recursive: true, force: true });
    }
  });
});

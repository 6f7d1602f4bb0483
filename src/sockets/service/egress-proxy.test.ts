/**
 * The egress proxy over real sockets, on loopback only: curl as the SOCKS5 and HTTP CONNECT
 * client of a tiny HTTP server, and a hand-written SOCKS5 client for UDP ASSOCIATE, the reply
 * codes, BIND and malformed greetings. The policy is the real one in `serve` mode: loopback is
 * refused except the ports this file lists in `sockets.allow`, so refusals go through the real
 * path to a loopback server that must never see a connection. Names are answered by a stub
 * resolver; nothing here looks up a name or leaves 127.0.0.1/::1.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, connect, createServer, isIPv4, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { errnoError } from '../errno.js';
import { type PolicyConfig, type ResolvedAddress, type Resolver, SocketPolicy } from '../policy.js';
import {
  EGRESS_PROXY_DEFAULTS,
  type EgressProxy,
  type EgressProxyOptions,
  startEgressProxy,
} from './egress-proxy.js';

// ---------------------------------------------------------------------------------------------
// Loopback peers

const closers: Array<() => void> = [];

function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  closers.push(() => server.close());
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );
}

function udpListen(socket: UdpSocket): Promise<number> {
  closers.push(() => socket.close());
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket.address().port)));
}

/** A connection's byte counts, taken by the server when it closed. */
interface ServerSide {
  read: number;
  written: number;
}

const http = createHttpServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(`hello ${req.method} ${req.url}`);
});
let onHttpConnection: ((socket: Socket) => void) | undefined;
http.on('connection', (socket: Socket) => onHttpConnection?.(socket));

/** The byte counts of the HTTP server's next connection, once it closed. */
function nextHttpConnection(): Promise<ServerSide> {
  return new Promise((resolve) => {
    onHttpConnection = (socket) => {
      onHttpConnection = undefined;
      socket.once('close', () => resolve({ read: socket.bytesRead, written: socket.bytesWritten }));
    };
  });
}

const http6 = createHttpServer((req, res) => res.end(`hello over IPv6 ${req.url}`));

/** Echoes, and passes a half-close back once everything is echoed. */
const echoSockets = new Set<Socket>();
const echo = createServer({ allowHalfOpen: true }, (socket) => {
  echoSockets.add(socket);
  socket.on('close', () => echoSockets.delete(socket));
  socket.on('error', () => {});
  socket.pipe(socket);
});

/** Resets each connection when it first hears from it. */
const resetter = createServer((socket) => {
  socket.on('error', () => {});
  socket.once('data', () => socket.resetAndDestroy());
});

/** A loopback server the policy refuses: any connection to it is a failure of the proxy. */
let blockedHits = 0;
const blocked = createServer((socket) => {
  blockedHits++;
  socket.destroy();
});

const udpEcho = createSocket('udp4');
udpEcho.on('message', (msg, from) => udpEcho.send(msg, from.port, from.address));
let blockedUdpHits = 0;
const blockedUdp = createSocket('udp4');
blockedUdp.on('message', () => blockedUdpHits++);

const ports = { http: 0, http6: 0, echo: 0, reset: 0, blocked: 0, closed: 0, udpEcho: 0, blockedUdp: 0 };
let policy: SocketPolicy;

/** Names this file uses; anything else does not exist. No lookup ever leaves the process. */
const names: Record<string, string[]> = { 'echo.test': ['127.0.0.1'], 'blocked.test': ['127.0.0.1'] };
const resolver: Resolver = {
  lookup: async (name): Promise<ResolvedAddress[]> =>
    (Object.hasOwn(names, name) ? names[name]! : []).map((address) => ({
      address,
      family: isIPv4(address) ? 4 : 6,
    })),
};

beforeAll(async () => {
  ports.http = await listen(http);
  ports.http6 = await listen(http6, '::1');
  ports.echo = await listen(echo);
  ports.reset = await listen(resetter);
  ports.blocked = await listen(blocked);
  // A port nothing listens on (the policy allows it, the kernel refuses it).
  const gone = createServer();
  ports.closed = await new Promise<number>((resolve) =>
    gone.listen(0, '127.0.0.1', () => {
      const { port } = gone.address() as AddressInfo;
      gone.close(() => resolve(port));
    }),
  );
  ports.udpEcho = await udpListen(udpEcho);
  ports.blockedUdp = await udpListen(blockedUdp);
  const serve: PolicyConfig = {
    mode: 'serve',
    strict: false,
    blocked: [],
    allow: [
      `127.0.0.1:${ports.http}`,
      `[::1]:${ports.http6}`,
      `127.0.0.1:${ports.echo}`,
      `127.0.0.1:${ports.reset}`,
      `127.0.0.1:${ports.closed}`,
      `127.0.0.1:${ports.udpEcho}`,
    ],
  };
  policy = new SocketPolicy(serve);
});

afterAll(() => {
  for (const close of closers) close();
});

// ---------------------------------------------------------------------------------------------
// The proxy under test, with what it reported

interface Reported {
  sent: number;
  received: number;
  refused: string[];
  warnings: string[];
  errors: Error[];
}

const proxies: EgressProxy[] = [];
const reports: Reported[] = [];

async function start(overrides: Partial<EgressProxyOptions> = {}) {
  const rec: Reported = { sent: 0, received: 0, refused: [], warnings: [], errors: [] };
  const proxy = await startEgressProxy({
    listen: { host: '127.0.0.1', port: 0 },
    identity: { app: 'egress', instance: 'i-1' },
    policy,
    resolver,
    onBytes: (direction, n) => {
      rec[direction] += n;
    },
    onRefused: (message) => rec.refused.push(message),
    onWarning: (message) => rec.warnings.push(message),
    onError: (err) => rec.errors.push(err),
    ...overrides,
  });
  proxies.push(proxy);
  reports.push(rec);
  const { port } = proxy.address as { port: number };
  return { proxy, rec, port };
}

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  for (const rec of reports.splice(0)) expect(rec.errors).toEqual([]);
  expect(blockedHits).toBe(0);
  expect(blockedUdpHits).toBe(0);
});

// ---------------------------------------------------------------------------------------------
// Clients

/** curl with no configuration file and no proxy settings from the environment. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/_proxy$/i.test(key)));
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-q', '--silent', '--show-error', '--max-time', '10', ...args],
      { env },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A raw client connection that reads exactly what it is asked for. */
class Peer {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#signal();
    });
    socket.on('error', () => {});
    socket.on('end', () => this.#finish());
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#finish();
        resolve();
      }),
    );
  }

  static open(target: number | string): Promise<Peer> {
    const socket =
      typeof target === 'number' ? connect({ host: '127.0.0.1', port: target }) : connect({ path: target });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new Peer(socket)));
      socket.once('error', reject);
    });
  }

  write(data: number[] | string | Buffer): void {
    this.socket.write(Array.isArray(data) ? Buffer.from(data) : data);
  }

  async read(n: number): Promise<Buffer> {
    while (this.#buffer.length < n) {
      if (this.#ended) throw new Error(`the connection ended after ${this.#buffer.length} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Everything until the proxy ends the connection. */
  async rest(): Promise<Buffer> {
    while (!this.#ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const out = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return out;
  }

  #finish(): void {
    this.#ended = true;
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

const LOOPBACK6 = [...Array(15).fill(0), 1];

/** `ATYP ADDR PORT` as a client writes it (by hand, not with the codec under test). */
function address(host: string, port: number): number[] {
  const p = [port >> 8, port & 0xff];
  if (isIPv4(host)) return [1, ...host.split('.').map(Number), ...p];
  if (host === '::1') return [4, ...LOOPBACK6, ...p];
  const name = [...Buffer.from(host)];
  return [3, name.length, ...name, ...p];
}

interface Reply {
  code: number;
  host: string;
  port: number;
}

async function readReply(peer: Peer): Promise<Reply> {
  const head = await peer.read(4);
  expect([head[0], head[2]]).toEqual([5, 0]);
  const type = head[3]!;
  const length = type === 1 ? 4 : type === 4 ? 16 : (await peer.read(1))[0]!;
  const bound = await peer.read(length);
  const port = (await peer.read(2)).readUInt16BE(0);
  const host = type === 1 ? [...bound].join('.') : type === 4 ? bound.toString('hex') : bound.toString();
  return { code: head[1]!, host, port };
}

/** Greets with "no authentication", sends one request and reads the reply. */
async function socks(target: number | string, command: number, host: string, port: number) {
  const peer = await Peer.open(target);
  peer.write([5, 1, 0]);
  expect([...(await peer.read(2))]).toEqual([5, 0]);
  peer.write([5, command, 0, ...address(host, port)]);
  return { peer, reply: await readReply(peer) };
}

const CONNECT = 1;
const BIND = 2;
const UDP_ASSOCIATE = 3;

async function echoRoundTrip(peer: Peer, text: string): Promise<string> {
  peer.write(text);
  return (await peer.read(Buffer.byteLength(text))).toString();
}

// ---------------------------------------------------------------------------------------------

describe('SOCKS5 CONNECT', () => {
  it('curl --socks5-hostname (a name) reaches the loopback server, and every byte is metered', async () => {
    const { rec, port } = await start();
    const server = nextHttpConnection();
    const result = await curl([
      '--socks5-hostname',
      `127.0.0.1:${port}`,
      `http://echo.test:${ports.http}/hello`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /hello' });
    const counted = await server;
    expect(counted.read).toBeGreaterThan(0);
    expect({ sent: rec.sent, received: rec.received }).toEqual({
      sent: counted.read,
      received: counted.written,
    });
  });

  it('curl --socks5 (addresses: ATYP IPv4 and IPv6) reaches both loopback servers', async () => {
    const { port } = await start();
    expect(await curl(['--socks5', `127.0.0.1:${port}`, `http://127.0.0.1:${ports.http}/v4`])).toMatchObject({
      code: 0,
      stdout: 'hello GET /v4',
    });
    expect(await curl(['--socks5', `127.0.0.1:${port}`, `http://[::1]:${ports.http6}/v6`])).toMatchObject({
      code: 0,
      stdout: 'hello over IPv6 /v6',
    });
  });

  it('answers with the address it connected from, meters both ways exactly, and passes a half-close', async () => {
    const { rec, port } = await start();
    const { peer, reply } = await socks(port, CONNECT, '127.0.0.1', ports.echo);
    expect(reply).toMatchObject({ code: 0, host: '127.0.0.1' });
    expect(reply.port).toBeGreaterThan(0);
    const big = Buffer.alloc(300_000, 7);
    peer.write(big);
    expect((await peer.read(big.length)).equals(big)).toBe(true);
    peer.socket.end('bye');
    expect((await peer.rest()).toString()).toBe('bye');
    await peer.closed;
    expect({ sent: rec.sent, received: rec.received }).toEqual({ sent: 300_003, received: 300_003 });
  });

  it('passes a reset by the remote side on as a reset', async () => {
    const { port } = await start();
    const { peer } = await socks(port, CONNECT, '127.0.0.1', ports.reset);
    const failed = new Promise((_, reject) => peer.socket.once('error', reject));
    peer.write('x');
    await expect(failed).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('an IPv6 destination by address (ATYP 4)', async () => {
    const { port } = await start();
    const { peer, reply } = await socks(port, CONNECT, '::1', ports.http6);
    expect(reply.code).toBe(0);
    peer.write('GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await peer.rest()).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hello over IPv6 \/raw$/);
  });

  it('carries bytes the client sent right behind its request, before the reply', async () => {
    const { rec, port } = await start();
    const peer = await Peer.open(port);
    peer.write(Buffer.from([5, 1, 0, 5, 1, 0, ...address('echo.test', ports.echo), ...Buffer.from('early')]));
    expect([...(await peer.read(2))]).toEqual([5, 0]);
    expect((await readReply(peer)).code).toBe(0);
    expect((await peer.read(5)).toString()).toBe('early');
    expect(await echoRoundTrip(peer, 'later')).toBe('later');
    peer.socket.destroy();
    expect(rec.sent).toBe(10);
  });

  it.each([
    ['a loopback port the policy refuses', 0x02, '127.0.0.1', () => ports.blocked],
    ['a name that resolves to it', 0x02, 'blocked.test', () => ports.blocked],
    ['port 25', 0x02, 'echo.test', () => 25],
    ['an allowed port nobody listens on', 0x05, '127.0.0.1', () => ports.closed],
    ['a name that does not resolve', 0x04, 'nowhere.test', () => 80],
  ])('%s → reply %i, and the connection closes', async (_, code, host, port) => {
    const started = await start();
    const { peer, reply } = await socks(started.port, CONNECT, host, port());
    expect(reply).toEqual({ code, host: '0.0.0.0', port: 0 });
    expect((await peer.rest()).length).toBe(0);
    expect(started.rec.refused).toHaveLength(code === 0x02 ? 1 : 0);
  });

  it('a refusal reports the policy message, naming the address and the rule', async () => {
    const { rec, port } = await start();
    await socks(port, CONNECT, 'blocked.test', ports.blocked);
    await socks(port, CONNECT, 'echo.test', 25);
    expect(rec.refused).toEqual([
      `connect EACCES blocked.test (127.0.0.1):${ports.blocked}: 127.0.0.1 is loopback (127.0.0.0/8), which ` +
        `sockets may not reach; if it is a service of yours, list 127.0.0.1:${ports.blocked} in sockets.allow ` +
        '[rule: loopback (127.0.0.0/8)]',
      expect.stringMatching(
        /^connect EACCES echo\.test \(127\.0\.0\.1\):25: port 25 \(SMTP\) .*\[rule: port 25\]$/,
      ),
    ]);
    // curl hears the refusal too, and nothing reached the blocked server (checked after each test).
    const result = await curl([
      '--socks5-hostname',
      `127.0.0.1:${port}`,
      `http://127.0.0.1:${ports.blocked}/`,
    ]);
    expect(result.code).not.toBe(0);
    expect(rec.refused).toHaveLength(3);
  });

  it('a network that cannot be reached → 0x03, a connect that never answers → 0x04', async () => {
    const unreachable = await start({
      connect: () => {
        const socket = new Socket();
        process.nextTick(() =>
          socket.emit(
            'error',
            errnoError({ code: 'ENETUNREACH', syscall: 'connect', message: 'connect ENETUNREACH' }),
          ),
        );
        return socket;
      },
    });
    expect((await socks(unreachable.port, CONNECT, 'echo.test', ports.echo)).reply.code).toBe(0x03);
    const silent = await start({ connect: () => new Socket(), connectTimeoutMs: 50 });
    expect((await socks(silent.port, CONNECT, 'echo.test', ports.echo)).reply.code).toBe(0x04);
  });

  it('BIND and unknown commands → 0x07, an unknown address type → 0x08, an empty name → 0x01', async () => {
    const { port } = await start();
    expect((await socks(port, BIND, '127.0.0.1', ports.echo)).reply.code).toBe(0x07);
    expect((await socks(port, 9, '127.0.0.1', ports.echo)).reply.code).toBe(0x07);
    const odd = await Peer.open(port);
    odd.write([5, 1, 0]);
    await odd.read(2);
    odd.write([5, CONNECT, 0, 5, 1, 2, 3, 4, 0, 80]);
    expect((await readReply(odd)).code).toBe(0x08);
    const empty = await Peer.open(port);
    empty.write([5, 1, 0, 5, CONNECT, 0, 3, 0, 0, 80]);
    await empty.read(2);
    expect((await readReply(empty)).code).toBe(0x01);
  });

  it.each([
    ['a greeting offering no method', [5, 0]],
    ['a greeting without "no authentication"', [5, 1, 2]],
  ])('%s → X’FF’ and the connection closes', async (_, greeting) => {
    const { port } = await start();
    const peer = await Peer.open(port);
    peer.write(greeting);
    expect([...(await peer.rest())]).toEqual([5, 0xff]);
  });

  it('a SOCKS4 client is told no in SOCKS4', async () => {
    const { port } = await start();
    const peer = await Peer.open(port);
    peer.write([4, 1, 0, 80, 127, 0, 0, 1, 0]);
    expect([...(await peer.rest())]).toEqual([0, 0x5b, 0, 0, 0, 0, 0, 0]);
  });
});

describe('SOCKS5 UDP ASSOCIATE', () => {
  const clients: UdpSocket[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  /** A UDP client on 127.0.0.1 whose datagrams can be awaited one at a time. */
  async function udpClient() {
    const socket = createSocket('udp4');
    clients.push(socket);
    const inbox: Buffer[] = [];
    let wake: (() => void) | undefined;
    socket.on('message', (msg) => {
      inbox.push(msg);
      wake?.();
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return {
      socket,
      send: (to: number, host: string, port: number, payload: string, frag = 0) =>
        socket.send(
          Buffer.from([0, 0, frag, ...address(host, port), ...Buffer.from(payload)]),
          to,
          '127.0.0.1',
        ),
      async next(): Promise<{ host: string; port: number; payload: string }> {
        while (inbox.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
        const msg = inbox.shift()!;
        expect([msg[0], msg[1], msg[2], msg[3]]).toEqual([0, 0, 0, 1]);
        return {
          host: [...msg.subarray(4, 8)].join('.'),
          port: msg.readUInt16BE(8),
          payload: msg.subarray(10).toString(),
        };
      },
    };
  }

  async function associate(port: number | string) {
    const { peer, reply } = await socks(port, UDP_ASSOCIATE, '0.0.0.0', 0);
    expect(reply).toMatchObject({ code: 0, host: '127.0.0.1' });
    return { peer, relay: reply.port };
  }

  it('relays datagrams by address and by name, with the source in front of each reply, metered', async () => {
    const { rec, port } = await start();
    const { relay } = await associate(port);
    const client = await udpClient();
    client.send(relay, '127.0.0.1', ports.udpEcho, 'ping');
    expect(await client.next()).toEqual({ host: '127.0.0.1', port: ports.udpEcho, payload: 'ping' });
    client.send(relay, 'echo.test', ports.udpEcho, 'by name');
    expect(await client.next()).toEqual({ host: '127.0.0.1', port: ports.udpEcho, payload: 'by name' });
    await vi.waitFor(() =>
      expect({ sent: rec.sent, received: rec.received }).toEqual({ sent: 11, received: 11 }),
    );
  });

  it('vets every datagram: a refused destination is dropped and reported, the next goes through', async () => {
    const { rec, port } = await start();
    const { relay } = await associate(port);
    const client = await udpClient();
    client.send(relay, '127.0.0.1', ports.blockedUdp, 'refused');
    client.send(relay, '127.0.0.1', ports.udpEcho, 'allowed');
    expect((await client.next()).payload).toBe('allowed');
    expect(rec.refused).toEqual([
      expect.stringMatching(
        new RegExp(
          `^send EACCES 127\\.0\\.0\\.1:${ports.blockedUdp}: .*\\[rule: loopback \\(127\\.0\\.0\\.0/8\\)\\]$`,
        ),
      ),
    ]);
  });

  it('drops fragments and datagrams from anyone but the client', async () => {
    const { port } = await start();
    const { relay } = await associate(port);
    const client = await udpClient();
    client.send(relay, '127.0.0.1', ports.udpEcho, 'first');
    expect((await client.next()).payload).toBe('first');
    client.send(relay, '127.0.0.1', ports.udpEcho, 'fragment', 1);
    const stranger = await udpClient();
    stranger.send(relay, '127.0.0.1', ports.udpEcho, 'stranger');
    client.send(relay, '127.0.0.1', ports.udpEcho, 'whole');
    // Had either been relayed, its echo would have come back to the client first.
    expect((await client.next()).payload).toBe('whole');
  });

  it('ends when the TCP connection it came on closes: the relay port is free again', async () => {
    const { proxy, port } = await start();
    const { peer, relay } = await associate(port);
    peer.socket.destroy();
    await vi.waitFor(() => expect(proxy.connections).toBe(0));
    await vi.waitFor(
      () =>
        new Promise<void>((resolve, reject) => {
          const probe = createSocket('udp4');
          probe.once('error', (err) => {
            probe.close();
            reject(err);
          });
          probe.bind(relay, '127.0.0.1', () => {
            clients.push(probe);
            resolve();
          });
        }),
    );
  });
});

describe('HTTP CONNECT', () => {
  it('curl -p -x tunnels to the loopback server, and every byte is metered', async () => {
    const { rec, port } = await start();
    const server = nextHttpConnection();
    const result = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://echo.test:${ports.http}/tunnel`,
    ]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello GET /tunnel' });
    const counted = await server;
    expect({ sent: rec.sent, received: rec.received }).toEqual({
      sent: counted.read,
      received: counted.written,
    });
  });

  it('a refusal is 403 with the policy message as a text body, reported too', async () => {
    const { rec, port } = await start();
    const peer = await Peer.open(port);
    peer.write(`CONNECT 127.0.0.1:${ports.blocked} HTTP/1.1\r\nHost: 127.0.0.1:${ports.blocked}\r\n\r\n`);
    const answer = (await peer.rest()).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    expect(body).toBe(`${rec.refused[0]}\n`);
    expect(body).toContain(`127.0.0.1:${ports.blocked}: 127.0.0.1 is loopback (127.0.0.0/8)`);
    expect(body).toContain('[rule: loopback (127.0.0.0/8)]');
    const viaCurl = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${ports.blocked}/`,
    ]);
    expect(viaCurl.code).not.toBe(0);
    expect(viaCurl.stderr).toContain('403');
  });

  it('any other method is 405, saying only CONNECT is served', async () => {
    const { port } = await start();
    const result = await curl([
      '-i',
      '-x',
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${ports.http}/plain`,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(result.stdout).toContain('\r\nAllow: CONNECT\r\n');
    expect(result.stdout).toContain(
      'only opens tunnels (CONNECT host:port), it does not forward GET requests',
    );
  });

  it.each([
    ['no port', 400, 'CONNECT echo.test HTTP/1.1\r\n\r\n'],
    ['not HTTP', 400, 'hello there\r\n\r\n'],
    ['HTTP/2.0', 505, () => `CONNECT echo.test:${ports.echo} HTTP/2.0\r\n\r\n`],
    ['a head over 16 KiB', 431, `CONNECT a:1 HTTP/1.1\r\nX: ${'x'.repeat(20_000)}\r\n\r\n`],
    ['an allowed port nobody listens on', 502, () => `CONNECT 127.0.0.1:${ports.closed} HTTP/1.1\r\n\r\n`],
    ['a name that does not resolve', 502, 'CONNECT nowhere.test:80 HTTP/1.1\r\n\r\n'],
  ])('%s → %i', async (_, status, request) => {
    const { port } = await start();
    const peer = await Peer.open(port);
    peer.write(typeof request === 'function' ? request() : request);
    expect((await peer.rest()).toString()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  });

  it('an IPv6 destination in brackets', async () => {
    const { port } = await start();
    const peer = await Peer.open(port);
    peer.write(`CONNECT [::1]:${ports.http6} HTTP/1.1\r\n\r\n`);
    expect((await peer.read(39)).toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    peer.write('GET /brackets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await peer.rest()).toString()).toMatch(/hello over IPv6 \/brackets$/);
  });
});

describe('limits', () => {
  it(`closes a handshake that does not complete in time (${EGRESS_PROXY_DEFAULTS.handshakeTimeoutMs} ms by default), not a tunnel`, async () => {
    expect(EGRESS_PROXY_DEFAULTS.handshakeTimeoutMs).toBe(10_000);
    const { port } = await start({ handshakeTimeoutMs: 150 });
    const tunnel = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    const opened = Date.now();
    const silent = await Peer.open(port);
    const greeted = await Peer.open(port);
    greeted.write([5, 1, 0]);
    const halfHead = await Peer.open(port);
    halfHead.write('CONNECT echo.test:1 HTTP/1.1\r\nHost: ');
    await Promise.all([silent.closed, greeted.closed, halfHead.closed]);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(140);
    expect([...(await greeted.rest())]).toEqual([5, 0]);
    // The tunnel was opened before all of them and outlived their deadline.
    expect(await echoRoundTrip(tunnel, 'still here')).toBe('still here');
  });

  it('the default handshake clock runs 10 s from accept', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { port } = await start();
      const idle = await Peer.open(port);
      const greeted = await Peer.open(port);
      greeted.write([5, 1, 0]);
      // The answer means both connections were accepted and their clocks started.
      await greeted.read(2);
      vi.advanceTimersByTime(9_999);
      idle.write([5, 1, 0]);
      expect([...(await idle.read(2))]).toEqual([5, 0]);
      vi.advanceTimersByTime(1);
      await Promise.all([idle.closed, greeted.closed]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('past maxConnections: SOCKS5 general failure and HTTP 503, until a connection closes', async () => {
    const { proxy, port } = await start({ maxConnections: 2 });
    const first = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    const second = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    const over = await socks(port, CONNECT, 'echo.test', ports.echo);
    expect(over.reply.code).toBe(0x01);
    await over.peer.rest();
    const http = await Peer.open(port);
    http.write(`CONNECT echo.test:${ports.echo} HTTP/1.1\r\n\r\n`);
    const answer = (await http.rest()).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toContain('the egress proxy of app egress, instance i-1 has 2 connections open');
    first.socket.destroy();
    await vi.waitFor(() => expect(proxy.connections).toBe(1));
    const again = await socks(port, CONNECT, 'echo.test', ports.echo);
    expect(again.reply.code).toBe(0);
    expect(await echoRoundTrip(second, 'two')).toBe('two');
    expect(await echoRoundTrip(again.peer, 'three')).toBe('three');
  });

  it('closes a tunnel without traffic for idleTimeoutMs; traffic keeps one open', async () => {
    const { port } = await start({ idleTimeoutMs: 100 });
    // The busy tunnel is opened first: were traffic not counted, it would close first.
    const busy = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    const idle = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    expect(await echoRoundTrip(idle, 'once')).toBe('once');
    let idleClosed = false;
    void idle.closed.then(() => {
      idleClosed = true;
    });
    let trips = 0;
    while (!idleClosed) {
      expect(await echoRoundTrip(busy, `trip ${trips}`)).toBe(`trip ${trips}`);
      trips++;
    }
    expect(await echoRoundTrip(busy, 'after')).toBe('after');
  });

  it('close() stops listening and ends every tunnel and association', async () => {
    const { proxy, port } = await start();
    const viaSocks = (await socks(port, CONNECT, 'echo.test', ports.echo)).peer;
    const viaHttp = await Peer.open(port);
    viaHttp.write(`CONNECT echo.test:${ports.echo} HTTP/1.1\r\n\r\n`);
    await viaHttp.read(39);
    expect(await echoRoundTrip(viaHttp, 'open')).toBe('open');
    const association = (await socks(port, UDP_ASSOCIATE, '0.0.0.0', 0)).peer;
    const handshaking = await Peer.open(port);
    expect(echoSockets.size).toBe(2);
    await proxy.close();
    await Promise.all([viaSocks.closed, viaHttp.closed, association.closed, handshaking.closed]);
    expect(proxy.connections).toBe(0);
    await vi.waitFor(() => expect(echoSockets.size).toBe(0));
    await expect(Peer.open(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('listening and options', () => {
  it('serves SOCKS5 (CONNECT, UDP ASSOCIATE) and HTTP CONNECT on a Unix socket path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-egress-'));
    try {
      const path = join(dir, 'egress.sock');
      const { proxy, rec } = await start({ listen: { path } });
      expect(proxy.address).toEqual({ path });
      const { peer } = await socks(path, CONNECT, 'echo.test', ports.echo);
      expect(await echoRoundTrip(peer, 'over a path')).toBe('over a path');
      const viaHttp = await Peer.open(path);
      viaHttp.write(`CONNECT echo.test:${ports.echo} HTTP/1.1\r\n\r\n`);
      expect((await viaHttp.read(39)).toString()).toContain(' 200 ');
      const { peer: control, reply } = await socks(path, UDP_ASSOCIATE, '0.0.0.0', 0);
      const udp = createSocket('udp4');
      const echoed = new Promise<Buffer>((resolve) => udp.once('message', resolve));
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      udp.send(
        Buffer.from([0, 0, 0, ...address('127.0.0.1', ports.udpEcho), ...Buffer.from('dgram')]),
        reply.port,
        '127.0.0.1',
      );
      expect((await echoed).subarray(10).toString()).toBe('dgram');
      udp.close();
      await vi.waitFor(() => expect(rec).toMatchObject({ sent: 16, received: 16 }));
      control.socket.destroy();
      await proxy.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dev server: passes loopback with a warning, once per message; sockets.blocked refuses, naming the range', async () => {
    const dev = new SocketPolicy({
      mode: 'dev',
      strict: false,
      blocked: ['127.0.0.1/32'],
      allow: [`127.0.0.1:${ports.echo}`],
    });
    const { rec, port } = await start({ policy: dev });
    for (let i = 0; i < 2; i++) {
      const { peer, reply } = await socks(port, CONNECT, '::1', ports.http6);
      expect(reply.code).toBe(0);
      peer.socket.destroy();
    }
    expect(rec.warnings).toEqual([expect.stringContaining(`[::1]:${ports.http6} allowed on the dev server`)]);
    expect((await socks(port, CONNECT, 'echo.test', ports.echo)).reply.code).toBe(0);
    expect((await socks(port, CONNECT, '127.0.0.1', ports.blocked)).reply.code).toBe(0x02);
    expect(rec.refused).toEqual([expect.stringContaining('[rule: sockets.blocked 127.0.0.1/32]')]);
  });

  it.each([
    ['a non-loopback address', { listen: { host: '0.0.0.0', port: 0 } }, /loopback or a Unix socket only/],
    ['a host name', { listen: { host: 'localhost', port: 0 } }, /loopback or a Unix socket only/],
    ['a port out of range', { listen: { host: '127.0.0.1', port: 70_000 } }, /listen.port/],
    ['no connections', { maxConnections: 0 }, /maxConnections must be a whole number above 0/],
    ['a fractional timeout', { handshakeTimeoutMs: 1.5 }, /handshakeTimeoutMs/],
  ])('refuses %s', async (_, overrides, message) => {
    await expect(start(overrides as Partial<EgressProxyOptions>)).rejects.toThrow(message);
  });

  it('reports a listen failure with a Hangar code, naming the address', async () => {
    const taken = createServer();
    const port = await listen(taken);
    await expect(start({ listen: { host: '127.0.0.1', port } })).rejects.toMatchObject({
      code: 'HANGAR_E_SOCKET_SERVICE_FAILED',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`),
    });
  });
});

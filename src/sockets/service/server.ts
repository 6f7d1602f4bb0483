import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import {
  budgetSpent,
  performUrlFetch,
  UrlFetchBudget,
  type UrlFetchLimits,
} from '../../urlfetch/service/call.js';
import { errnoError, toWire, type WireError } from '../errno.js';
import type { ServiceInit } from '../ipc.js';
import { onLines, parseLine, readFirstLine } from '../lines.js';
import { normaliseHost, SocketPolicy, vetDestination } from '../policy.js';
import { Hello, type HelloOf, line, validAppToken } from '../protocol.js';
import { formatAddress } from '../ranges.js';
import { dialTcp } from './dial.js';
import { type EgressProxy, egressProxyForAdoption } from './egress-proxy.js';
import { newDescriptorParts, parseDescriptor, Registry, sameSecret } from './registry.js';
import { type ServiceResolver, systemResolver } from './resolver.js';
import { TcpSession } from './tcp-session.js';
import { UdpSession } from './udp-session.js';

export interface SocketServiceOptions extends ServiceInit {
  resolver?: ServiceResolver;
  /** A destination passed with a dev-server warning (loopback/private); printed by the platform. */
  onWarning?(app: string, message: string): void;
}

/** URL Fetch bodies all calls together may hold: 8 responses at the 32 MiB limit. */
const URLFETCH_BUDGET_BYTES = 256 * 2 ** 20;
/** URL Fetch calls one app may have in flight at once. */
const URLFETCH_CALLS_PER_APP = 64;

/** URL Fetch's limits when the platform sends none (S15's defaults). */
const defaultUrlFetchLimits: UrlFetchLimits = {
  maxRequestBytes: 10 * 2 ** 20,
  maxResponseBytes: 32 * 2 ** 20,
  maxDeadlineMs: 60_000,
};

/** Reads exactly `bytes` from `conn` (a URL Fetch request body); rejects if it ends first. */
function readExactly(conn: Socket, bytes: number): Promise<Buffer> {
  if (bytes === 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (chunk: Buffer) => {
      const need = bytes - have;
      chunks.push(chunk.length > need ? chunk.subarray(0, need) : chunk);
      have += Math.min(chunk.length, need);
      if (have === bytes) {
        conn.off('data', onData).off('end', onEnd);
        conn.pause();
        resolve(Buffer.concat(chunks, bytes));
      }
    };
    const onEnd = () => reject(new Error(`the request body ended after ${have} of ${bytes} bytes`));
    conn.on('data', onData).once('end', onEnd);
    conn.resume();
  });
}

/** A data connection must follow its control reply within this time. */
const DATA_TOKEN_TTL_MS = 10_000;
const HELLO_TIMEOUT_MS = 10_000;
/** Stream buffer of the spliced connections, each way. */
export const SPLICE_BUFFER = 1 << 20;

/**
 * The socket service (SPEC S12): owns every app socket, behind a Unix socket that instance
 * shims connect to. Each connection starts with a hello line (protocol.ts) naming the app,
 * with a token only the platform can mint for it, and what it wants.
 */
export class SocketService {
  readonly registry = new Registry();
  readonly #options: SocketServiceOptions;
  readonly #policy: SocketPolicy;
  readonly #resolver: ServiceResolver;
  readonly #server: Server;
  /** Data tokens handed out in control replies and not used yet. */
  readonly #pendingData = new Map<string, { session: TcpSession; timer: NodeJS.Timeout }>();
  readonly #warned = new Set<string>();
  readonly #connecting = new Map<string, number>();
  /** What URL Fetch calls in flight may hold (bodies) and how many per app (urlfetch/service/call.ts). */
  readonly #urlfetchBudget = new UrlFetchBudget(URLFETCH_BUDGET_BYTES, URLFETCH_CALLS_PER_APP);
  /** Egress proxies by app and instance, while they have a client. */
  readonly #egressProxies = new Map<string, EgressProxy>();

  constructor(options: SocketServiceOptions) {
    this.#options = options;
    this.#policy = new SocketPolicy(options);
    this.#resolver = options.resolver ?? systemResolver();
    // Half-open capable for data connections; a 1 MiB buffer each way spares the splice a
    // pause/resume per 64 KiB read (Node's default would be 16 KiB).
    this.#server = createServer({ allowHalfOpen: true, highWaterMark: SPLICE_BUFFER }, (conn) =>
      this.#accept(conn),
    );
  }

  listen(): Promise<void> {
    rmSync(this.#options.path, { force: true });
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.path, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** Closes the listener and every socket. */
  close(): Promise<void> {
    this.registry.shutdown();
    for (const proxy of this.#egressProxies.values()) void proxy.close();
    this.#egressProxies.clear();
    for (const { timer } of this.#pendingData.values()) clearTimeout(timer);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(conn: Socket): void {
    conn.on('error', () => {});
    const timer = setTimeout(() => conn.destroy(), HELLO_TIMEOUT_MS);
    readFirstLine(conn).then(
      (text) => {
        clearTimeout(timer);
        const hello = Hello.safeParse(parseLine(text));
        if (!hello.success) {
          const message = `the socket service did not understand the request (${hello.error.issues[0]?.message ?? 'bad hello'}); is the instance's Hangar the same version as the platform's?`;
          conn.end(line({ ok: false, error: { code: 'EPROTO', message } }));
          return;
        }
        this.#dispatch(conn, hello.data).catch((err: unknown) => this.#fail(conn, toWire(err)));
      },
      () => {
        clearTimeout(timer);
        conn.destroy();
      },
    );
  }

  async #dispatch(conn: Socket, hello: Hello): Promise<void> {
    if (hello.op === 'data') {
      const pending = this.#pendingData.get(hello.data);
      this.#pendingData.delete(hello.data);
      if (pending) clearTimeout(pending.timer);
      if (!pending?.session.bindData(hello.data, conn)) conn.destroy();
      return;
    }
    if (!validAppToken(this.#options.key, hello.app, hello.token)) {
      this.#fail(conn, {
        code: 'EACCES',
        message: `the instance's socket credentials are not valid for app ${hello.app}`,
      });
      return;
    }
    switch (hello.op) {
      case 'connect':
        return this.#connect(conn, hello);
      case 'attach':
        return this.#attach(conn, hello);
      case 'lookup':
        return this.#lookup(conn, hello);
      case 'resolve':
        conn.end(
          line({
            ok: true,
            value: await this.#resolver.resolve(hello.host, hello.rrtype, hello.ttl ?? false),
          }),
        );
        return;
      case 'udp':
        return this.#udp(conn, hello);
      case 'egress':
        return this.#egress(conn, hello);
      case 'urlfetch':
        return this.#urlfetch(conn, hello);
    }
  }

  /**
   * An egress proxy client (S4.3): the connection is handed to the instance's proxy, made on
   * its first client and dropped with its last. Same policy, resolver and metering as the
   * app's own sockets; a refusal is the app's warning, naming the address and the rule.
   */
  #egress(conn: Socket, hello: HelloOf<'egress'>): void {
    const key = `${hello.app}\0${hello.instance}`;
    let proxy = this.#egressProxies.get(key);
    if (!proxy) {
      const owner = { app: hello.app, service: hello.service, version: hello.version };
      const created = egressProxyForAdoption({
        identity: { app: hello.app, instance: hello.instance },
        policy: this.#policy,
        resolver: this.#resolver,
        onBytes: (direction, bytes) =>
          this.registry.meterTunnel(
            owner,
            direction === 'sent' ? bytes : 0,
            direction === 'received' ? bytes : 0,
          ),
        onRefused: (message) => this.#options.onWarning?.(hello.app, `egress proxy: ${message}`),
        onWarning: (message) => this.#options.onWarning?.(hello.app, message),
      });
      this.#egressProxies.set(key, created);
      proxy = created;
    }
    const serving = proxy;
    serving.adopt(conn);
    // After adopt: the proxy's own close listener has counted this connection out by then.
    conn.once('close', () => {
      if (serving.connections === 0 && this.#egressProxies.get(key) === serving) {
        this.#egressProxies.delete(key);
        void serving.close();
      }
    });
  }

  /**
   * One URL Fetch call (S13): the request body follows the hello; the reply line and the
   * response body go back, and the connection ends. Failures are the reply's error, shaped
   * like Node's (src/urlfetch/service/call.ts).
   */
  async #urlfetch(conn: Socket, hello: HelloOf<'urlfetch'>): Promise<void> {
    const limits = this.#options.urlfetch ?? defaultUrlFetchLimits;
    if (hello.bodyBytes > limits.maxRequestBytes) {
      this.#fail(conn, {
        code: 'ERR_URLFETCH_TOO_LARGE',
        syscall: 'urlfetch',
        message: `urlfetch: the request body has ${hello.bodyBytes} bytes, more than urlfetch.max_request_bytes (${limits.maxRequestBytes})`,
      });
      return;
    }
    this.#urlfetchBudget.enter(hello.app);
    let held = 0;
    const hold = (bytes: number) => {
      if (!this.#urlfetchBudget.take(bytes)) return false;
      held += bytes;
      return true;
    };
    try {
      if (!hold(hello.bodyBytes)) budgetSpent(this.#urlfetchBudget);
      await this.#urlfetchHeld(conn, hello, limits, hold);
    } finally {
      this.#urlfetchBudget.give(held);
      this.#urlfetchBudget.leave(hello.app);
    }
  }

  async #urlfetchHeld(
    conn: Socket,
    hello: HelloOf<'urlfetch'>,
    limits: UrlFetchLimits,
    hold: (bytes: number) => boolean,
  ): Promise<void> {
    const body = await readExactly(conn, hello.bodyBytes);
    const owner = { app: hello.app, service: hello.service, version: hello.version };
    // The instance gone (its request's deadline, its end): the call stops too.
    // Reading on, so that its end is seen (the connection is half-open capable: 'end', not 'close').
    const gone = new AbortController();
    const onClose = () => gone.abort();
    conn.once('close', onClose).once('end', onClose);
    conn.on('data', () => {}).resume();
    let result: Awaited<ReturnType<typeof performUrlFetch>>;
    try {
      result = await performUrlFetch(
        hello.app,
        hello,
        body,
        limits,
        { policy: this.#policy, resolver: this.#resolver },
        { cancel: gone.signal, hold },
      );
    } catch (err) {
      conn.off('close', onClose).off('end', onClose);
      // A call that failed is a call (S10), with the bytes it sent.
      this.registry.meterUrlFetch(owner, body.length);
      throw err;
    }
    conn.off('close', onClose).off('end', onClose);
    this.registry.meterUrlFetch(owner, body.length + result.body.length);
    const { body: payload, ...meta } = result;
    // Held until the instance has taken it: what is written and not yet read stays in memory.
    await new Promise<void>((resolve) => {
      conn.end(
        Buffer.concat([
          Buffer.from(line({ ok: true, value: { ...meta, bodyBytes: payload.length } })),
          payload,
        ]),
        () => resolve(),
      );
      conn.once('close', () => resolve());
    });
  }

  async #connect(conn: Socket, hello: HelloOf<'connect'>): Promise<void> {
    const open = this.registry.openFor(hello.app) + (this.#connecting.get(hello.app) ?? 0);
    if (open >= this.#options.maxOpenPerApp) {
      this.#tooMany(conn, hello.app);
      return;
    }
    this.#connecting.set(hello.app, (this.#connecting.get(hello.app) ?? 0) + 1);
    let dialed: Awaited<ReturnType<typeof dialTcp>>;
    try {
      dialed = await dialTcp(
        { host: hello.host, port: hello.port, family: hello.family },
        { policy: this.#policy, resolver: this.#resolver },
      );
    } finally {
      this.#connecting.set(hello.app, (this.#connecting.get(hello.app) ?? 1) - 1);
    }
    const { socket, vetted, remote } = dialed;
    for (const warning of vetted.warnings) this.#warn(hello.app, warning);
    if (conn.destroyed) {
      socket.destroy();
      return;
    }
    const local = socket.address();
    const session = new TcpSession({
      parts: newDescriptorParts(),
      app: hello.app,
      service: hello.service,
      version: hello.version,
      request: hello.request,
      destination: `${vetted.host.includes(':') ? `[${vetted.host}]` : vetted.host}:${vetted.port}`,
      remote: { address: remote.address, port: vetted.port, family: remote.family === 6 ? 'IPv6' : 'IPv4' },
      local: 'port' in local ? local : { address: '', port: 0, family: 'IPv4' },
      socket,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      onEnded: (ended, tombstone) => this.registry.remove(ended, tombstone),
    });
    this.registry.add(session);
    this.#reply(conn, session, hello.instance, vetted.warnings[0]);
  }

  #attach(conn: Socket, hello: HelloOf<'attach'>): void {
    const found = this.#attachable(hello);
    if (found instanceof TcpSession) this.#reply(conn, found, hello.instance);
    else this.#fail(conn, found);
  }

  /**
   * The session a descriptor names, if this app may attach it: another app's descriptor (or
   * a forged secret) is EACCES, a closed or reclaimed socket EPIPE saying so, anything else EBADF.
   */
  #attachable(hello: HelloOf<'attach'>): TcpSession | WireError {
    const badf = (why: string): WireError => ({
      code: 'EBADF',
      syscall: 'attach',
      message: `attach EBADF: ${why}`,
    });
    const parts = parseDescriptor(hello.descriptor);
    if (!parts) return badf(`'${hello.descriptor.slice(0, 60)}' is not a socket descriptor`);
    const foreign: WireError = {
      code: 'EACCES',
      syscall: 'attach',
      message: `attach EACCES: descriptor ${parts.id} belongs to another app; a descriptor only works in the app that opened the socket`,
    };
    const session = this.registry.get(parts.id);
    if (!session) {
      const tombstone = this.registry.tombstone(parts.id);
      if (!tombstone) return badf(`no socket ${parts.id} (never opened here, or forgotten long ago)`);
      if (tombstone.app !== hello.app || !sameSecret(tombstone.secret, parts.secret)) return foreign;
      return { code: 'EPIPE', syscall: 'attach', message: tombstone.message };
    }
    if (!(session instanceof TcpSession))
      return badf(`socket ${parts.id} is a UDP socket; only TCP sockets have descriptors`);
    if (session.app !== hello.app || !sameSecret(session.secret, parts.secret)) return foreign;
    return session;
  }

  /** Sends the ok reply for `session` on `conn`, which becomes its control connection. */
  #reply(conn: Socket, session: TcpSession, instance: string, warning?: string): void {
    const token = session.attach(conn, instance);
    const timer = setTimeout(() => this.#pendingData.delete(token), DATA_TOKEN_TTL_MS);
    timer.unref();
    this.#pendingData.set(token, { session, timer });
    conn.write(
      line({
        ok: true,
        id: session.id,
        descriptor: session.descriptor,
        data: token,
        remote: session.remoteEndpoint,
        local: session.localEndpoint,
        ...(warning ? { warning } : {}),
      }),
    );
    onLines(conn, (text) => session.controlLine(conn, text));
  }

  async #lookup(conn: Socket, hello: HelloOf<'lookup'>): Promise<void> {
    const target = normaliseHost(hello.host);
    const answers =
      target.kind === 'ip'
        ? [{ address: formatAddress(target.address), family: target.address.kind() === 'ipv4' ? 4 : 6 }]
        : await this.#resolver.lookup(target.name, hello.family);
    if (answers.length === 0) {
      throw errnoError({
        code: 'ENOTFOUND',
        syscall: 'getaddrinfo',
        hostname: hello.host,
        message: `getaddrinfo ENOTFOUND ${hello.host}`,
      });
    }
    conn.end(line({ ok: true, value: answers }));
  }

  #udp(conn: Socket, hello: HelloOf<'udp'>): void {
    if (this.registry.openFor(hello.app) >= this.#options.maxOpenPerApp) {
      this.#tooMany(conn, hello.app);
      return;
    }
    const session = new UdpSession(conn, {
      id: randomBytes(8).toString('hex'),
      app: hello.app,
      service: hello.service,
      version: hello.version,
      instance: hello.instance,
      request: hello.request,
      type: hello.type,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      vet: async (host, port, syscall) => {
        // A udp4 socket can only send to IPv4 addresses (and udp6 to IPv6) of what the name answers.
        const family = hello.type === 'udp4' ? 4 : 6;
        const vetted = await vetDestination({ host, port, syscall, family }, this.#policy, this.#resolver);
        for (const warning of vetted.warnings) this.#warn(hello.app, warning);
        return vetted;
      },
      onEnded: (ended, tombstone) => this.registry.remove(ended, tombstone),
    });
    this.registry.add(session);
    conn.write(line({ ok: true, value: { id: session.id } }));
  }

  #tooMany(conn: Socket, app: string): void {
    this.#fail(conn, {
      code: 'EMFILE',
      syscall: 'socket',
      message: `socket EMFILE: app ${app} has ${this.#options.maxOpenPerApp} sockets open, the most sockets.max_open_per_app allows; close some first`,
    });
  }

  #fail(conn: Socket, error: WireError): void {
    if (!conn.destroyed) conn.end(line({ ok: false, error }));
  }

  #warn(app: string, message: string): void {
    const key = `${app}\0${message}`;
    if (this.#warned.has(key) || this.#warned.size > 10_000) return;
    this.#warned.add(key);
    this.#options.onWarning?.(app, message);
  }
}

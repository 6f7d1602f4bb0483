import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import {
  budgetSpent,
  performUrlFetch,
  UrlFetchBudget,
  type UrlFetchLimits,
} from '../../urlfetch/service/call.js';
import { errnoError, toWire, type WireError } from '../errno.js';
import type { ServiceInit, SocketView } from '../ipc.js';
import { onLines, parseLine, readFirstLine } from '../lines.js';
import { normaliseHost, SocketPolicy, vetDestination } from '../policy.js';
import { Hello, type HelloOf, line, SocketReply, validAppToken } from '../protocol.js';
import { formatAddress } from '../ranges.js';
import { SocketCluster } from './cluster.js';
import { dialTcp } from './dial.js';
import { type EgressProxy, egressProxyForAdoption } from './egress-proxy.js';
import {
  checkPeerHello,
  dialPeer,
  PEER_TIMEOUT_MS,
  PEER_VERSION,
  type PeerAddress,
  type PeerRequest,
  splice,
} from './peer.js';
import {
  type DescriptorParts,
  newDescriptorParts,
  parseDescriptor,
  Registry,
  sameSecret,
} from './registry.js';
import { type ServiceResolver, systemResolver } from './resolver.js';
import { TcpSession } from './tcp-session.js';
import { UdpSession } from './udp-session.js';

export interface SocketServiceOptions extends ServiceInit {
  resolver?: ServiceResolver;
  /** A destination passed with a dev-server warning (loopback/private); printed by the platform. */
  onWarning?(app: string, message: string): void;
  /** A line for the platform's log that concerns no app (the platform database, a refused peer); default stderr. */
  onNotice?(message: string): void;
}

/** What an `attach` carries, from an instance's hello or from another node (peer.ts). */
type AttachRequest = Pick<
  HelloOf<'attach'>,
  'app' | 'instance' | 'request' | 'service' | 'version' | 'descriptor'
>;

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
  /** This node, on a platform of several (S16); undefined on a single node without a database. */
  readonly #node: string | undefined;
  /** The platform database's socket registry, peer addresses and secret; with `database` only. */
  #cluster: SocketCluster | undefined;
  /** The peer listener, where other nodes forward attaches of this node's sockets. */
  #peerServer: Server | undefined;
  /** Connections to and from other nodes, destroyed when the service closes. */
  readonly #peerConns = new Set<Socket>();
  /** Data tokens of attaches forwarded to another node, for the instance's data connection. */
  readonly #forwardedData = new Map<string, { node: string; address: PeerAddress; timer: NodeJS.Timeout }>();
  #closing: Promise<void> | undefined;

  constructor(options: SocketServiceOptions) {
    this.#options = options;
    this.#policy = new SocketPolicy(options);
    this.#resolver = options.resolver ?? systemResolver();
    this.#node = options.database?.node;
    // Half-open capable for data connections; a 1 MiB buffer each way spares the splice a
    // pause/resume per 64 KiB read (Node's default would be 16 KiB).
    this.#server = createServer({ allowHalfOpen: true, highWaterMark: SPLICE_BUFFER }, (conn) =>
      this.#accept(conn),
    );
  }

  /**
   * Listens on the Unix socket. With `database`, first joins the platform: connects to the
   * database, listens on the peer port and records it; errors say which step failed.
   */
  async listen(): Promise<void> {
    const database = this.#options.database;
    if (database) {
      try {
        await this.#join(database);
      } catch (err) {
        this.#peerServer?.close();
        await this.#cluster?.close();
        throw err;
      }
    }
    rmSync(this.#options.path, { force: true });
    await listening(this.#server, { path: this.#options.path }, `on ${this.#options.path}`);
  }

  async #join(database: NonNullable<ServiceInit['database']>): Promise<void> {
    this.#cluster = await SocketCluster.open(
      {
        url: database.url,
        node: database.node,
        syncIntervalMs: database.syncIntervalMs,
        onNotice: (message) => this.#notice(message),
      },
      this.registry,
    );
    const peers = createServer({ allowHalfOpen: true, highWaterMark: SPLICE_BUFFER }, (conn) =>
      this.#acceptPeer(conn),
    );
    this.#peerServer = peers;
    const where = `${database.peerHost}:${database.peerPort}`;
    await listening(
      peers,
      { host: database.peerHost, port: database.peerPort },
      `for other nodes on ${where}`,
    );
    const { port } = peers.address() as AddressInfo;
    await this.#cluster.join({ host: advertisedHost(database.peerHost), port });
  }

  /** The peer address other nodes reach this one at (with `database`, after `listen`). */
  get peerAddress(): PeerAddress | undefined {
    const address = this.#peerServer?.address();
    if (!address || typeof address === 'string' || !this.#options.database) return undefined;
    return { host: advertisedHost(this.#options.database.peerHost), port: address.port };
  }

  /** The platform database's side of the service (tests: `flush()`); undefined without `database`. */
  get cluster(): SocketCluster | undefined {
    return this.#cluster;
  }

  /**
   * Open sockets for `GET /api/sockets`: this service's, and with `database` every other node's
   * from the platform database (bytes as of that node's last write), each naming its node.
   */
  async list(now = Date.now()): Promise<SocketView[]> {
    const own = this.registry.list(now);
    const cluster = this.#cluster;
    if (!cluster) return own;
    const others = await cluster.othersViews(now);
    return [...own.map((view) => ({ node: cluster.node, ...view })), ...others];
  }

  /** Closes the listeners and every socket; with `database`, removes this node's rows. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.registry.shutdown();
    for (const proxy of this.#egressProxies.values()) void proxy.close();
    this.#egressProxies.clear();
    for (const { timer } of this.#pendingData.values()) clearTimeout(timer);
    for (const { timer } of this.#forwardedData.values()) clearTimeout(timer);
    this.#forwardedData.clear();
    for (const conn of this.#peerConns) conn.destroy();
    const closed = [new Promise<void>((resolve) => this.#server.close(() => resolve()))];
    const peers = this.#peerServer;
    if (peers) closed.push(new Promise<void>((resolve) => peers.close(() => resolve())));
    await this.#cluster?.close();
    await Promise.all(closed);
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
      const forwarded = this.#forwardedData.get(hello.data);
      if (forwarded) {
        this.#forwardedData.delete(hello.data);
        clearTimeout(forwarded.timer);
        return this.#forwardData(conn, hello.data, forwarded.node, forwarded.address);
      }
      this.#bindData(conn, hello.data);
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
      parts: newDescriptorParts(this.#node),
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
    // Held by its opener before it is registered: the registry's first row for it (in the
    // platform database, with several nodes) shows it open and held, not detached.
    this.#reply(conn, session, hello.instance, vetted.warnings[0]);
    this.registry.add(session);
  }

  /** The data connection of a socket this service owns: spliced to it, or closed for an unknown token. */
  #bindData(conn: Socket, token: string): void {
    const pending = this.#pendingData.get(token);
    this.#pendingData.delete(token);
    if (pending) clearTimeout(pending.timer);
    if (!pending?.session.bindData(token, conn)) conn.destroy();
  }

  async #attach(conn: Socket, hello: HelloOf<'attach'>): Promise<void> {
    const parts = parseDescriptor(hello.descriptor);
    if (parts?.node !== undefined && parts.node !== this.#node && this.#cluster) {
      return this.#forwardAttach(conn, hello, { ...parts, node: parts.node });
    }
    const found = this.#attachable(hello, parts);
    if (found instanceof TcpSession) this.#reply(conn, found, hello.instance);
    else this.#fail(conn, found);
  }

  /**
   * The session a descriptor names, if this app may attach it here: another app's descriptor
   * (or a forged secret) is EACCES, a closed or reclaimed socket EPIPE saying so, anything else
   * (another node's descriptor included, when it comes from a node) EBADF.
   */
  #attachable(hello: AttachRequest, parts: DescriptorParts | undefined): TcpSession | WireError {
    const badf = (why: string): WireError => ({
      code: 'EBADF',
      syscall: 'attach',
      message: `attach EBADF: ${why}`,
    });
    if (!parts) return badf(`'${hello.descriptor.slice(0, 60)}' is not a socket descriptor`);
    if (parts.node !== undefined && parts.node !== this.#node) {
      return badf(
        this.#node === undefined
          ? `descriptor ${parts.id} names node ${parts.node}, but this platform runs on one node (no --database)`
          : `descriptor ${parts.id} names node ${parts.node}, not this node (${this.#node})`,
      );
    }
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

  /**
   * An attach of a socket node `parts.node` owns (S16): the owner is asked over its peer port
   * (peer.ts) and checks it as a local attach; its reply goes to the instance as it came, and
   * from then on this service relays the control connection, and the data connection when it
   * arrives. The owner counts the bytes. An owner that is unknown, unreachable or silent is an
   * error naming it, within PEER_TIMEOUT_MS.
   */
  async #forwardAttach(
    conn: Socket,
    hello: HelloOf<'attach'>,
    parts: DescriptorParts & { node: string },
  ): Promise<void> {
    const cluster = this.#cluster!;
    const owner = parts.node;
    const unreachable = (code: string, why: string): WireError => ({
      code,
      syscall: 'attach',
      message: `attach ${code}: socket ${parts.id} belongs to node ${owner}, ${why}`,
    });
    let address: PeerAddress | undefined;
    try {
      address = await cluster.peerAddress(owner);
    } catch (err) {
      this.#fail(
        conn,
        unreachable('EIO', `whose address the platform database did not give: ${(err as Error).message}`),
      );
      return;
    }
    if (!address) {
      this.#fail(
        conn,
        unreachable(
          'ECONNREFUSED',
          'which is not running (no socket service of that name in the platform database); its sockets closed with it',
        ),
      );
      return;
    }
    const where = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    const request: PeerRequest = {
      op: 'attach',
      app: hello.app,
      instance: hello.instance,
      descriptor: hello.descriptor,
      ...(hello.request === undefined ? {} : { request: hello.request }),
      ...(hello.service === undefined ? {} : { service: hello.service }),
      ...(hello.version === undefined ? {} : { version: hello.version }),
    };
    let peer: Socket;
    let replyText: string;
    try {
      peer = await this.#dial(address, owner, request);
    } catch (err) {
      const e = err as Error & { code?: string };
      const code = e.code === 'ETIMEDOUT' ? 'ETIMEDOUT' : 'ECONNREFUSED';
      this.#fail(conn, unreachable(code, `which cannot be reached at ${where} (${e.message})`));
      return;
    }
    try {
      replyText = await withTimeout(readFirstLine(peer), PEER_TIMEOUT_MS, () => peer.destroy());
    } catch (err) {
      peer.destroy();
      this.#fail(
        conn,
        unreachable('ECONNRESET', `which did not answer at ${where} (${(err as Error).message})`),
      );
      return;
    }
    const reply = SocketReply.safeParse(parseLine(replyText));
    if (!reply.success) {
      peer.destroy();
      this.#fail(conn, unreachable('EPROTO', `whose answer at ${where} this node does not understand`));
      return;
    }
    if (!reply.data.ok || conn.destroyed) {
      peer.destroy();
      if (!reply.data.ok) this.#fail(conn, reply.data.error);
      return;
    }
    const token = reply.data.data;
    const timer = setTimeout(() => this.#forwardedData.delete(token), DATA_TOKEN_TTL_MS);
    timer.unref();
    this.#forwardedData.set(token, { node: owner, address, timer });
    conn.write(`${replyText}\n`);
    this.#relay(conn, peer);
  }

  /** The data connection of a forwarded attach: relayed to the owner node's peer port. */
  async #forwardData(conn: Socket, token: string, node: string, address: PeerAddress): Promise<void> {
    let peer: Socket;
    try {
      peer = await this.#dial(address, node, { op: 'data', data: token });
    } catch {
      conn.destroy();
      return;
    }
    if (conn.destroyed) {
      peer.destroy();
      return;
    }
    this.#relay(conn, peer);
  }

  async #dial(address: PeerAddress, node: string, request: PeerRequest): Promise<Socket> {
    const peer = await dialPeer({
      address,
      node,
      from: this.#node!,
      secret: this.#cluster!.secret,
      request,
    });
    this.#track(peer);
    return peer;
  }

  #relay(conn: Socket, peer: Socket): void {
    this.#track(conn);
    splice(conn, peer);
  }

  #track(conn: Socket): void {
    this.#peerConns.add(conn);
    conn.once('close', () => this.#peerConns.delete(conn));
  }

  /**
   * A connection on the peer port: another node of the platform, which must prove it holds the
   * peer secret before anything else (peer.ts); an attach is then checked as a local one, and
   * its data connection bound as a local one.
   */
  #acceptPeer(conn: Socket): void {
    conn.on('error', () => {});
    this.#track(conn);
    const node = this.#node!;
    const challenge = randomBytes(32).toString('hex');
    conn.write(line({ peer: PEER_VERSION, node, challenge }));
    const timer = setTimeout(() => conn.destroy(), HELLO_TIMEOUT_MS);
    readFirstLine(conn).then(
      (text) => {
        clearTimeout(timer);
        // Not joined yet (the secret is not known): nobody can be told apart from a stranger.
        const secret = this.#cluster?.secret;
        if (!secret) {
          conn.destroy();
          return;
        }
        const checked = checkPeerHello(text, secret, challenge, node);
        if ('refused' in checked) {
          const from = `${conn.remoteAddress ?? '?'}:${conn.remotePort ?? '?'}`;
          this.#notice(`refused a peer connection from ${from}: ${checked.refused}`);
          this.#fail(conn, {
            code: 'EACCES',
            syscall: 'attach',
            message: `attach EACCES: node ${node} refused the connection as a peer: ${checked.refused}`,
          });
          return;
        }
        const { request } = checked;
        conn.setNoDelay(true);
        conn.setKeepAlive(true, 30_000);
        if (request.op === 'data') {
          this.#bindData(conn, request.data);
          return;
        }
        const found = this.#attachable(request, parseDescriptor(request.descriptor));
        if (found instanceof TcpSession) this.#reply(conn, found, request.instance);
        else this.#fail(conn, found);
      },
      () => {
        clearTimeout(timer);
        conn.destroy();
      },
    );
  }

  #notice(message: string): void {
    if (this.#options.onNotice) this.#options.onNotice(message);
    else process.stderr.write(`${message}\n`);
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

/** Listens `server` on `where`; a failure says what the listener was for. */
function listening(
  server: Server,
  where: { path: string } | { host: string; port: number },
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new Error(`cannot listen ${what}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(where, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * The host other nodes are told to reach the peer port at: the listening host, or this
 * machine's name when the service listens on every interface.
 */
function advertisedHost(peerHost: string): string {
  return peerHost === '0.0.0.0' || peerHost === '::' || peerHost === '[::]' ? hostname() : peerHost;
}

/** `work`, or a rejection after `ms` (calling `onTimeout` first). */
function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`no answer within ${ms / 1000} s`));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

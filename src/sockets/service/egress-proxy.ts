/**
 * The egress proxy of one instance (SPEC S4 item 3, S12): how an entrypoint app in any
 * language reaches the network. One listener per instance speaks SOCKS5 (CONNECT and UDP
 * ASSOCIATE) and HTTP CONNECT, told apart by the first byte (0x05 is SOCKS5; anything else is
 * read as HTTP). Every destination is vetted and dialled exactly as an app socket of the
 * socket service is (`dialTcp`, `vetDestination`: one lookup, every answer checked, the vetted
 * address only), and every payload byte is reported for metering as socket bytes (S10).
 *
 * The passes, each in its own module under `egress-proxy/`: `client.ts` (a connection's
 * handshake clock and what it owns), `socks5.ts` and `http-connect.ts` (the conversations),
 * `socks5-wire.ts` and `http-wire.ts` (pure codecs), `tunnel.ts` (dial, failure mapping,
 * splice), `udp-relay.ts` (UDP ASSOCIATE).
 *
 * The listener says who is asking: it serves one instance, so no credentials are exchanged
 * (SOCKS5 "no authentication", no Proxy-Authorization). Any local process that can reach the
 * listener is served as that instance: on a TCP port that is any process of the machine, on a
 * Unix socket path whoever the file's permissions let in. The policy is the same for every
 * app, so that gains no reach, only the instance's name on the meter.
 */
import { rmSync } from 'node:fs';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { HangarError } from '../../shared/errors.js';
import { parseAddress } from '../ranges.js';
import { SOCKS_VERSION } from '../socks5-wire.js';
import type { DialDeps } from './dial.js';
import { ClientConnection, type Direction, type ProxyContext } from './egress-proxy/client.js';
import type { Step } from './egress-proxy/handshake-reader.js';
import { serveHttpConnect } from './egress-proxy/http-connect.js';
import { serveSocks5 } from './egress-proxy/socks5.js';

export type { Direction } from './egress-proxy/client.js';

/** Where the proxy listens: a Unix socket path, or a loopback address and port (0: any free one). */
export type EgressListen = { path: string } | { host: string; port: number };

/** The one instance a proxy serves. */
export interface EgressIdentity {
  app: string;
  instance: string;
}

/** What `startEgressProxy` takes: where to listen, for whom, the socket service's policy and resolver, limits, reports. */
export interface EgressProxyOptions extends Pick<DialDeps, 'policy' | 'resolver' | 'connect'> {
  /** Where to listen; none: it serves only the connections it is handed (`adopt`). */
  listen?: EgressListen;
  identity: EgressIdentity;
  /** A client must send its whole handshake within this (ms). Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Client connections served at once; more are answered with a failure. Default 256. */
  maxConnections?: number;
  /** A tunnel or UDP association without traffic this long is closed (ms). Default 10 min (S12). */
  idleTimeoutMs?: number;
  /** One address of a destination is given up on after this long (ms), as `dialTcp`. Default 30 s. */
  connectTimeoutMs?: number;
  /**
   * Payload bytes of tunnels and UDP datagrams, once per chunk as they move: socket bytes,
   * metered as outgoing bandwidth both ways (S10). Add them up; do not send one message each.
   */
  onBytes?(direction: Direction, bytes: number): void;
  /** The policy refused a destination; `message` names the address and the rule (S12). */
  onRefused?(message: string): void;
  /** A destination passed with a warning (dev server: loopback/private); each message once. */
  onWarning?(message: string): void;
  /** Something failed that no client could be told about (an accept error, a bug). */
  onError?(error: Error): void;
}

/** A running proxy. */
export interface EgressProxy {
  /** Where it listens, with the port it got. */
  readonly address: EgressListen;
  readonly identity: EgressIdentity;
  /** Client connections open now: in a handshake, tunnelled, holding a UDP association, or being answered. */
  readonly connections: number;
  /** Stops listening and destroys every connection, tunnel and UDP association. */
  close(): Promise<void>;
  /**
   * Serves a connection accepted elsewhere (the socket service's own listener, after the
   * `egress` hello that says whose it is), as if it had been accepted here.
   */
  adopt(socket: Socket): void;
}

/** The defaults, with their units. */
export const EGRESS_PROXY_DEFAULTS = Object.freeze({
  handshakeTimeoutMs: 10_000,
  maxConnections: 256,
  idleTimeoutMs: 600_000,
  connectTimeoutMs: 30_000,
});

/** Stream buffer of the spliced connections each way, as the socket service's (server.ts SPLICE_BUFFER). */
const SPLICE_BUFFER = 1 << 20;

/** SOCKS4 "request rejected or failed", so a SOCKS4 client hears no instead of HTTP. */
const SOCKS4_REJECTED = Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]);

const firstByte = (buf: Buffer): Step<number> =>
  buf.length === 0 ? { kind: 'more' } : { kind: 'done', value: buf[0]!, size: 0 };

/**
 * Starts the egress proxy of one instance and resolves once it listens.
 *
 * @example
 * const proxy = await startEgressProxy({
 *   listen: { host: '127.0.0.1', port: 0 },
 *   identity: { app: 'guestbook', instance },
 *   policy,
 *   resolver,
 *   onBytes: (direction, n) => (direction === 'sent' ? (sent += n) : (received += n)),
 *   onRefused: (message) => log.warn(message),
 * });
 * const { port } = proxy.address as { port: number }; // ALL_PROXY=socks5h://127.0.0.1:<port>
 * await proxy.close();
 */
export async function startEgressProxy(
  options: EgressProxyOptions & { listen: EgressListen },
): Promise<EgressProxy> {
  const proxy = new EgressProxyServer(resolveOptions(options));
  await proxy.listen();
  return proxy;
}

/**
 * A proxy that listens nowhere and serves the connections it is handed with `adopt` (the
 * socket service, which has authenticated them).
 *
 * @example
 * const proxy = egressProxyForAdoption({ identity, policy, resolver, onBytes, onRefused });
 * proxy.adopt(connection);
 */
export function egressProxyForAdoption(options: Omit<EgressProxyOptions, 'listen'>): EgressProxy {
  return new EgressProxyServer(resolveOptions(options));
}

type Resolved = EgressProxyOptions & typeof EGRESS_PROXY_DEFAULTS;

/** Checks the options once and fills in the defaults; throws a RangeError naming a bad one. */
function resolveOptions(options: EgressProxyOptions): Readonly<Resolved> {
  const resolved = { ...EGRESS_PROXY_DEFAULTS, ...stripUndefined(options) } as Resolved;
  for (const key of Object.keys(EGRESS_PROXY_DEFAULTS) as Array<keyof typeof EGRESS_PROXY_DEFAULTS>) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`egress proxy option ${key} must be a whole number above 0; got ${value}`);
    }
  }
  const { listen } = resolved;
  if (listen === undefined) return Object.freeze(resolved);
  if ('path' in listen) {
    if (listen.path === '') throw new RangeError('egress proxy option listen.path is empty');
  } else {
    if (isIP(listen.host) === 0 || parseAddress(listen.host)?.range() !== 'loopback') {
      throw new RangeError(
        `the egress proxy listens on loopback or a Unix socket only (an open proxy elsewhere would let anyone ` +
          `use the app's network identity); got listen.host '${listen.host}'`,
      );
    }
    if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65_535) {
      throw new RangeError(`egress proxy option listen.port must be 0–65535; got ${listen.port}`);
    }
  }
  return Object.freeze(resolved);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

class EgressProxyServer implements EgressProxy {
  readonly identity: EgressIdentity;
  readonly #options: Readonly<Resolved>;
  readonly #ctx: ProxyContext;
  readonly #server: Server;
  readonly #clients = new Set<ClientConnection>();
  readonly #warned = new Set<string>();
  /** Connections admitted under the cap, and connections past it being answered. */
  #served = 0;
  #answering = 0;
  #closing: Promise<void> | undefined;

  constructor(options: Readonly<Resolved>) {
    this.#options = options;
    this.identity = options.identity;
    const { policy, resolver, connect, connectTimeoutMs } = options;
    this.#ctx = {
      dial: { policy, resolver, connectTimeoutMs, ...(connect ? { connect } : {}) },
      idleTimeoutMs: options.idleTimeoutMs,
      owner: `app ${options.identity.app}, instance ${options.identity.instance}`,
      maxConnections: options.maxConnections,
      meter: (direction, bytes) => options.onBytes?.(direction, bytes),
      refused: (message) => options.onRefused?.(message),
      warn: (message) => this.#warn(message),
    };
    // Half-open capable, so a client's FIN reaches the remote side and replies still flow;
    // 1 MiB buffers each way, as the socket service's own splice.
    this.#server = createServer({ allowHalfOpen: true, highWaterMark: SPLICE_BUFFER }, (socket) =>
      this.#accept(socket),
    );
  }

  get address(): EgressListen {
    const { listen } = this.#options;
    if (listen === undefined) return { path: '' };
    if ('path' in listen) return { path: listen.path };
    const bound = this.#server.address();
    return bound && typeof bound === 'object' ? { host: bound.address, port: bound.port } : listen;
  }

  get connections(): number {
    return this.#clients.size;
  }

  adopt(socket: Socket): void {
    this.#accept(socket);
    // The hello's reader paused it; the handshake reads from here on.
    socket.resume();
  }

  listen(): Promise<void> {
    const { listen } = this.#options;
    if (listen === undefined)
      return Promise.reject(new Error('this egress proxy serves adopted connections only'));
    if ('path' in listen) rmSync(listen.path, { force: true });
    const where = 'path' in listen ? listen.path : `${listen.host}:${listen.port}`;
    return new Promise((resolve, reject) => {
      const failed = (err: Error) =>
        reject(
          new HangarError(
            'SOCKET_SERVICE_FAILED',
            `the egress proxy of ${this.#ctx.owner} cannot listen on ${where}: ${err.message}`,
            { cause: err },
          ),
        );
      this.#server.once('error', failed);
      const listening = () => {
        this.#server.off('error', failed);
        this.#server.on('error', (err) => this.#options.onError?.(err));
        resolve();
      };
      if ('path' in listen) this.#server.listen(listen.path, listening);
      else this.#server.listen(listen.port, listen.host, listening);
    });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      if (this.#server.listening) this.#server.close(() => resolve());
      else resolve();
      for (const client of this.#clients) client.destroy();
    });
    return this.#closing;
  }

  /**
   * Admits a connection. Up to `maxConnections` are served; past that a connection still gets
   * its handshake read and a failure answered (SOCKS5 general failure, HTTP 503), so the client
   * learns why; past twice the cap it is closed at once, since answering costs a socket too.
   */
  #accept(socket: Socket): void {
    const max = this.#options.maxConnections;
    const overCap = this.#served >= max;
    if (this.#closing || (overCap && this.#answering >= max)) {
      socket.destroy();
      return;
    }
    if (overCap) this.#answering++;
    else this.#served++;
    const client = new ClientConnection(socket, {
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
      overCap,
    });
    this.#clients.add(client);
    socket.once('close', () => {
      this.#clients.delete(client);
      if (overCap) this.#answering--;
      else this.#served--;
    });
    this.#serve(client).catch((err: unknown) => {
      client.destroy();
      this.#options.onError?.(err instanceof Error ? err : new Error(String(err)));
    });
  }

  async #serve(client: ClientConnection): Promise<void> {
    const first = await client.reader.read(firstByte);
    if (first.kind !== 'done') return client.destroy();
    if (first.value === SOCKS_VERSION) return serveSocks5(client, this.#ctx);
    if (first.value === 0x04) return client.answer(SOCKS4_REJECTED);
    return serveHttpConnect(client, this.#ctx);
  }

  #warn(message: string): void {
    if (this.#warned.has(message) || this.#warned.size >= 1_000) return;
    this.#warned.add(message);
    this.#options.onWarning?.(message);
  }
}

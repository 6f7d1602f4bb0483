import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { toWire } from '../../errno.js';
import { vetDestination } from '../../policy.js';
import { encodeUdpDatagram, parseUdpDatagram, type UdpDatagram } from '../../socks5-wire.js';
import { IdleClock } from '../idle.js';
import type { ProxyContext } from './client.js';

/** Datagrams waiting for their destination to be vetted; past this, new ones are dropped. */
const MAX_QUEUED = 64;

/** Where the client said it will send from (RFC 1928 §7); an unknown part is learnt from its first datagram. */
export interface ExpectedClient {
  address?: string | undefined;
  port?: number | undefined;
}

/**
 * One UDP ASSOCIATE (RFC 1928 §7). The client sends its datagrams, each behind a header naming
 * the destination, to a relay socket on 127.0.0.1; the relay vets every destination with the
 * S12 policy (every unconnected send is checked, a name is looked up once per datagram), sends
 * the payload from a socket of its own, and hands each datagram that comes back to the client
 * behind a header naming its source. Only the client's address is served: the first datagram
 * that matches what the request declared fixes the client's address and port, and datagrams
 * from anywhere else are dropped. Fragments (FRAG ≠ 0) are dropped; RFC 1928 makes reassembly
 * optional. Refused destinations are dropped and reported. Payload bytes are metered.
 */
export class UdpRelay {
  readonly #ctx: ProxyContext;
  readonly #expected: ExpectedClient;
  readonly #relay: UdpSocket;
  readonly #outbound = new Map<4 | 6, Promise<UdpSocket>>();
  readonly #sockets: UdpSocket[] = [];
  readonly #idle: IdleClock;
  #client: { address: string; port: number } | undefined;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #closed = false;

  /** Binds the relay on 127.0.0.1 (an ephemeral port); `onIdle` ends the association. */
  static async open(expected: ExpectedClient, ctx: ProxyContext, onIdle: () => void): Promise<UdpRelay> {
    const relay = new UdpRelay(expected, ctx, onIdle);
    try {
      await bound(relay.#relay, '127.0.0.1');
    } catch (err) {
      relay.destroy();
      throw err;
    }
    return relay;
  }

  private constructor(expected: ExpectedClient, ctx: ProxyContext, onIdle: () => void) {
    this.#expected = expected;
    this.#ctx = ctx;
    this.#relay = this.#socket('udp4');
    this.#relay.on('message', (msg, from) => this.#fromClient(msg, from));
    this.#idle = new IdleClock(ctx.idleTimeoutMs, onIdle);
  }

  /** The relay's port on 127.0.0.1, for the reply's BND.PORT. */
  get port(): number {
    return this.#relay.address().port;
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    for (const socket of this.#sockets) {
      try {
        socket.close();
      } catch {
        // never bound, or closed already
      }
    }
  }

  #fromClient(msg: Buffer, from: RemoteInfo): void {
    if (this.#closed || !this.#accepts(from)) return;
    this.#client ??= { address: from.address, port: from.port };
    const datagram = parseUdpDatagram(msg);
    // No readable header, or a fragment (FRAG ≠ 0): dropped.
    if (datagram?.frag !== 0 || this.#queued >= MAX_QUEUED) return;
    this.#idle.touch();
    this.#queued++;
    // One at a time, so datagrams leave in the order they came even when a name is looked up.
    this.#queue = this.#queue.then(() => this.#forward(datagram));
  }

  #accepts(from: RemoteInfo): boolean {
    if (this.#client) return from.address === this.#client.address && from.port === this.#client.port;
    const { address, port } = this.#expected;
    if (port !== undefined && from.port !== port) return false;
    return address !== undefined ? from.address === address : from.address.startsWith('127.');
  }

  async #forward({ host, port, payload }: UdpDatagram): Promise<void> {
    try {
      if (this.#closed) return;
      const { policy, resolver } = this.#ctx.dial;
      const vetted = await vetDestination({ host, port, syscall: 'send' }, policy, resolver);
      for (const warning of vetted.warnings) this.#ctx.warn(warning);
      const target = vetted.addresses[0]!;
      const socket = await this.#outboundFor(target.family);
      if (this.#closed) return;
      await new Promise<void>((resolve, reject) =>
        socket.send(payload, vetted.port, target.address, (err) => (err ? reject(err) : resolve())),
      );
      this.#ctx.meter('sent', payload.length);
    } catch (err) {
      const { code, message } = toWire(err);
      if (code === 'EACCES') this.#ctx.refused(message);
      // Anything else (a name that does not resolve, port 0, a failed send) loses the datagram,
      // as the network may; UDP has no way to say why.
    } finally {
      this.#queued--;
    }
  }

  /** A datagram from a destination: counted as received, and passed on with its source. */
  #fromRemote(msg: Buffer, from: RemoteInfo): void {
    const client = this.#client;
    if (this.#closed || !client) return;
    this.#idle.touch();
    this.#ctx.meter('received', msg.length);
    this.#relay.send(encodeUdpDatagram(from.address, from.port, msg), client.port, client.address, () => {});
  }

  /** The socket sending to `family` destinations: bound once, on an ephemeral port (as UdpSession). */
  #outboundFor(family: 4 | 6): Promise<UdpSocket> {
    let socket = this.#outbound.get(family);
    if (!socket) {
      const udp = this.#socket(family === 4 ? 'udp4' : 'udp6');
      udp.on('message', (msg, from) => this.#fromRemote(msg, from));
      socket = bound(udp).then(() => udp);
      this.#outbound.set(family, socket);
    }
    return socket;
  }

  #socket(type: 'udp4' | 'udp6'): UdpSocket {
    const socket = createSocket(type === 'udp4' ? { type } : { type, ipv6Only: true });
    socket.on('error', () => {});
    this.#sockets.push(socket);
    return socket;
  }
}

function bound(socket: UdpSocket, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

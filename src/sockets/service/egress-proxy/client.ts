import type { Socket } from 'node:net';
import type { DialDeps } from '../dial.js';
import { HandshakeReader } from './handshake-reader.js';

/** Which way metered bytes went: `sent` from the app to the remote side, `received` back. */
export type Direction = 'sent' | 'received';

/** What every conversation of one proxy shares: how to dial, the limits, and where to report. */
export interface ProxyContext {
  dial: DialDeps;
  /** Tunnels and UDP associations without traffic this long are closed (S12 idle reclaim). */
  idleTimeoutMs: number;
  /** Names the proxy in answers: `app a1, instance 3f2e…`. */
  owner: string;
  maxConnections: number;
  meter(direction: Direction, bytes: number): void;
  /** The policy refused a destination; `message` names the address and the rule. */
  refused(message: string): void;
  /** A destination passed with a warning (dev server: loopback/private). */
  warn(message: string): void;
}

/** The longest a client's handshake messages may be held, together with what it sent after them. */
const MAX_HELD_BYTES = 64 * 1024;

/**
 * One client connection from accept to close: the handshake clock, the reader of its
 * handshake, and what it owns (a remote connection, a UDP relay) so that closing the proxy
 * takes those along.
 */
export class ClientConnection {
  readonly socket: Socket;
  readonly reader: HandshakeReader;
  /** Past the proxy's connection cap: the handshake is read and answered with a failure. */
  readonly overCap: boolean;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #owned = new Set<{ destroy(): void }>();

  constructor(socket: Socket, options: { handshakeTimeoutMs: number; overCap: boolean }) {
    this.socket = socket;
    this.overCap = options.overCap;
    this.#timeoutMs = options.handshakeTimeoutMs;
    this.reader = new HandshakeReader(socket, MAX_HELD_BYTES);
    socket.on('error', () => {});
    socket.on('close', () => clearTimeout(this.#timer));
    this.#arm();
  }

  /** The client's handshake is in: stop its clock (dialing has a clock of its own). */
  handshakeDone(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Sends a final answer (a SOCKS failure reply, an HTTP error) and closes. Whatever the client
   * still sends is read and dropped, so the kernel does not reset the connection before the
   * client has read the answer; the handshake timeout bounds how long that may take.
   */
  answer(bytes: Buffer): void {
    this.reader.release();
    this.#arm();
    this.socket.end(bytes);
    this.socket.resume();
  }

  /** Ties `resource` to this connection for `destroy()` (a proxy that closes ends it too). */
  own(resource: { destroy(): void }): void {
    if (this.socket.destroyed) resource.destroy();
    else this.#owned.add(resource);
  }

  /** Closes the connection at once, and everything it owns. */
  destroy(): void {
    this.socket.destroy();
    for (const resource of this.#owned) resource.destroy();
    this.#owned.clear();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.destroy(), this.#timeoutMs);
    this.#timer.unref();
  }
}

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { toWire } from '../errno.js';
import { encodeFrame, type Frame, FrameDecoder } from '../frames.js';
import type { SocketView } from '../ipc.js';
import type { VettedDestination } from '../policy.js';
import { IdleClock } from './idle.js';
import type { Session, Tombstone } from './registry.js';
import { socketView } from './socket-view.js';

export interface UdpSessionInit {
  id: string;
  app: string;
  service: string | undefined;
  version: string | undefined;
  instance: string;
  request: string | undefined;
  type: 'udp4' | 'udp6';
  idleTimeoutMs: number;
  /** Vets one destination (a `send` without connect, or a `connect`). */
  vet(host: unknown, port: unknown, syscall: string): Promise<VettedDestination>;
  onEnded(session: UdpSession, tombstone: Tombstone): void;
}

/**
 * One app UDP socket owned by the service, driven by frames on the shim's connection: `bind`
 * (only to an ephemeral port), `connect`, `send` (every unconnected send is vetted), `close`;
 * received datagrams go back as `message` frames. Operations run in order, one at a time.
 */
export class UdpSession implements Session {
  readonly id: string;
  readonly app: string;
  readonly service: string | undefined;
  readonly version: string | undefined;
  sent = 0;
  received = 0;
  readonly #init: UdpSessionInit;
  readonly #conn: Socket;
  readonly #udp: UdpSocket;
  readonly idle: IdleClock;
  /** When the socket was opened (epoch ms). */
  readonly openedAt = Date.now();
  #queue: Promise<void> = Promise.resolve();
  #bound: Promise<void> | undefined;
  #peer: { destination: string; remote: string } | undefined;
  #last: { destination: string; remote: string } | undefined;
  #ended = false;

  constructor(conn: Socket, init: UdpSessionInit) {
    this.#init = init;
    this.id = init.id;
    this.app = init.app;
    this.service = init.service;
    this.version = init.version;
    this.#conn = conn;
    this.#udp = createSocket(init.type);
    this.idle = new IdleClock(init.idleTimeoutMs, () =>
      this.#end(
        `send EPIPE: UDP socket ${this.id} was reclaimed after ${init.idleTimeoutMs} ms without activity (sockets.idle_timeout)`,
        true,
      ),
    );
    this.#udp.on('message', (msg, rinfo) => {
      this.received += msg.length;
      this.idle.touch();
      this.#write({ ev: 'message', address: rinfo.address, port: rinfo.port, family: rinfo.family }, msg);
    });
    this.#udp.on('error', (err) => this.#write({ ev: 'error', error: toWire(err) }));
    const decoder = new FrameDecoder();
    conn.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        conn.destroy();
        return;
      }
      for (const frame of frames) this.#queue = this.#queue.then(() => this.#handle(frame));
    });
    conn.on('error', () => {});
    // The instance's side ended (close(), or the instance died): the socket goes with it.
    conn.on('end', () => this.#end('UDP socket closed by the app', false));
    conn.on('close', () => this.#end('UDP socket closed by the app', false));
    conn.resume();
  }

  /** The request that opened the socket. */
  get request(): string | undefined {
    return this.#init.request ?? undefined;
  }

  view(now: number): SocketView {
    const target = this.#peer ?? this.#last;
    return socketView(
      this,
      {
        protocol: 'udp',
        destination: target?.destination ?? null,
        remote: target?.remote ?? null,
        instance: this.#init.instance,
        state: 'open',
      },
      now,
    );
  }

  shutdown(): void {
    this.#end('the socket service is stopping', false);
  }

  async #handle({ header, payload }: Frame): Promise<void> {
    if (this.#ended) return;
    this.idle.touch();
    const seq = header.seq;
    try {
      switch (header.op) {
        case 'bind': {
          await this.#bind();
          this.#write({ ev: 'bound', seq, address: this.#udp.address() });
          break;
        }
        case 'connect': {
          const vetted = await this.#init.vet(header.host, header.port, 'connect');
          const target = vetted.addresses[0]!;
          await this.#bind();
          await new Promise<void>((resolve, reject) => {
            this.#udp.once('error', reject);
            this.#udp.connect(vetted.port, target.address, () => {
              this.#udp.off('error', reject);
              resolve();
            });
          });
          this.#peer = {
            destination: `${vetted.host}:${vetted.port}`,
            remote: `${target.address}:${vetted.port}`,
          };
          this.#write({ ev: 'connected', seq, remote: this.#udp.remoteAddress(), warnings: vetted.warnings });
          break;
        }
        case 'disconnect':
          if (this.#peer) this.#udp.disconnect();
          this.#peer = undefined;
          this.#write({ ev: 'disconnected', seq });
          break;
        case 'send': {
          await this.#bind();
          const warnings = await this.#send(header, payload);
          this.sent += payload.length;
          this.#write({ ev: 'sent', seq, bytes: payload.length, warnings });
          break;
        }
        case 'close':
          this.#end('UDP socket closed by the app', false);
          break;
      }
    } catch (err) {
      this.#write({ ev: 'failed', seq, error: toWire(err) });
    }
  }

  async #send(header: Record<string, unknown>, payload: Buffer): Promise<string[]> {
    if (this.#peer) {
      await new Promise<void>((resolve, reject) =>
        this.#udp.send(payload, (err) => (err ? reject(err) : resolve())),
      );
      return [];
    }
    const vetted = await this.#init.vet(header.host, header.port, 'send');
    const target = vetted.addresses[0]!;
    this.#last = { destination: `${vetted.host}:${vetted.port}`, remote: `${target.address}:${vetted.port}` };
    await new Promise<void>((resolve, reject) =>
      this.#udp.send(payload, vetted.port, target.address, (err) => (err ? reject(err) : resolve())),
    );
    return vetted.warnings;
  }

  /** Binds to an ephemeral port on the wildcard address, once (the shim refuses anything else). */
  #bind(): Promise<void> {
    this.#bound ??= new Promise((resolve, reject) => {
      this.#udp.once('error', reject);
      this.#udp.bind(0, () => {
        this.#udp.off('error', reject);
        resolve();
      });
    });
    return this.#bound;
  }

  #write(header: Record<string, unknown>, payload?: Buffer): void {
    if (!this.#conn.writableEnded && !this.#conn.destroyed) this.#conn.write(encodeFrame(header, payload));
  }

  #end(message: string, reclaimed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.idle.stop();
    if (reclaimed) this.#write({ ev: 'reclaimed', error: { code: 'EPIPE', syscall: 'send', message } });
    this.#conn.end();
    try {
      this.#udp.close();
    } catch {
      // never bound: nothing to close
    }
    this.#init.onEnded(this, { app: this.app, secret: '', message });
  }
}

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type ErrnoError, toWire, type WireError } from '../errno.js';
import type { SocketView } from '../ipc.js';
import { parseLine } from '../lines.js';
import { type ControlEvent, ControlLine, type Endpoint, line } from '../protocol.js';
import { IdleClock } from './idle.js';
import { type DescriptorParts, formatDescriptor, type Session, type Tombstone } from './registry.js';
import { socketView } from './socket-view.js';

export interface TcpSessionInit {
  parts: DescriptorParts;
  app: string;
  service: string | undefined;
  version: string | undefined;
  request: string | undefined;
  /** `host:port` as the app asked for it. */
  destination: string;
  remote: Endpoint;
  local: Endpoint;
  socket: Socket;
  idleTimeoutMs: number;
  /** The session ended; the registry forgets it and keeps `tombstone`. */
  onEnded(session: TcpSession, tombstone: Tombstone): void;
}

/**
 * The instance side of a socket at one moment: the control connection (verdicts and events)
 * and, once it arrived, the data connection carrying the bytes.
 */
interface Attachment {
  control: Socket;
  instance: string;
  data?: Socket;
  token: string;
  /** What the app did: `end` (its write side is done) or `close` (it destroyed the socket). */
  verdict?: 'end' | 'close';
  dataEnded: boolean;
}

/**
 * One app TCP socket owned by the service. The remote connection lives here, so the socket
 * survives the instance that opened it: when an instance goes away without closing it (crash,
 * kill, restart) and a descriptor was handed out, the remote side is paused until another
 * instance of the same app attaches, or the idle clock reclaims it.
 */
export class TcpSession implements Session {
  readonly id: string;
  readonly app: string;
  readonly service: string | undefined;
  readonly version: string | undefined;
  readonly descriptor: string;
  readonly remoteEndpoint: Endpoint;
  readonly localEndpoint: Endpoint;
  readonly #init: TcpSessionInit;
  readonly #remote: Socket;
  /** When the socket was opened (epoch ms). */
  readonly openedAt = Date.now();
  readonly idle: IdleClock;
  #attachment: Attachment | undefined;
  /** A descriptor was asked for: the socket outlives its instance. */
  #shared = false;
  #remoteEnded = false;
  #remoteWriteEnded = false;
  #remoteError: ErrnoError | undefined;
  #ended = false;

  constructor(init: TcpSessionInit) {
    this.#init = init;
    this.id = init.parts.id;
    this.app = init.app;
    this.service = init.service;
    this.version = init.version;
    this.descriptor = formatDescriptor(init.parts);
    this.remoteEndpoint = init.remote;
    this.localEndpoint = init.local;
    this.#remote = init.socket;
    this.idle = new IdleClock(
      init.idleTimeoutMs,
      () => this.#reclaim(),
      () => this.sent + this.received,
    );
    const remote = this.#remote;
    // Paused until a data connection is piped in.
    remote.pause();
    remote.on('end', () => {
      this.#remoteEnded = true;
      this.#attachment?.data?.end();
    });
    remote.on('error', (err: ErrnoError) => {
      this.#remoteError = err;
    });
    remote.on('close', () => this.#end());
  }

  /**
   * Bytes the app sent through this socket: Node's own counter on the remote connection, so
   * the splice needs no listener of its own per chunk (it survives destroy, too).
   */
  get sent(): number {
    return this.#remote.bytesWritten ?? 0;
  }

  /** Bytes the remote side sent to the app. */
  get received(): number {
    return this.#remote.bytesRead;
  }

  get secret(): string {
    return this.#init.parts.secret;
  }

  /**
   * Binds the socket to a new control connection (a connect or an attach) and returns the
   * one-time token its data connection must present. A previous holder is told the socket
   * moved and is cut off.
   */
  attach(control: Socket, instance: string): string {
    const previous = this.#attachment;
    if (previous) {
      this.#detach(previous);
      this.#send(previous, {
        event: 'moved',
        error: {
          code: 'EPIPE',
          syscall: 'write',
          message: `write EPIPE: socket ${this.id} was attached by instance ${instance.slice(0, 8)} of app ${this.app}; this copy no longer carries it`,
        },
      });
      previous.control.end();
      previous.data?.end();
    }
    const attachment: Attachment = {
      control,
      instance,
      token: randomBytes(16).toString('hex'),
      dataEnded: false,
    };
    this.#attachment = attachment;
    this.idle.touch();
    control.on('error', () => {});
    // The service's connections are half-open capable (for data); a control connection is done
    // when the instance's side ends, whether by close() or because the instance died.
    control.on('end', () => control.destroy());
    control.on('close', () => this.#controlClosed(attachment));
    return attachment.token;
  }

  /** Handles one line the client sent on `control` after the reply (see ControlLine). */
  controlLine(control: Socket, text: string): void {
    const attachment = this.#attachment;
    if (!attachment || attachment.control !== control) return;
    const parsed = ControlLine.safeParse(parseLine(text));
    if (!parsed.success) return;
    this.idle.touch();
    switch (parsed.data.op) {
      case 'describe':
        this.#shared = true;
        break;
      case 'touch':
        break;
      case 'end':
        attachment.verdict ??= 'end';
        this.#settle(attachment);
        break;
      case 'close':
        attachment.verdict = 'close';
        this.#settle(attachment);
        break;
    }
  }

  /** The data connection for `token` arrived: splice it to the remote side, both ways. */
  bindData(token: string, data: Socket): boolean {
    const attachment = this.#attachment;
    if (this.#ended || !attachment || attachment.token !== token || attachment.data) return false;
    attachment.data = data;
    data.on('error', () => {});
    data.on('end', () => {
      attachment.dataEnded = true;
      this.#settle(attachment);
    });
    data.pipe(this.#remote, { end: false });
    if (this.#remoteEnded) data.end();
    else this.#remote.pipe(data, { end: false });
    return true;
  }

  /** The request that opened the socket. */
  get request(): string | undefined {
    return this.#init.request ?? undefined;
  }

  view(now: number): SocketView {
    const attachment = this.#attachment;
    return socketView(
      this,
      {
        protocol: 'tcp',
        destination: this.#init.destination,
        remote: endpointText(this.remoteEndpoint),
        instance: attachment?.instance ?? null,
        state: attachment ? 'open' : 'detached',
      },
      now,
    );
  }

  shutdown(): void {
    this.#remote.destroy();
  }

  /** Applies the app's verdict once the data connection's bytes are through. */
  #settle(attachment: Attachment): void {
    if (attachment !== this.#attachment) return;
    if (attachment.verdict === 'close') {
      this.#remote.destroy();
      return;
    }
    if (attachment.verdict === 'end' && attachment.dataEnded && !this.#remoteWriteEnded) {
      this.#remoteWriteEnded = true;
      this.#remote.end();
    }
  }

  /**
   * The control connection closed. After a `close` verdict that was the plan; otherwise the
   * instance went away (crash, kill, restart): a socket with a descriptor waits for `attach`,
   * any other is closed, since nobody could ever reach it again.
   */
  #controlClosed(attachment: Attachment): void {
    if (attachment !== this.#attachment) return;
    this.#detach(attachment);
    this.#attachment = undefined;
    attachment.data?.destroy();
    if (attachment.verdict === 'close' || !this.#shared) this.#remote.destroy();
  }

  #detach(attachment: Attachment): void {
    const { data } = attachment;
    if (data) {
      data.unpipe(this.#remote);
      this.#remote.unpipe(data);
    }
    this.#remote.pause();
  }

  #reclaim(): void {
    if (this.#ended) return;
    const minutes = this.idle.timeoutMs / 60_000;
    const idle = minutes >= 1 ? `${+minutes.toFixed(2)} min` : `${this.idle.timeoutMs} ms`;
    const message =
      `write EPIPE: socket ${this.id} to ${this.#init.destination} was reclaimed after ${idle} without ` +
      'activity (sockets.idle_timeout); open a new socket';
    const attachment = this.#attachment;
    if (attachment) {
      this.#detach(attachment);
      this.#send(attachment, { event: 'reclaimed', error: { code: 'EPIPE', syscall: 'write', message } });
      attachment.control.end();
      attachment.data?.end();
    }
    this.#finish({ app: this.app, secret: this.secret, message });
    this.#remote.destroy();
  }

  /** The remote connection closed (by either side, or reset). */
  #end(): void {
    if (this.#ended) return;
    const attachment = this.#attachment;
    const error = this.#remoteError;
    if (attachment) {
      if (error) {
        this.#send(attachment, { event: 'error', error: toWire(error) as WireError & { message: string } });
        attachment.data?.destroy();
      } else {
        attachment.data?.end();
      }
      attachment.control.end();
    }
    this.#finish({
      app: this.app,
      secret: this.secret,
      message: `write EPIPE: socket ${this.id} to ${this.#init.destination} is closed${error ? ` (${error.code ?? error.message})` : ''}; open a new socket`,
    });
  }

  #finish(tombstone: Tombstone): void {
    if (this.#ended) return;
    this.#ended = true;
    this.idle.stop();
    this.#init.onEnded(this, tombstone);
  }

  #send(attachment: Attachment, event: ControlEvent): void {
    if (!attachment.control.writableEnded) attachment.control.write(line(event));
  }
}

function endpointText(endpoint: Endpoint): string {
  return endpoint.address.includes(':')
    ? `[${endpoint.address}]:${endpoint.port}`
    : `${endpoint.address}:${endpoint.port}`;
}

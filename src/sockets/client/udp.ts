/**
 * `node:dgram` in an instance (S12): a UDP socket is owned by the socket service and driven
 * over one framed stream connection (frames.ts). The API is dgram's; what S12 refuses
 * (binding a specific address or port, broadcast, multicast) throws or emits EACCES.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { type ErrnoError, errnoError } from '../errno.js';
import { encodeFrame, type Frame, FrameDecoder, MAX_PAYLOAD } from '../frames.js';
import type { Hello } from '../protocol.js';
import { PROTOCOL_VERSION } from '../wire.js';
import { replyError, type ServiceLink } from './link.js';
import { refusal } from './net-patch.js';

type Callback = (err: Error | null, ...values: unknown[]) => void;
type Payload =
  | string
  | Buffer
  | NodeJS.ArrayBufferView
  | ReadonlyArray<string | Buffer | NodeJS.ArrayBufferView>;

const SIMULATED_BUFFER = 2_097_152;

let link: ServiceLink | undefined;

/** A UDP socket carried by the socket service, with the API of `dgram.Socket`. */
export class HangarUdpSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  #conn: Socket | undefined;
  #opening: Promise<Socket> | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, (frame: Frame) => void>();
  #bound: Promise<void> | undefined;
  #address: AddressInfo | undefined;
  #remote: AddressInfo | undefined;
  #closed = false;
  #refed = true;

  constructor(
    options: 'udp4' | 'udp6' | dgram.SocketOptions,
    listener?: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  ) {
    super();
    const type = typeof options === 'string' ? options : options?.type;
    if (type !== 'udp4' && type !== 'udp6') {
      throw Object.assign(new TypeError(`Bad socket type specified. Valid types are: udp4, udp6`), {
        code: 'ERR_SOCKET_BAD_TYPE',
      });
    }
    this.type = type;
    if (listener) this.on('message', listener);
  }

  bind(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    const first = args[0];
    const opts = (
      typeof first === 'object' && first !== null ? first : { port: first, address: args[1] }
    ) as {
      port?: unknown;
      address?: unknown;
      fd?: unknown;
    };
    const wildcard =
      opts.address === undefined ||
      opts.address === '' ||
      opts.address === '0.0.0.0' ||
      opts.address === '::';
    const ephemeral = opts.port === undefined || opts.port === 0 || opts.port === '0' || opts.port === null;
    if (opts.fd !== undefined || !wildcard || !ephemeral) {
      const what =
        opts.fd !== undefined
          ? `file descriptor ${String(opts.fd)}`
          : `${String(opts.address ?? '*')}:${String(opts.port ?? 0)}`;
      const err = refusal(
        'bind',
        `binding a UDP socket to ${what} is refused; bind to port 0 on the wildcard address, or do not bind`,
      );
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    if (cb) this.once('listening', cb);
    this.#bind().catch((err: Error) => this.emit('error', err));
    return this;
  }

  connect(port: unknown, address?: unknown, callback?: () => void): void {
    const cb = typeof address === 'function' ? (address as () => void) : callback;
    const host = typeof address === 'string' ? address : this.#defaultHost();
    this.#ready()
      .then(() => this.#request({ op: 'connect', host, port }))
      .then(
        (frame) => {
          this.#remote = frame.header.remote as AddressInfo;
          this.emit('connect');
          cb?.();
        },
        (err: Error) => this.emit('error', err),
      );
  }

  disconnect(): void {
    if (!this.#remote) throw notConnected();
    this.#remote = undefined;
    this.#request({ op: 'disconnect' }).catch(() => {});
  }

  send(msg: Payload, ...rest: unknown[]): void {
    const cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as Callback) : undefined;
    // (msg, offset, length, ...) when msg is a single buffer and two numbers follow.
    let payload = toBuffer(msg);
    if (
      typeof rest[0] === 'number' &&
      typeof rest[1] === 'number' &&
      !Array.isArray(msg) &&
      typeof msg !== 'string'
    ) {
      payload = payload.subarray(rest[0] as number, (rest[0] as number) + (rest[1] as number));
      rest.splice(0, 2);
    }
    const [port, address] = rest;
    const connected = this.#remote !== undefined;
    if (connected && port !== undefined) {
      throw Object.assign(new Error('Already connected'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    }
    if (payload.length > MAX_PAYLOAD) {
      const err = errnoError({
        code: 'EMSGSIZE',
        syscall: 'send',
        message: `send EMSGSIZE: ${payload.length} bytes is more than a datagram holds`,
      });
      this.#report(err, cb);
      return;
    }
    const header = connected
      ? { op: 'send' }
      : { op: 'send', port, host: typeof address === 'string' ? address : this.#defaultHost() };
    this.#ready()
      .then(() => this.#bind())
      .then(() => this.#request(header, payload))
      .then(
        (frame) => cb?.(null, frame.header.bytes),
        (err: Error) => this.#report(err, cb),
      );
  }

  close(callback?: () => void): this {
    if (this.#closed) throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    this.#closed = true;
    if (callback) this.once('close', callback);
    const conn = this.#conn;
    if (conn) {
      conn.write(encodeFrame({ op: 'close' }));
      conn.end();
    }
    process.nextTick(() => this.emit('close'));
    return this;
  }

  address(): AddressInfo {
    if (!this.#address)
      throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    return { ...this.#address };
  }

  remoteAddress(): AddressInfo {
    if (!this.#remote) throw notConnected();
    return { ...this.#remote };
  }

  setBroadcast(flag: boolean): void {
    if (flag) throw refusal('setBroadcast', 'UDP broadcast is refused (S12)');
  }
  addMembership(group: string): void {
    throw refusal('addMembership', `joining the multicast group ${group} is refused (S12)`);
  }
  dropMembership(group: string): void {
    throw refusal('dropMembership', `multicast (${group}) is refused (S12)`);
  }
  addSourceSpecificMembership(_source: string, group: string): void {
    throw refusal('addSourceSpecificMembership', `joining the multicast group ${group} is refused (S12)`);
  }
  dropSourceSpecificMembership(_source: string, group: string): void {
    throw refusal('dropSourceSpecificMembership', `multicast (${group}) is refused (S12)`);
  }
  setMulticastTTL(_ttl: number): number {
    throw refusal('setMulticastTTL', 'multicast is refused (S12)');
  }
  setMulticastLoopback(_flag: boolean): boolean {
    throw refusal('setMulticastLoopback', 'multicast is refused (S12)');
  }
  setMulticastInterface(_address: string): void {
    throw refusal('setMulticastInterface', 'multicast is refused (S12)');
  }
  /** Accepted and ignored: the service's socket keeps the system default. */
  setTTL(ttl: number): number {
    return ttl;
  }
  setRecvBufferSize(_size: number): void {}
  setSendBufferSize(_size: number): void {}
  getRecvBufferSize(): number {
    return SIMULATED_BUFFER;
  }
  getSendBufferSize(): number {
    return SIMULATED_BUFFER;
  }
  getSendQueueSize(): number {
    return 0;
  }
  getSendQueueCount(): number {
    return 0;
  }
  ref(): this {
    this.#refed = true;
    this.#conn?.ref();
    return this;
  }
  unref(): this {
    this.#refed = false;
    this.#conn?.unref();
    return this;
  }

  #defaultHost(): string {
    return this.type === 'udp4' ? '127.0.0.1' : '::1';
  }

  #report(err: Error, cb?: Callback): void {
    if (cb) cb(err);
    else this.emit('error', err);
  }

  #bind(): Promise<void> {
    this.#bound ??= this.#ready()
      .then(() => this.#request({ op: 'bind' }))
      .then((frame) => {
        this.#address = frame.header.address as AddressInfo;
        this.emit('listening');
      });
    return this.#bound;
  }

  /** Opens the service connection on first use. */
  #ready(): Promise<Socket> {
    if (this.#closed) {
      return Promise.reject(
        Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }),
      );
    }
    this.#opening ??= (async () => {
      if (!link) throw new Error('the Hangar socket shim is not installed');
      const hello: Hello = { ...link.identity(), v: PROTOCOL_VERSION, op: 'udp', type: this.type };
      const { conn, reply } = await link.open(hello);
      const answer = reply as { ok?: boolean; error?: unknown };
      if (answer.ok !== true) {
        conn.destroy();
        throw replyError(answer.error);
      }
      this.#conn = conn;
      if (!this.#refed) conn.unref();
      const decoder = new FrameDecoder();
      conn.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) this.#frame(frame);
      });
      conn.on('close', () => {
        if (!this.#closed) {
          this.#closed = true;
          this.emit('close');
        }
      });
      conn.resume();
      return conn;
    })();
    return this.#opening;
  }

  #request(header: Record<string, unknown>, payload?: Buffer): Promise<Frame> {
    return this.#ready().then(
      (conn) =>
        new Promise<Frame>((resolve, reject) => {
          const seq = ++this.#seq;
          this.#waiting.set(seq, (frame) =>
            frame.header.ev === 'failed' ? reject(replyError(frame.header.error)) : resolve(frame),
          );
          conn.write(encodeFrame({ ...header, seq }, payload));
        }),
    );
  }

  #frame(frame: Frame): void {
    const { header } = frame;
    if (header.ev === 'message') {
      const rinfo = {
        address: header.address,
        family: header.family,
        port: header.port,
        size: frame.payload.length,
      };
      this.emit('message', frame.payload, rinfo);
      return;
    }
    if (header.ev === 'reclaimed' || header.ev === 'error') {
      this.emit('error', replyError(header.error) as ErrnoError);
      return;
    }
    if (typeof header.seq === 'number') {
      const waiter = this.#waiting.get(header.seq);
      this.#waiting.delete(header.seq);
      waiter?.(frame);
    }
  }
}

function toBuffer(msg: Payload): Buffer {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (Buffer.isBuffer(msg)) return msg;
  if (Array.isArray(msg)) return Buffer.concat(msg.map((part) => toBuffer(part as Payload)));
  const view = msg as NodeJS.ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function notConnected(): Error {
  return Object.assign(new Error('Not connected'), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
}

/** Installs the `node:dgram` side of the shim. */
export function patchDgram(serviceLink: ServiceLink): void {
  link = serviceLink;
  const api = dgram as unknown as Record<string, unknown>;
  api.createSocket = (
    options: 'udp4' | 'udp6' | dgram.SocketOptions,
    listener?: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  ) => new HangarUdpSocket(options, listener);
  api.Socket = HangarUdpSocket;
}

/**
 * The instance's end of the egress proxy (SPEC S4.3): a listener on the instance's own loopback
 * that the app's own server and CGI scripts are pointed at (`ALL_PROXY`, `HTTPS_PROXY`,
 * `HTTP_PROXY`). Under netns isolation this loopback is the instance's namespace's, so the proxy
 * is the only way out there is.
 *
 * - HTTP CONNECT and SOCKS5 CONNECT go, as the client sent them, to the socket service with an
 *   `egress` hello naming the app (with its token) and the instance; the conversation, the S12
 *   policy, the dialling and the metering are the service's (src/sockets/service/egress-proxy.ts).
 *   For SOCKS5 the bridge answers the greeting itself to see the command, replays greeting and
 *   request upstream, and drops the service's answer to the greeting.
 * - SOCKS5 UDP ASSOCIATE is answered here: the service's UDP relay listens on the service's
 *   loopback, which a namespaced instance cannot reach, so the relay is the instance's own, and
 *   each datagram leaves through the sockets shim's UDP (the service vets every destination and
 *   meters the bytes, as for the app's own UDP sockets).
 *
 * Made with `net` and `dgram` as Node made them (main.ts imports this module before the sockets
 * shim patches them for app code, which may not listen); the datagrams out use the patched one.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import {
  Command,
  encodeReply,
  encodeUdpDatagram,
  Method,
  parseGreeting,
  parseRequest,
  parseUdpDatagram,
  Reply,
  SOCKS_VERSION,
} from '../sockets/socks5-wire.js';
import { line, PROTOCOL_VERSION } from '../sockets/wire.js';
import { logLine } from './log-capture.js';

const RawSocket = net.Socket;
const rawConnect = net.Socket.prototype.connect as (
  this: net.Socket,
  options: { path: string },
) => net.Socket;
const rawListen = net.Server.prototype.listen as (
  this: net.Server,
  port: number,
  host: string,
  callback: () => void,
) => net.Server;
const rawUdpSocket = dgram.createSocket;

/** A client must send its greeting and request within this long. */
const HANDSHAKE_MS = 10_000;

export interface EgressBridgeOptions {
  /** The socket service's Unix socket and the app's identity for it (the instance's init). */
  sockets: { path: string; app: string; token: string };
  instance: string;
  service: string | undefined;
  version: string | undefined;
}

export interface EgressBridge {
  readonly port: number;
  /** The proxy variables for the app's processes, in both spellings clients read. */
  readonly env: Readonly<Record<string, string>>;
  close(): void;
}

/**
 * @example
 * const bridge = await startEgressBridge({ sockets: init.sockets, instance, service, version });
 * spawn(command, { env: { ...env, ...bridge.env } });
 */
export function startEgressBridge(options: EgressBridgeOptions): Promise<EgressBridge> {
  const hello = line({
    v: PROTOCOL_VERSION,
    op: 'egress',
    app: options.sockets.app,
    token: options.sockets.token,
    instance: options.instance,
    ...(options.service === undefined ? {} : { service: options.service }),
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const server = new net.Server({ allowHalfOpen: true }, (client) => {
    client.on('error', () => client.destroy());
    const timer = setTimeout(() => client.destroy(), HANDSHAKE_MS);
    serve(client, options.sockets.path, hello)
      .catch(() => client.destroy())
      .finally(() => clearTimeout(timer));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    rawListen.call(server, 0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || address === null)
        return reject(new Error('the egress bridge has no port'));
      const socks = `socks5h://127.0.0.1:${address.port}`;
      const http = `http://127.0.0.1:${address.port}`;
      resolve({
        port: address.port,
        env: {
          ALL_PROXY: socks,
          all_proxy: socks,
          HTTPS_PROXY: http,
          https_proxy: http,
          HTTP_PROXY: http,
          http_proxy: http,
        },
        close: () => server.close(),
      });
    });
  });
}

/** What a client sent so far, read as the handshake needs it. */
class Received {
  buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;
  readonly #onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.#wake?.();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };

  constructor(readonly socket: net.Socket) {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Waits for `parse` to find a whole message; undefined if the client went away or sent a bad one. */
  async take<T>(
    parse: (buf: Buffer) => { kind: 'more' } | { kind: 'done'; value: T; size: number } | { kind: 'bad' },
  ): Promise<{ value: T; bytes: Buffer } | undefined> {
    for (;;) {
      const step = parse(this.buffer);
      if (step.kind === 'done') {
        const bytes = this.buffer.subarray(0, step.size);
        this.buffer = this.buffer.subarray(step.size);
        return { value: step.value, bytes };
      }
      if (step.kind === 'bad' || this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** Stops reading for the handshake; what came after it is returned. */
  release(): Buffer {
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onEnd);
    return this.buffer;
  }
}

async function serve(client: net.Socket, servicePath: string, hello: string): Promise<void> {
  const received = new Received(client);
  const first = await received.take((buf) =>
    buf.length < 1 ? { kind: 'more' } : { kind: 'done', value: buf[0], size: 0 },
  );
  if (first?.value !== SOCKS_VERSION) return passOn(client, received.release(), servicePath, hello, 0);
  const greeting = await received.take(parseGreeting);
  if (!greeting?.value.methods.includes(Method.noAuth)) {
    return passOn(
      client,
      Buffer.concat([greeting?.bytes ?? Buffer.alloc(0), received.release()]),
      servicePath,
      hello,
      0,
    );
  }
  client.write(Buffer.from([SOCKS_VERSION, Method.noAuth]));
  const request = await received.take(parseRequest);
  if (request?.value.command === Command.udpAssociate) {
    received.release();
    return relayUdp(client);
  }
  // CONNECT (and anything the service refuses): greeting and request as sent, the service's
  // answer to the greeting dropped (the client has had it from here).
  const replay = Buffer.concat([greeting.bytes, request?.bytes ?? Buffer.alloc(0), received.release()]);
  passOn(client, replay, servicePath, hello, 2);
}

/** Hands the connection to the socket service's egress proxy, `replay` first; drops its first `swallow` bytes. */
function passOn(
  client: net.Socket,
  replay: Buffer,
  servicePath: string,
  hello: string,
  swallow: number,
): void {
  const upstream = new RawSocket({ allowHalfOpen: true });
  rawConnect.call(upstream, { path: servicePath });
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', end);
  upstream.write(hello);
  if (replay.length > 0) upstream.write(replay);
  let dropping = swallow;
  const forward = (chunk: Buffer) => {
    if (dropping > 0) {
      const cut = Math.min(dropping, chunk.length);
      dropping -= cut;
      chunk = chunk.subarray(cut);
      if (chunk.length === 0) return;
    }
    if (!client.write(chunk)) upstream.pause();
  };
  upstream.on('data', forward);
  client.on('drain', () => upstream.resume());
  upstream.on('end', () => client.end());
  client.pipe(upstream);
  client.resume();
}

/**
 * UDP ASSOCIATE (RFC 1928 §7) on the instance's loopback: the client's datagrams go out through
 * the sockets shim, replies come back wrapped with their source; the association ends with the
 * control connection. The client is the first loopback sender; datagrams from anyone else, and
 * fragments, are dropped.
 */
function relayUdp(client: net.Socket): void {
  const relay = rawUdpSocket('udp4');
  const out = dgram.createSocket('udp4');
  let peer: { address: string; port: number } | undefined;
  const close = () => {
    relay.close();
    out.close();
  };
  client.once('close', close);
  client.on('data', () => {});
  relay.on('error', () => client.destroy());
  out.on('error', (err) => logLine('warning', `egress proxy (UDP): ${err.message}`));
  relay.on('message', (message, from) => {
    if (from.address !== '127.0.0.1') return;
    peer ??= { address: from.address, port: from.port };
    if (from.port !== peer.port) return;
    const datagram = parseUdpDatagram(message);
    if (datagram?.frag !== 0) return;
    out.send(datagram.payload, datagram.port, datagram.host, (err) => {
      if (err) logLine('warning', `egress proxy (UDP): ${err.message}`);
    });
  });
  out.on('message', (message, from) => {
    if (peer) relay.send(encodeUdpDatagram(from.address, from.port, message), peer.port, peer.address);
  });
  relay.bind(0, '127.0.0.1', () => {
    client.write(encodeReply(Reply.succeeded, { address: '127.0.0.1', port: relay.address().port }));
  });
}

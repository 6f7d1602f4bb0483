/**
 * `node:net` in an instance (S12): outgoing TCP goes through the socket service; listening,
 * Unix-socket connects, sockets made from file descriptors and local address/port binding are
 * refused with EACCES. `setNoDelay`/`setKeepAlive` need nothing: the transport is a Unix
 * socket, where Node accepts both silently.
 */
import net from 'node:net';
import { type ErrnoError, errnoError } from '../errno.js';
import { normalisePort } from '../ports.js';
import { RawSocket, type ServiceLink } from './link.js';
import { proxiedConnect } from './tcp.js';

/** An EACCES refusal of something S12 does not allow. */
export function refusal(syscall: string, message: string, extra: Partial<ErrnoError> = {}): ErrnoError {
  return errnoError({ code: 'EACCES', syscall, message: `${syscall} EACCES: ${message}`, ...extra });
}

type Options = Record<string, unknown>;
type Normalized = [Options, ((...args: unknown[]) => void) | null];

// Node's own argument normaliser (port, host, cb / options, cb / path, cb); present since Node 0.x.
const normalizeArgs = (net as unknown as { _normalizeArgs(args: unknown[]): Normalized })._normalizeArgs;

function normalize(args: unknown[]): Normalized {
  // net.connect() hands Socket#connect the array it already normalised.
  return Array.isArray(args[0]) ? (args[0] as unknown as Normalized) : normalizeArgs(args);
}

export interface NetPatchOptions {
  /** The instance's own server paths: the `listen`s that are not app code, allowed once each. */
  ownListenPaths: readonly string[];
  /**
   * An app's own server (S4.3, entrypoint-preload.ts): the PORT the platform gave it, the one TCP
   * port it may listen on, and only on 127.0.0.1 whatever host it asks for (its answers go
   * through the front end; `app.listen(PORT)` on every interface would pass it by).
   */
  ownTcpPort?: number;
}

/** The port a `listen(...)` call asks for, when it asks for a TCP one. */
function listenPort(first: unknown): number | undefined {
  if (typeof first === 'number') return first;
  if (typeof first === 'string' && /^\d+$/.test(first)) return Number(first);
  if (typeof first === 'object' && first !== null && 'port' in first) {
    const port = (first as { port?: unknown }).port;
    if (typeof port === 'number') return port;
    if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  }
  return undefined;
}

/** Installs the `node:net` side of the shim. */
export function patchNet(link: ServiceLink, options: NetPatchOptions): void {
  net.Socket.prototype.connect = function connect(this: net.Socket, ...args: unknown[]) {
    const [opts, cb] = normalize(args);
    if (opts.path !== undefined && opts.path !== null) {
      return refuseLater(
        this,
        refusal(
          'connect',
          `connecting to the Unix socket ${String(opts.path)} is refused; apps reach TCP and UDP destinations only`,
        ),
      );
    }
    const local = [
      opts.localAddress == null ? '' : `localAddress ${String(opts.localAddress)}`,
      opts.localPort == null ? '' : `localPort ${String(opts.localPort)}`,
    ].filter(Boolean);
    if (local.length) {
      return refuseLater(
        this,
        refusal(
          'connect',
          `choosing the local side of an outgoing socket (${local.join(', ')}) is refused; leave it unset`,
        ),
      );
    }
    if (opts.port === undefined) {
      throw Object.assign(new TypeError('The "options" or "port" or "path" argument must be specified'), {
        code: 'ERR_MISSING_ARGS',
      });
    }
    const port = normalisePort(opts.port);
    const host = opts.host ?? 'localhost';
    if (typeof host !== 'string') {
      throw Object.assign(new TypeError(`The "options.host" property must be of type string`), {
        code: 'ERR_INVALID_ARG_TYPE',
      });
    }
    if (cb) this.once('connect', cb);
    const family = opts.family === 4 || opts.family === 6 ? opts.family : 0;
    proxiedConnect(this, { op: 'connect', host, port, family }, link);
    return this;
  };

  const originalConnect = net.connect;
  const connect = function (this: unknown, ...args: unknown[]) {
    const [opts] = normalize(args);
    if (opts.fd !== undefined) throw fdRefusal(opts.fd);
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.connect;
  net.connect = connect;
  net.createConnection = connect;

  // `new net.Socket({ fd })` adopts a descriptor the app got elsewhere: refused. `{ handle }`
  // stays allowed: child_process builds its stdio pipes that way.
  const guard = (argArray: unknown[]) => {
    const opts = argArray[0] as Options | undefined;
    if (opts && typeof opts === 'object' && opts.fd !== undefined) throw fdRefusal(opts.fd);
  };
  const Guarded = new Proxy(RawSocket, {
    construct(target, argArray, newTarget) {
      guard(argArray);
      return Reflect.construct(target, argArray, newTarget) as object;
    },
    apply(target, thisArg, argArray) {
      guard(argArray);
      return Reflect.apply(target, thisArg, argArray) as unknown;
    },
  });
  (net as { Socket: typeof net.Socket }).Socket = Guarded;
  (net as unknown as { Stream: typeof net.Socket }).Stream = Guarded;

  const originalListen = net.Server.prototype.listen;
  const ownListenPaths = new Set(options.ownListenPaths);
  net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
    const first = args[0];
    const path = typeof first === 'string' ? first : (first as Options | undefined)?.path;
    if (typeof path === 'string' && ownListenPaths.delete(path)) {
      return (originalListen as (...a: unknown[]) => net.Server).apply(this, args);
    }
    if (options.ownTcpPort !== undefined && listenPort(first) === options.ownTcpPort) {
      const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      const extra = typeof first === 'object' && first !== null ? (first as object) : {};
      return (originalListen as (...a: unknown[]) => net.Server).call(
        this,
        { ...extra, port: options.ownTcpPort, host: '127.0.0.1' },
        callback,
      );
    }
    const err = refusal(
      'listen',
      'listening sockets are refused (S12: outbound sockets only); serve traffic through your handlers in app.yaml',
    );
    process.nextTick(() => this.emit('error', err));
    return this;
  } as typeof net.Server.prototype.listen;
}

function fdRefusal(fd: unknown): ErrnoError {
  return refusal(
    'socket',
    `a socket made from file descriptor ${String(fd)} is refused; open sockets with net.connect`,
  );
}

function refuseLater(socket: net.Socket, err: ErrnoError): net.Socket {
  (socket as net.Socket & { connecting: boolean }).connecting = true;
  process.nextTick(() => socket.destroy(err));
  return socket;
}

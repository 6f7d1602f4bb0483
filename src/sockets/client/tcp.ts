/**
 * How an app's `net.Socket` is carried by the socket service. The socket object the app holds
 * stays a real `net.Socket`; only its transport changes:
 *
 * 1. A control connection to the service says where to connect (or which descriptor to
 *    attach); the service vets, connects, and replies with the remote address and a token.
 * 2. The app's socket itself then connects to the service's Unix socket with the original
 *    `connect`, sends the token line first, and from there on its bytes are spliced to the
 *    remote side by the service: reads, writes and back-pressure stay native to Node.
 *
 * Until the reply arrives the socket is "connecting": writes and `end()` are held (in order)
 * and go out after the token line, exactly as Node holds them for a TCP connect. Errors from
 * the service (EACCES with the rule, ECONNREFUSED, ...) surface as the socket's 'error' event.
 */
import { Socket } from 'node:net';
import { type ErrnoError, errnoError } from '../errno.js';
import { onLines, parseLine } from '../lines.js';
import type { Endpoint, Hello } from '../protocol.js';
import { line, PROTOCOL_VERSION } from '../wire.js';
import { onRequestAbort, rawConnect, replyError, type ServiceLink } from './link.js';
import { schemas } from './schemas.js';

const kState = Symbol('hangar.socket');
const bytesWrittenGetter = Object.getOwnPropertyDescriptor(Socket.prototype, 'bytesWritten')?.get;

type Callback = (err?: Error | null) => void;
type Held =
  | { kind: 'write'; chunk: unknown; encoding: BufferEncoding | 'buffer'; callback: Callback }
  | { kind: 'writev'; chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>; callback: Callback };

/** What the shim knows about one app socket. */
export interface ShimState {
  phase: 'handshake' | 'open';
  /** The connection that opened or attached it: verdicts out, events in. */
  control?: Socket;
  descriptor?: string;
  remote?: Endpoint;
  held: Held[];
  heldFinal?: Callback;
  /** Set once the service reclaimed the socket or another instance attached it. */
  gone?: ErrnoError;
}

/** Internal stream hooks of `net.Socket` the shim wraps per socket (own properties). */
interface SocketInternals {
  _write(chunk: unknown, encoding: BufferEncoding | 'buffer', callback: Callback): void;
  _writev(chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, callback: Callback): void;
  _final(callback: Callback): void;
  _destroy(err: Error | null, callback: Callback): void;
  _undestroy(): void;
  _getsockname(): object;
  _peername?: object;
  _host?: string;
  connecting: boolean;
}

type AppSocket = Socket & SocketInternals & { [kState]?: ShimState };

/** The prototype's own hooks, called on app sockets once the wrappers step aside. */
const proto = Socket.prototype as unknown as SocketInternals;

/** The shim's state of `socket`, if it is carried by the socket service. */
export function shimState(socket: unknown): ShimState | undefined {
  return (socket as AppSocket | undefined)?.[kState];
}

/** Sends a control line (`end`, `close`, `describe`, `touch`) for `socket`, if it has a live control connection. */
export function sendControl(state: ShimState, op: 'end' | 'close' | 'describe' | 'touch'): void {
  const control = state.control;
  if (control && !control.destroyed && !control.writableEnded) control.write(line({ op }));
}

/**
 * Connects `socket` through the service: `hello` is a `connect` (host, port) or an `attach`
 * (descriptor). Returns at once; the outcome is the socket's 'connect' or 'error' event.
 */
export function proxiedConnect(
  target: Socket,
  request:
    | { op: 'connect'; host: string; port: number; family?: 0 | 4 | 6 }
    | { op: 'attach'; descriptor: string },
  link: ServiceLink,
): void {
  const socket = target as AppSocket;
  if (socket.destroyed) {
    // Reconnecting a closed socket, as Node allows: revive the stream first.
    socket._undestroy();
    (socket as unknown as { _handle: null })._handle = null;
    socket._peername = undefined;
  }
  // A socket reused after it was reclaimed or moved gets its own write back.
  if (Object.getOwnPropertyDescriptor(socket, 'write')?.get) delete (socket as Partial<Socket>).write;
  const state: ShimState = { phase: 'handshake', held: [] };
  socket[kState] = state;
  socket.connecting = true;
  if (request.op === 'connect') socket._host = request.host;
  installHooks(socket);

  // A connect still in flight at the request's deadline fails with the deadline's error (S6);
  // a socket that is up belongs to no request and outlives it.
  const stopWatching = onRequestAbort((reason) => {
    if (socket[kState] === state && socket.connecting && !socket.destroyed) socket.destroy(reason as Error);
  });
  socket.once('connect', stopWatching);
  socket.once('close', stopWatching);
  const hello: Hello = { ...link.identity(), ...request, v: PROTOCOL_VERSION };
  link.open(hello).then(
    ({ conn, reply }) => {
      if (socket.destroyed || socket[kState] !== state) {
        conn.destroy();
        return;
      }
      const parsed = schemas().SocketReply.safeParse(reply);
      if (!parsed.success || !parsed.data.ok) {
        conn.destroy();
        socket.destroy(replyError(parsed.success && !parsed.data.ok ? parsed.data.error : undefined));
        return;
      }
      state.control = conn;
      state.descriptor = parsed.data.descriptor;
      state.remote = parsed.data.remote;
      open(socket, state, parsed.data.data, parsed.data.local, link);
      listenForEvents(socket, state, conn);
    },
    (err: Error) => {
      if (socket[kState] === state) socket.destroy(err);
    },
  );
}

/** The reply said yes: connect the socket itself to the service and send its token first. */
function open(socket: AppSocket, state: ShimState, token: string, local: Endpoint, link: ServiceLink): void {
  const remote = state.remote!;
  socket._peername = { address: remote.address, port: remote.port, family: remote.family };
  socket._getsockname = () => ({ ...local });
  state.phase = 'open';
  // The socket was never destroyed: skip the stream revival Node's connect does for reused
  // sockets, which would also forget an end() the app already called.
  socket._undestroy = () => {};
  try {
    rawConnect.call(socket, { path: link.config.path });
  } finally {
    delete (socket as Partial<SocketInternals>)._undestroy;
  }
  const prefix = Buffer.from(line({ v: PROTOCOL_VERSION, op: 'data', data: token }));
  if (bytesWrittenGetter) {
    Object.defineProperty(socket, 'bytesWritten', {
      configurable: true,
      get: () => Math.max(0, (bytesWrittenGetter.call(socket) as number) - prefix.length),
    });
  }
  // Ahead of every other 'connect' listener: the token line must be the first bytes on the
  // connection, then what the app wrote while connecting, in order, then its end() if it
  // called it; a listener of the app's may write as soon as it runs.
  socket.prependOnceListener('connect', () => {
    proto._write.call(socket, prefix, 'buffer', () => {});
    for (const held of state.held.splice(0)) {
      if (held.kind === 'write') proto._write.call(socket, held.chunk, held.encoding, held.callback);
      else proto._writev.call(socket, held.chunks, held.callback);
    }
    const final = state.heldFinal;
    state.heldFinal = undefined;
    if (final) socket._final(final);
    // Back to the prototype's fast paths: from here on writes go straight to the connection.
    delete (socket as Partial<SocketInternals>)._write;
    delete (socket as Partial<SocketInternals>)._writev;
  });
}

function listenForEvents(socket: AppSocket, state: ShimState, control: Socket): void {
  control.on('error', () => {});
  onLines(control, (text) => {
    const parsed = schemas().ControlEvent.safeParse(parseLine(text));
    if (!parsed.success) return;
    const error = errnoError(parsed.data.error);
    if (parsed.data.event === 'error') {
      socket.destroy(error);
      return;
    }
    // Reclaimed, or attached by another instance: reads end as the service closes the
    // stream; writes from now on fail with EPIPE saying why (S12).
    state.gone = error;
    const write = ((_chunk: unknown, encoding?: unknown, callback?: unknown) => {
      const cb = typeof encoding === 'function' ? encoding : callback;
      if (typeof cb === 'function') process.nextTick(cb as Callback, error);
      if (!socket.destroyed) process.nextTick(() => socket.destroy(error));
      return false;
    }) as Socket['write'];
    // An accessor, because Node assigns its own `write` when the stream ends (writeAfterFIN),
    // and that message would not say why.
    Object.defineProperty(socket, 'write', { configurable: true, get: () => write, set: () => {} });
  });
}

/** Per-socket wrappers of the stream hooks: hold while connecting, tell the service on end/close. */
function installHooks(socket: AppSocket): void {
  const stateOf = () => socket[kState]!;
  socket._write = (chunk, encoding, callback) => {
    const state = stateOf();
    if (state.phase === 'handshake') state.held.push({ kind: 'write', chunk, encoding, callback });
    else proto._write.call(socket, chunk, encoding, callback);
  };
  socket._writev = (chunks, callback) => {
    const state = stateOf();
    if (state.phase === 'handshake') state.held.push({ kind: 'writev', chunks, callback });
    else proto._writev.call(socket, chunks, callback);
  };
  socket._final = (callback) => {
    const state = stateOf();
    if (state.phase === 'handshake') {
      state.heldFinal = callback;
      return;
    }
    // The app ended its side on purpose (not a crash): the service half-closes the remote.
    sendControl(state, 'end');
    proto._final.call(socket, callback);
  };
  socket._destroy = (err, callback) => {
    const state = stateOf();
    const control = state.control;
    if (control) {
      sendControl(state, 'close');
      control.end();
    }
    proto._destroy.call(socket, err, callback);
  };
}

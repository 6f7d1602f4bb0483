/**
 * `hangar/sockets`: the explicit side of the Sockets API (SPEC S12), importable from app code
 * without being a dependency. Plain `net`, `tls`, `dgram` and `dns` already go through the
 * socket service; this adds what App Engine's socket module had beyond them.
 *
 * @example
 * import net from 'node:net';
 * import { attach, descriptor } from 'hangar/sockets';
 * // request 1: open, and keep the descriptor (e.g. in a task payload)
 * const socket = net.connect(6379, 'cache.example.com', () => save(descriptor(socket)));
 * // request 2, on any instance of the same app: the same remote connection
 * const again = await attach(load());
 */
import { Socket } from 'node:net';
import { getLink } from './client/link.js';
import { proxiedConnect, sendControl, shimState } from './client/tcp.js';
import { type ErrnoError, errnoError } from './errno.js';

/**
 * A string that names `socket` for `attach()` in any instance of this app: store it, or send
 * it in a task payload. Only the app that opened the socket can attach it; once a descriptor
 * is taken, the socket outlives the instance (until it is closed or idle for
 * `sockets.idle_timeout`).
 */
export function descriptor(socket: Socket): string {
  const state = shimState(socket);
  if (!state) {
    throw errnoError({
      code: 'EBADF',
      syscall: 'descriptor',
      message:
        'descriptor EBADF: this socket is not carried by the socket service; descriptors exist for TCP sockets opened with net.connect (or attach) inside a Hangar instance',
    });
  }
  if (state.phase !== 'open' || !state.descriptor) {
    throw errnoError({
      code: 'ENOTCONN',
      syscall: 'descriptor',
      message: "descriptor ENOTCONN: the socket is not connected yet; ask for its descriptor after 'connect'",
    });
  }
  sendControl(state, 'describe');
  return state.descriptor;
}

/**
 * A socket on the remote connection `descriptor` names, opened in this or another instance of
 * the same app. Rejects with `EACCES` for another app's descriptor and `EPIPE` (saying why)
 * for a socket that was closed or reclaimed. The instance that held the socket before loses
 * it: its reads end and its writes fail with EPIPE.
 */
export function attach(descriptorText: string): Promise<Socket> {
  if (typeof descriptorText !== 'string') {
    return Promise.reject(
      errnoError({
        code: 'EBADF',
        syscall: 'attach',
        message: 'attach EBADF: a descriptor is a string from descriptor()',
      }),
    );
  }
  const link = getLink();
  const socket = new Socket();
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
    proxiedConnect(socket, { op: 'attach', descriptor: descriptorText }, link);
  });
}

export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const SO_DEBUG = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_KEEPALIVE = 9;
export const SO_OOBINLINE = 10;
export const SO_LINGER = 13;
export const TCP_NODELAY = 1;

/** The value of SO_LINGER: lingering off. */
export interface Linger {
  onoff: number;
  linger: number;
}

const levels: Record<string, number> = { SOL_SOCKET, IPPROTO_TCP, SOL_TCP: IPPROTO_TCP };
const options: Record<string, [level: number, option: number]> = {
  SO_DEBUG: [SOL_SOCKET, SO_DEBUG],
  SO_REUSEADDR: [SOL_SOCKET, SO_REUSEADDR],
  SO_SNDBUF: [SOL_SOCKET, SO_SNDBUF],
  SO_RCVBUF: [SOL_SOCKET, SO_RCVBUF],
  SO_KEEPALIVE: [SOL_SOCKET, SO_KEEPALIVE],
  SO_OOBINLINE: [SOL_SOCKET, SO_OOBINLINE],
  SO_LINGER: [SOL_SOCKET, SO_LINGER],
  TCP_NODELAY: [IPPROTO_TCP, TCP_NODELAY],
};

/** The simulated values of S12 (App Engine's), by `level:option`. */
const simulated = new Map<string, () => number | Linger>([
  [`${SOL_SOCKET}:${SO_KEEPALIVE}`, () => 0],
  [`${SOL_SOCKET}:${SO_DEBUG}`, () => 128],
  [`${IPPROTO_TCP}:${TCP_NODELAY}`, () => 0],
  [`${SOL_SOCKET}:${SO_LINGER}`, () => ({ onoff: 0, linger: 0 })],
  [`${SOL_SOCKET}:${SO_OOBINLINE}`, () => 0],
  [`${SOL_SOCKET}:${SO_SNDBUF}`, () => 2_097_152],
  [`${SOL_SOCKET}:${SO_RCVBUF}`, () => 2_097_152],
  [`${SOL_SOCKET}:${SO_REUSEADDR}`, () => 1],
]);

/**
 * Reads a socket option. The options App Engine supported (SO_KEEPALIVE, SO_DEBUG,
 * TCP_NODELAY, SO_LINGER, SO_OOBINLINE, SO_SNDBUF, SO_RCVBUF, SO_REUSEADDR) return their
 * simulated values; any other throws `EACCES`. Levels and options are names or numbers.
 *
 * @example getsockopt(socket, 'SOL_SOCKET', 'SO_SNDBUF') // 2097152
 */
export function getsockopt(
  socket: unknown,
  level: string | number,
  option: string | number,
): number | Linger {
  const value = simulated.get(keyOf('getsockopt', level, option));
  if (!value) throw unsupported('getsockopt', level, option);
  touch(socket);
  return value();
}

/** Sets a socket option: the supported ones are accepted and ignored (S12); any other throws `EACCES`. */
export function setsockopt(
  socket: unknown,
  level: string | number,
  option: string | number,
  _value: unknown,
): void {
  if (!simulated.has(keyOf('setsockopt', level, option))) throw unsupported('setsockopt', level, option);
  touch(socket);
}

function keyOf(syscall: string, level: string | number, option: string | number): string {
  const levelNumber = typeof level === 'number' ? level : levels[level];
  const named = typeof option === 'string' ? options[option] : undefined;
  if (levelNumber === undefined || (typeof option === 'string' && !named))
    throw unsupported(syscall, level, option);
  if (named && named[0] !== levelNumber) throw unsupported(syscall, level, option);
  return `${levelNumber}:${named ? named[1] : option}`;
}

/** A socket operation extends the idle countdown (S12). */
function touch(socket: unknown): void {
  const state = shimState(socket);
  if (state?.phase === 'open') sendControl(state, 'touch');
}

function unsupported(syscall: string, level: string | number, option: string | number): ErrnoError {
  return errnoError({
    code: 'EACCES',
    syscall,
    message: `${syscall} EACCES: option ${String(option)} at level ${String(level)} is not supported; supported are ${Object.keys(options).join(', ')}`,
  });
}

import { type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import { errnoError } from '../errno.js';
import {
  type ResolvedAddress,
  type Resolver,
  type SocketPolicy,
  type VettedDestination,
  vetDestination,
} from '../policy.js';

/** Opens a TCP connection to an address the policy already vetted; injectable for tests. */
export type Connector = (address: string, port: number, family: 4 | 6) => Socket;

export interface DialDeps {
  policy: SocketPolicy;
  resolver: Resolver;
  connect?: Connector;
  /** Give up on one address after this long (ETIMEDOUT) and try the next. */
  connectTimeoutMs?: number;
}

export interface Dialed {
  socket: Socket;
  vetted: VettedDestination;
  remote: ResolvedAddress;
}

const defaultConnector: Connector = (address, port, family) =>
  // allowHalfOpen: the service decides when to end each side, after the app said so.
  // 1 MiB stream buffers (as the service's side): fewer pause/resume turns in the splice.
  netConnect({
    host: address,
    port,
    family,
    allowHalfOpen: true,
    noDelay: true,
    highWaterMark: 1 << 20,
  } as NetConnectOpts);

/**
 * Vets `host:port` (one lookup, every answer checked) and connects to the vetted addresses in
 * order until one answers. The name is never resolved again, so an answer that changes
 * between check and connect (DNS rebinding) cannot redirect the connection.
 */
export async function dialTcp(
  request: { host: unknown; port: unknown; family?: 0 | 4 | 6 },
  deps: DialDeps,
): Promise<Dialed> {
  const vetted = await vetDestination({ ...request, syscall: 'connect' }, deps.policy, deps.resolver);
  const connect = deps.connect ?? defaultConnector;
  let lastError: unknown;
  for (const remote of vetted.addresses) {
    try {
      const socket = await connected(
        connect(remote.address, vetted.port, remote.family),
        deps.connectTimeoutMs,
      );
      return { socket, vetted, remote };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function connected(socket: Socket, timeoutMs = 30_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        errnoError({
          code: 'ETIMEDOUT',
          syscall: 'connect',
          message: `connect ETIMEDOUT after ${timeoutMs} ms`,
        }),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}

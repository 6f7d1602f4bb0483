import type { Socket } from 'node:net';
import { toWire } from '../../errno.js';
import { Reply } from '../../socks5-wire.js';
import { type Dialed, dialTcp } from '../dial.js';
import { IdleClock } from '../idle.js';
import type { ClientConnection, ProxyContext } from './client.js';

/** Why a dial failed, in the terms both proxy protocols answer in (RFC 1928 §6 for SOCKS5). */
export type DialFailureKind =
  | 'not-allowed'
  | 'network-unreachable'
  | 'host-unreachable'
  | 'refused'
  | 'timed-out'
  | 'bad-port'
  | 'failed';

/** A failed dial: its kind and the error's message. */
export interface DialFailure {
  kind: DialFailureKind;
  /** The error's own message: for `not-allowed`, the policy's, naming the address and the rule. */
  message: string;
}

/** The SOCKS5 reply for each failure (RFC 1928 §6). */
export const SOCKS_REPLY: Readonly<Record<DialFailureKind, number>> = {
  'not-allowed': Reply.notAllowed,
  'network-unreachable': Reply.networkUnreachable,
  'host-unreachable': Reply.hostUnreachable,
  refused: Reply.connectionRefused,
  // 0x06 "TTL expired" is about IP hops; a connect that never answered is an unreachable host.
  'timed-out': Reply.hostUnreachable,
  'bad-port': Reply.generalFailure,
  failed: Reply.generalFailure,
};

/** The HTTP status for each failure of a CONNECT. */
export const HTTP_STATUS: Readonly<Record<DialFailureKind, number>> = {
  'not-allowed': 403,
  'network-unreachable': 502,
  'host-unreachable': 502,
  refused: 502,
  'timed-out': 504,
  'bad-port': 400,
  failed: 502,
};

const KIND_BY_CODE = new Map<string, DialFailureKind>([
  ['EACCES', 'not-allowed'],
  ['ENETUNREACH', 'network-unreachable'],
  ['ENETDOWN', 'network-unreachable'],
  ['EHOSTUNREACH', 'host-unreachable'],
  ['EHOSTDOWN', 'host-unreachable'],
  ['ENOTFOUND', 'host-unreachable'],
  ['EAI_AGAIN', 'host-unreachable'],
  ['ENODATA', 'host-unreachable'],
  ['ECONNREFUSED', 'refused'],
  ['ETIMEDOUT', 'timed-out'],
  ['ERR_SOCKET_BAD_PORT', 'bad-port'],
]);

/** Sorts a dial error by its errno code; a policy refusal is `EACCES` (policy.ts). */
export function classifyDialError(err: unknown): DialFailure {
  const { code, message } = toWire(err);
  return { kind: KIND_BY_CODE.get(code) ?? 'failed', message };
}

/**
 * Vets and dials `host:port` exactly as an app's `net.connect` through the socket service
 * does (`dialTcp`: one lookup, every answer checked, the vetted address only), and reports a
 * refusal and any dev-server warning.
 */
export async function dialFor(
  host: string,
  port: number,
  ctx: ProxyContext,
): Promise<{ ok: true; dialed: Dialed } | { ok: false; failure: DialFailure }> {
  try {
    const dialed = await dialTcp({ host, port }, ctx.dial);
    for (const warning of dialed.vetted.warnings) ctx.warn(warning);
    return { ok: true, dialed };
  } catch (err) {
    const failure = classifyDialError(err);
    if (failure.kind === 'not-allowed') ctx.refused(failure.message);
    return { ok: false, failure };
  }
}

/**
 * Splices the client to `remote`, both ways, once the reply that opens the tunnel is written.
 * Bytes the client sent behind its request go first. Every chunk is metered as it is read.
 * Half-close passes through (each side's FIN ends the other's write side); a reset passes as
 * a reset, and a side that goes away any other way takes the other with it. Without traffic
 * for `idleTimeoutMs` both sides are closed (S12 reclaims idle sockets the same way).
 */
export function splice(client: ClientConnection, remote: Socket, ctx: ProxyContext): void {
  const { socket } = client;
  const head = client.reader.release();
  const clientEnded = client.reader.ended;
  client.own(remote);
  let moved = 0;
  const idle = new IdleClock(
    ctx.idleTimeoutMs,
    () => {
      socket.destroy();
      remote.destroy();
    },
    () => moved,
  );
  remote.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    moved += chunk.length;
    ctx.meter('sent', chunk.length);
  });
  remote.on('data', (chunk: Buffer) => {
    moved += chunk.length;
    ctx.meter('received', chunk.length);
  });
  if (head.length > 0) {
    moved += head.length;
    ctx.meter('sent', head.length);
    remote.write(head);
  }
  remote.pipe(socket);
  if (clientEnded) remote.end();
  else socket.pipe(remote);
  let open = 2;
  const onClose = (side: Socket, other: Socket) => (hadError: boolean) => {
    if (--open === 0) idle.stop();
    // Closed after both of its directions completed: the other side finishes on its own.
    if (side.readableEnded && side.writableFinished) return;
    if (hadError) reset(other);
    else other.destroy();
  };
  socket.once('close', onClose(socket, remote));
  remote.once('close', onClose(remote, socket));
}

/** Passes a reset on as a reset (RST) where the socket is TCP; a Unix socket is just closed. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

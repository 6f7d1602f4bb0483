/**
 * The peer protocol between the socket services of one platform's nodes (SPEC S16,
 * docs/sockets.md "Several nodes"): how a node forwards an `attach` of a socket another node
 * owns, and then that socket's bytes.
 *
 * A node's service listens on a TCP peer port recorded in the platform database. A connection
 * to it goes:
 *
 * 1. owner → caller: `{"peer":1,"node":"a","challenge":"<64 hex>"}` (a fresh random challenge).
 * 2. caller → owner: `{"peer":1,"from":"b","request":"<JSON text>","proof":"<64 hex>"}`, where
 *    `proof` is HMAC-SHA256, keyed with the platform's peer secret (one random secret kept in
 *    the database), of the challenge, both node names and the request text. The owner refuses
 *    any other line with an EACCES reply and closes.
 * 3. `request` is `{"op":"attach", app, instance, descriptor, ...}`: the owner checks it as a
 *    local attach and answers the socket service's usual reply line; afterwards control lines
 *    and events pass as on the Unix socket. Or `{"op":"data","data":"<token>"}`: the data
 *    connection of such an attach; the socket's raw bytes follow both ways.
 *
 * Nothing here is encrypted: the peer port belongs on a private network between the nodes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { z } from 'zod';
import { NODE_NAME } from '../ipc.js';
import { readFirstLine } from '../lines.js';
import { line } from '../protocol.js';

export const PEER_VERSION = 1;

/** How long dialling a peer and reading its first line may take. */
export const PEER_TIMEOUT_MS = 5_000;

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const PeerChallenge = z.object({
  peer: z.literal(PEER_VERSION),
  node: z.string().regex(NODE_NAME),
  challenge: Hex64,
});

export const PeerHello = z.object({
  peer: z.literal(PEER_VERSION),
  from: z.string().regex(NODE_NAME),
  request: z.string().max(4096),
  proof: Hex64,
});

export const PeerRequest = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('attach'),
    app: z.string().min(1).max(200),
    instance: z.string().max(64),
    request: z.string().max(64).optional(),
    service: z.string().max(100).optional(),
    version: z.string().max(200).optional(),
    descriptor: z.string().max(200),
  }),
  z.object({ op: z.literal('data'), data: z.string().regex(/^[0-9a-f]{32}$/) }),
]);
export type PeerRequest = z.infer<typeof PeerRequest>;

/** The caller's proof that it holds the platform's peer secret, bound to this connection and request. */
export function peerProof(
  secret: string,
  challenge: string,
  from: string,
  to: string,
  request: string,
): string {
  return createHmac('sha256', secret)
    .update(`hangar-sockets-peer\n${challenge}\n${from}\n${to}\n${request}`)
    .digest('hex');
}

/**
 * The owner's check of the caller's line: the request when the proof holds, else why not (for
 * the refusal and the owner's log; it never says more than that the proof failed).
 */
export function checkPeerHello(
  text: string,
  secret: string,
  challenge: string,
  self: string,
): { from: string; request: PeerRequest } | { refused: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { refused: 'the first line is not a peer hello' };
  }
  const hello = PeerHello.safeParse(raw);
  if (!hello.success) return { refused: 'the first line is not a peer hello' };
  const { from, request, proof } = hello.data;
  const want = Buffer.from(peerProof(secret, challenge, from, self, request));
  if (!timingSafeEqual(want, Buffer.from(proof))) {
    return { refused: `the caller (calling itself node ${from}) does not hold the platform's peer secret` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(request);
  } catch {
    return { refused: 'the request is not JSON' };
  }
  const checked = PeerRequest.safeParse(parsed);
  if (!checked.success) return { refused: 'the request is not one this node knows' };
  return { from, request: checked.data };
}

export interface PeerAddress {
  host: string;
  port: number;
}

export interface DialPeer {
  address: PeerAddress;
  /** The node expected at `address`. */
  node: string;
  /** This node. */
  from: string;
  secret: string;
  request: PeerRequest;
  timeoutMs?: number;
}

/**
 * Connects to a node's peer port, answers its challenge with `request`, and resolves with the
 * connection, paused, once the request is sent (what follows is the owner's). Rejects with the
 * connection's error (ECONNREFUSED, ...), ETIMEDOUT when the peer says nothing in time, or
 * EPROTO when the port answers as something else than node `node`.
 */
export async function dialPeer(options: DialPeer): Promise<Socket> {
  const { address, node, from, secret } = options;
  const timeoutMs = options.timeoutMs ?? PEER_TIMEOUT_MS;
  const socket = connect({ host: address.host, port: address.port, allowHalfOpen: true });
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
  }, timeoutMs);
  try {
    const text = await readFirstLine(socket);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const challenge = PeerChallenge.safeParse(raw);
    if (!challenge.success) throw protocolError('it does not speak the socket service peer protocol');
    if (challenge.data.node !== node) {
      throw protocolError(`node ${challenge.data.node} answers there now (the address is out of date)`);
    }
    const request = JSON.stringify(options.request);
    socket.write(
      line({
        peer: PEER_VERSION,
        from,
        request,
        proof: peerProof(secret, challenge.data.challenge, from, node, request),
      }),
    );
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  socket.on('error', () => {});
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  return socket;
}

function protocolError(message: string): Error {
  return Object.assign(new Error(message), { code: 'EPROTO' });
}

/**
 * Joins two connections both ways, as the relay between an instance's connection and the
 * owner node's: bytes and back-pressure through `pipe`, an end on one side ends the other's
 * writing (half-close carries), an error on either destroys both.
 */
export function splice(one: Socket, other: Socket): void {
  const broken = () => {
    one.destroy();
    other.destroy();
  };
  for (const [from, to] of [
    [one, other],
    [other, one],
  ] as const) {
    from.on('error', broken);
    from.on('close', (hadError) => {
      if (hadError) to.destroy();
      else if (!to.destroyed) to.end();
    });
    from.pipe(to);
  }
}

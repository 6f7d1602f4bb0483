import {
  AddressType,
  Command,
  encodeMethod,
  encodeReply,
  Method,
  parseGreeting,
  parseRequest,
  Reply,
  type Request,
} from '../../socks5-wire.js';
import type { ClientConnection, ProxyContext } from './client.js';
import { dialFor, SOCKS_REPLY, splice } from './tunnel.js';
import { type ExpectedClient, UdpRelay } from './udp-relay.js';

/**
 * A SOCKS5 conversation (RFC 1928), in its order: the greeting (only "no authentication" is
 * offered: the proxy serves one instance, so the listener itself says who is asking), the
 * request, then CONNECT (a tunnel) or UDP ASSOCIATE (a relay). BIND would need a listening
 * socket, which S12 gives no app, so it is answered "command not supported", as is anything
 * RFC 1928 does not define.
 */
export async function serveSocks5(client: ClientConnection, ctx: ProxyContext): Promise<void> {
  const greeting = await client.reader.read(parseGreeting);
  if (greeting.kind === 'closed') return client.destroy();
  if (greeting.kind === 'bad' || !greeting.value.methods.includes(Method.noAuth)) {
    return client.answer(encodeMethod(Method.noneAcceptable));
  }
  client.socket.write(encodeMethod(Method.noAuth));

  const request = await client.reader.read(parseRequest);
  if (request.kind === 'closed') return client.destroy();
  if (request.kind === 'bad') return client.answer(encodeReply(request.code));
  client.handshakeDone();

  // Past the connection cap: the client hears a failure instead of waiting on a closed socket.
  if (client.overCap) return client.answer(encodeReply(Reply.generalFailure));
  switch (request.value.command) {
    case Command.connect:
      return connect(client, request.value, ctx);
    case Command.udpAssociate:
      return associate(client, request.value, ctx);
    default:
      return client.answer(encodeReply(Reply.commandNotSupported));
  }
}

async function connect(client: ClientConnection, request: Request, ctx: ProxyContext): Promise<void> {
  const result = await dialFor(request.host, request.port, ctx);
  if (!result.ok) return client.answer(encodeReply(SOCKS_REPLY[result.failure.kind]));
  const remote = result.dialed.socket;
  if (client.socket.destroyed) {
    remote.destroy();
    return;
  }
  // BND is the address the service connected from, as RFC 1928 §6 asks (an app's own
  // socket shows the same through `localAddress`).
  client.socket.write(
    encodeReply(Reply.succeeded, { address: remote.localAddress ?? '0.0.0.0', port: remote.localPort ?? 0 }),
  );
  splice(client, remote, ctx);
}

/**
 * UDP ASSOCIATE: a relay for this client until the TCP connection the request came on closes
 * (RFC 1928 §7). Nothing more is expected on that connection; whatever comes is dropped.
 */
async function associate(client: ClientConnection, request: Request, ctx: ProxyContext): Promise<void> {
  const { socket } = client;
  let relay: UdpRelay;
  try {
    relay = await UdpRelay.open(expectedClient(request, socket.remoteAddress), ctx, () => client.destroy());
  } catch {
    return client.answer(encodeReply(Reply.generalFailure));
  }
  client.own(relay);
  if (socket.destroyed) return;
  socket.write(encodeReply(Reply.succeeded, { address: '127.0.0.1', port: relay.port }));
  const ended = client.reader.ended;
  client.reader.release();
  socket.once('close', () => relay.destroy());
  socket.once('end', () => client.destroy());
  socket.on('data', () => {});
  socket.resume();
  if (ended) client.destroy();
}

/**
 * Who may use the relay: the address and port the request declared, where it declared them
 * (0.0.0.0 / :: and port 0 mean "not known yet"); otherwise the control connection's address,
 * and over a Unix socket any loopback address.
 */
export function expectedClient(request: Request, controlAddress: string | undefined): ExpectedClient {
  const declared =
    request.addressType !== AddressType.domain && request.host !== '0.0.0.0' && request.host !== '::'
      ? request.host
      : undefined;
  return {
    address: declared ?? controlAddress?.replace(/^::ffff:(?=\d+\.)/, ''),
    port: request.port === 0 ? undefined : request.port,
  };
}

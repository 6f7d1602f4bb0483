import type { ClientConnection, ProxyContext } from './client.js';
import { CONNECTION_ESTABLISHED, httpAnswer, parseConnectTarget, parseRequestHead } from './http-wire.js';
import { dialFor, HTTP_STATUS, splice } from './tunnel.js';

/**
 * An HTTP CONNECT conversation (RFC 9110 §9.3.6): one request head, then either `200
 * Connection Established` and the tunnel, or a final answer with a plain-text body saying why,
 * and the connection closes. Only CONNECT is served: plain HTTP requests of the app go
 * through URL Fetch (S13), which meters and logs them per call.
 */
export async function serveHttpConnect(client: ClientConnection, ctx: ProxyContext): Promise<void> {
  const head = await client.reader.read((buf) => parseRequestHead(buf));
  if (head.kind === 'closed') return client.destroy();
  if (head.kind === 'bad') return client.answer(httpAnswer(head.code, head.reason));
  client.handshakeDone();

  const { method, target } = head.value;
  if (method !== 'CONNECT') {
    return client.answer(
      httpAnswer(
        405,
        `this proxy only opens tunnels (CONNECT host:port), it does not forward ${method} requests; ` +
          'use it as a tunnel (curl --proxytunnel, an https:// URL) or as SOCKS5, ' +
          'or send plain HTTP requests through URL Fetch',
        { Allow: 'CONNECT' },
      ),
    );
  }
  const destination = parseConnectTarget(target);
  if (!destination) {
    return client.answer(
      httpAnswer(400, `CONNECT needs host:port, with [brackets] around an IPv6 address; got '${target}'`),
    );
  }
  if (client.overCap) {
    return client.answer(
      httpAnswer(
        503,
        `the egress proxy of ${ctx.owner} has ${ctx.maxConnections} connections open, the most it allows; close some first`,
      ),
    );
  }
  const result = await dialFor(destination.host, destination.port, ctx);
  if (!result.ok) return client.answer(httpAnswer(HTTP_STATUS[result.failure.kind], result.failure.message));
  const remote = result.dialed.socket;
  if (client.socket.destroyed) {
    remote.destroy();
    return;
  }
  client.socket.write(CONNECTION_ESTABLISHED);
  splice(client, remote, ctx);
}

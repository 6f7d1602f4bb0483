/**
 * SPEC S5 step 1, "accept HTTP/1.1 (and HTTPS when configured)": the front end's server with
 * Node's parser set up so that step 2 can see what it must refuse, every event that can
 * carry a request wired to the pipeline, and the slow-client and connection limits of S15.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { admit, ClientConnections } from './connection-state.js';
import { earlyRejections } from './early-rejections.js';
import { createFrontend } from './frontend.js';
import { type FrontendOptions, HEALTH_PATH, type NodeHealth } from './options.js';
import { deferContinue } from './request-body.js';

export interface TlsFiles {
  /** PEM certificate chain. */
  cert: string | Buffer;
  /** PEM private key. */
  key: string | Buffer;
}

/**
 * An HTTP server (or HTTPS, with `tls`) running the S5 pipeline. Not listening yet.
 *
 * - `maxHeaderSize` = `limits.max_header_bytes`: Node's parser counts the request target plus
 *   header names and values, and past it the early rejections answer 431.
 * - `maxHeadersCount` = `limits.max_header_count + 1`: Node keeps at most that many headers and
 *   silently drops the rest (while still framing with them), so one more than the limit is
 *   kept for checkFraming() to see and answer 431.
 * - `requireHostHeader: false`: Node would answer a missing Host itself, without a request id
 *   or log line; checkFraming() does it instead.
 * - `checkContinue`: no automatic `100 Continue`; the body reader sends it only when it reads
 *   the body, so a 413 from Content-Length goes out without one.
 * - Every request event asks connection-state.ts admit() first: a request pipelined behind an
 *   answer that closes the connection (a step-2 refusal) is dropped before routing, unlogged,
 *   as if never sent; Node's parser would otherwise hand it to the pipeline and an instance.
 * - `limits.header_timeout`: Node's `headersTimeout` (408 from the early rejections), checked
 *   every quarter of it (Node's default check runs every 30 s); the same time as the idle
 *   timeout of a new connection until its first request (a connection that sends nothing).
 *   Over HTTPS the TLS handshake has that long too. The whole request: Node's 5 minutes.
 * - `limits.max_connections`: Node's `maxConnections` (closed at once, `drop` logged);
 *   `limits.max_connections_per_client`: counted here, 503 past it (early-rejections.ts).
 *
 * @example
 * const server = createFrontendServer({ routes, limits, serverSoftware, exposeErrors: true });
 * server.listen(8080, '127.0.0.1');
 */
export function createFrontendServer(options: FrontendOptions & { tls?: TlsFiles }): Server {
  const { limits } = options;
  const listener = createFrontend(options);
  const { health } = options;
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    if (health && req.url === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      answerHealth(health(), req, res);
      return;
    }
    const admitted = admit(req.socket);
    if (admitted === true) listener(req, res);
    else if (admitted !== false) {
      // Rare: pipelined behind a request whose body is still being taken in; run (or drop)
      // it once that body's fate is known.
      const again = () => serve(req, res);
      admitted.then(again, again);
    }
  };
  const serverOptions: ServerOptions = {
    keepAliveTimeout: 65_000,
    maxHeaderSize: limits.maxHeaderBytes,
    requireHostHeader: false,
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: Math.max(wholeRequestTimeoutMs, limits.headerTimeoutMs),
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headerTimeoutMs / 4))),
  };
  const tls = options.tls;
  const server: Server = tls
    ? createHttpsServer(
        { ...serverOptions, cert: tls.cert, key: tls.key, handshakeTimeout: limits.headerTimeoutMs },
        serve,
      )
    : createHttpServer(serverOptions, serve);
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.maxConnections = limits.maxConnections;
  server.on('checkContinue', (req, res) => {
    deferContinue(req);
    serve(req, res);
  });
  // Expect values other than 100-continue: the pipeline answers 417 with a log line.
  server.on('checkExpectation', serve);
  const early = earlyRejections(options);
  server.on('clientError', early.clientError);
  server.on('connect', early.connect);
  // With a listener here Node destroys no idle socket itself: early.timeout() does.
  server.on('timeout', early.timeout);
  server.on('drop', early.dropped);

  // Per client address: counted on the TCP connection (before any TLS handshake is spent).
  const clients = new ClientConnections(limits.maxConnectionsPerClient);
  function forget(this: Socket): void {
    if (this.remoteAddress !== undefined) clients.remove(this.remoteAddress);
  }
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress; // read now: Node keeps it after the socket closed
    if (address === undefined) return; // already gone
    if (!clients.add(address)) {
      early.refuseClient(socket, address, clients.limit, tls !== undefined);
      return;
    }
    socket.on('close', forget);
    // A connection that never starts a request is not covered by headersTimeout (Node counts
    // from a request's first byte): it gets the same time to send one. Keep-alive takes over
    // after the first answer; a request in progress is never cut by it (early.timeout()).
    if (!tls) socket.setTimeout(limits.headerTimeoutMs);
  });
  if (tls) {
    server.on('secureConnection', (socket: Socket) => socket.setTimeout(limits.headerTimeoutMs));
  }
  return server;
}

/** Node's `requestTimeout` default: the whole request (headers and body) within 5 minutes. */
const wholeRequestTimeoutMs = 300_000;

/** The node's health as JSON, never cached: a load balancer must see a change at once. */
function answerHealth(health: NodeHealth, req: IncomingMessage, res: ServerResponse): void {
  const body = Buffer.from(`${JSON.stringify(health.body)}\n`);
  res.writeHead(health.status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

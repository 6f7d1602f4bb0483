/**
 * SPEC S5 step 1, "accept HTTP/1.1 (and HTTPS when configured)": the front end's server with
 * Node's parser set up so that step 2 can see what it must refuse, and every event that can
 * carry a request wired to the pipeline.
 */
import { createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { earlyRejections } from './early-rejections.js';
import { createFrontend } from './frontend.js';
import type { FrontendOptions } from './options.js';
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
 *
 * @example
 * const server = createFrontendServer({ routes, limits, serverSoftware, exposeErrors: true });
 * server.listen(8080, '127.0.0.1');
 */
export function createFrontendServer(options: FrontendOptions & { tls?: TlsFiles }): Server {
  const listener = createFrontend(options);
  const serverOptions: ServerOptions = {
    keepAliveTimeout: 65_000,
    maxHeaderSize: options.limits.maxHeaderBytes,
    requireHostHeader: false,
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, listener)
    : createHttpServer(serverOptions, listener);
  server.maxHeadersCount = options.limits.maxHeaderCount + 1;
  server.on('checkContinue', (req, res) => {
    deferContinue(req);
    listener(req, res);
  });
  // Expect values other than 100-continue: the pipeline answers 417 with a log line.
  server.on('checkExpectation', listener);
  const early = earlyRejections(options);
  server.on('clientError', early.clientError);
  server.on('connect', early.connect);
  return server;
}

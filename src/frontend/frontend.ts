/**
 * The request pipeline of SPEC S5, one named step per bullet, each in its own module:
 *
 *   1 id and clock ........................ request-record.ts (newRequestRecord)
 *   2 framing and size checks ............. framing-checks.ts, dot-segments.ts
 *                                            (and early-rejections.ts for what Node's parser refuses)
 *   3 route, quota, handler, secure: ...... route(), meter.overQuota(), handler-match.ts, secure-redirect.ts
 *   4 static files ........................ static.ts
 *   5 body, header hygiene, dispatch ...... request-body.ts, request-headers.ts, dispatch.ts
 *   6 buffered response rewrite ........... response-rewrite.ts
 *   7 gzip ................................ gzip-decision.ts, compress.ts
 *   8 metering and request log ........... finish(): meter.count(), onRequest()
 *
 * Rejections become answers in error-response.ts; listener.ts builds the servers around this.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AppConfig, Handler, PlatformConfig } from '../config/types.js';
import type { TrafficMeter } from '../metering/types.js';
import type { VersionPool } from '../scheduler/version-pool.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import type { RequestRecord } from '../shared/request-record.js';
import { compressResponse } from './compress.js';
import { markBusy, trackBodyRead } from './connection-state.js';
import { dispatchToInstance } from './dispatch.js';
import { normalisedTarget } from './dot-segments.js';
import { errorAnswer } from './error-response.js';
import { checkFraming } from './framing-checks.js';
import { matchHandler } from './handler-match.js';
import { type BodyChunks, readBody } from './request-body.js';
import { sanitiseRequestHeaders } from './request-headers.js';
import { newRequestRecord } from './request-record.js';
import { rewriteResponse } from './response-rewrite.js';
import { type ListenPorts, secureRedirect } from './secure-redirect.js';
import { serveStatic } from './static.js';
import { takeWireBytes } from './wire-bytes.js';

/** One service as the front end sees it: its config and the pool of its serving version. */
export interface ServiceRoute {
  app: string;
  service: string;
  version: string;
  config: AppConfig;
  pool: VersionPool;
  /** Index of a module handler among the instance's modules, by its position in `handlers:`. */
  moduleIndex: ReadonlyMap<number, number>;
  /** Request deadline from arrival (S6); undefined: none (basic/manual scaling by default). */
  readonly deadlineMs: number | undefined;
  /** Time the handler has after the deadline to return its own response. */
  readonly deadlineGraceMs: number;
  /** How long an instance may fail to answer a ping before it counts as stuck. */
  readonly heartbeatTimeoutMs: number;
}

export interface FrontendOptions {
  /** Host header → service (S11); undefined when no service answers for the host. */
  route(host: string): ServiceRoute | undefined;
  /** Step 8: the finished request, for the request log and the dev terminal. */
  onRequest?(record: RequestRecord): void;
  /** Show the cause of 5xx errors in the response body (the dev server does, like dev_appserver). */
  exposeErrors: boolean;
  /** This listener serves HTTPS. */
  https?: boolean;
  /** The S15 limits (sizes in bytes). */
  limits: PlatformConfig['limits'];
  /** `Server` header of every response: the platform's SERVER_SOFTWARE. */
  serverSoftware: string;
  meter?: TrafficMeter;
  /** The platform's HTTP and HTTPS ports, for `secure:` redirects. */
  ports?(): ListenPorts;
  /** Platform warnings (e.g. `secure: always` with no HTTPS listener), each printed once. */
  warn?(message: string): void;
}

/** Methods the front end serves, for `Allow` on a 405. */
const allowedMethods = 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH';

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  record: RequestRecord;
  /** Set once step 3 found the service: its error pages apply from then on. */
  route?: ServiceRoute;
}

/**
 * The front end's request listener: runs S5's steps in order for each request. Use
 * createFrontendServer() (listener.ts) for a listening server with the parser options and the
 * early rejections; this listener alone suits in-process tests.
 *
 * @example
 * const server = http.createServer(createFrontend({ route, limits, serverSoftware, exposeErrors: true }));
 */
export function createFrontend(options: FrontendOptions): RequestListener {
  const warned = new WeakSet<Handler>();
  return (req, res) => {
    // Step 1: the request's id and clock.
    const started = performance.now();
    const record = newRequestRecord(req, options.https === true);
    const socket = req.socket;
    markBusy(socket, true);
    // Step 8 runs once the response is out and the pipeline has filled the record in.
    let pending = 2;
    const finish = () => {
      if (--pending > 0) return;
      markBusy(socket, false);
      record.latencyMs = performance.now() - started;
      if (!record.status) record.status = res.statusCode;
      const wire = takeWireBytes(socket);
      record.bytesIn = wire.bytesIn;
      record.bytesOut = wire.bytesOut;
      options.meter?.count(record);
      options.onRequest?.(record);
    };
    res.once('close', finish);
    const exchange: Exchange = { req, res, record };
    handle(options, exchange, warned)
      .catch((err: unknown) => reject(options, exchange, err))
      .finally(finish);
  };
}

async function handle(options: FrontendOptions, x: Exchange, warned: WeakSet<Handler>): Promise<void> {
  const { req, res, record } = x;
  const https = options.https === true;

  // Step 2: framing and size checks; a rejected request never reaches routing or an instance.
  const problem = checkFraming(req, options.limits);
  if (problem) {
    const allow = problem.code === 'HANGAR_E_METHOD_NOT_ALLOWED' ? { allow: allowedMethods } : undefined;
    return reject(options, x, problem, { close: true, headers: allow });
  }
  const url = req.url!;
  const normalised = normalisedTarget(url);
  if (normalised !== undefined) {
    const error = new HangarError(
      'PATH_NOT_NORMALISED',
      `${url} has . or .. segments; redirected to ${normalised}`,
    );
    return reject(options, x, error, { close: hasBody(req), headers: { location: normalised } });
  }

  // Step 3: host → service; the app's daily quotas; the first handler whose url matches; secure:.
  const host = req.headers.host!;
  const route = options.route(host);
  if (!route)
    return reject(options, x, new HangarError('SERVICE_NOT_FOUND', `No service answers for host ${host}.`));
  x.route = route;
  record.app = route.app;
  record.service = route.service;
  record.version = route.version;
  const exhausted = options.meter?.overQuota(route.app);
  if (exhausted !== undefined) {
    const error = new HangarError(
      'OVER_QUOTA',
      `app ${route.app} has used up its daily ${exhausted} quota (quotas.daily.${exhausted}); it resets at 00:00 UTC`,
    );
    return reject(options, x, error, { close: hasBody(req) });
  }
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const found = matchHandler(route.config.handlers, path);
  if (!found) {
    return reject(
      options,
      x,
      new HangarError('HANDLER_NOT_FOUND', `No handler in app.yaml matches ${path}.`),
    );
  }
  const { handler } = found;
  if (handler.secure !== 'optional') {
    const ports = options.ports?.() ?? {};
    const redirect = secureRedirect(handler, { https, host, url }, ports);
    if (redirect) {
      record.status = redirect.status;
      res.writeHead(redirect.status, {
        server: options.serverSoftware,
        location: redirect.location,
        'content-length': '0',
        ...(hasBody(req) ? { connection: 'close' } : {}),
      });
      res.end();
      return;
    }
    if (handler.secure === 'always' && !https && !warned.has(handler)) {
      warned.add(handler);
      options.warn?.(
        `handler ${handler.url} has secure: always, but there is no HTTPS listener (--https-port); serving it over HTTP`,
      );
    }
  }

  // Step 4: static files are served here, with no instance and no deadline.
  if (handler.kind === 'static-dir' || handler.kind === 'static-files') {
    res.setHeader('server', options.serverSoftware);
    const result = await serveStatic({ handler, match: found.match, appDir: route.config.dir, req, res });
    record.status = result.status;
    if (result.error) record.error = result.error.message;
    return;
  }
  if (handler.kind !== 'module') {
    const error = new HangarError(
      'HANDLER_NOT_SUPPORTED',
      `${handler.kind === 'cgi' ? 'CGI' : 'entrypoint'} handlers (script: ${handler.script}) are not supported yet; ` +
        'use a module handler (script: path/main.app).',
    );
    return reject(options, x, error);
  }

  // Step 5: buffer the body (limit enforced as it streams in), sanitise the headers, dispatch.
  const read = readBody(req, res, options.limits.maxRequestBytes);
  const untrack = trackBodyRead(req.socket, read);
  let body: BodyChunks;
  try {
    body = await read.body;
  } catch (err) {
    // The connection's framing is spent (a partly read or malformed body): close it.
    return reject(options, x, err, { close: true });
  } finally {
    untrack();
  }
  const acceptEncoding = req.headers['accept-encoding'];
  const remoteAddr = req.socket.remoteAddress ?? '';
  sanitiseRequestHeaders(req, { requestId: record.requestId, remoteAddr, https });
  let upstream: Awaited<ReturnType<typeof dispatchToInstance>>;
  try {
    upstream = await dispatchToInstance(
      route,
      req,
      body,
      {
        requestId: record.requestId,
        handlerPosition: found.index,
        remoteAddr,
        https,
        arrivedAt: record.startTime,
        maxResponseBytes: options.limits.maxResponseBytes,
      },
      record,
    );
  } catch (err) {
    // The scheduler's failures are HangarErrors; anything else is undici refusing the
    // instance's answer (bad framing, an impossible status line).
    if (isHangarError(err)) throw err;
    throw new HangarError(
      'UPSTREAM_INVALID',
      `the instance's response was not valid HTTP: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }

  // Step 6: the whole response is here; check its size and status, rewrite its headers.
  const response = rewriteResponse(upstream, {
    method: record.method,
    maxResponseBytes: options.limits.maxResponseBytes,
    serverSoftware: options.serverSoftware,
  });

  // Step 7: gzip when the client takes it and it pays.
  const compressing = compressResponse(response, {
    method: record.method,
    acceptEncoding,
    userAgent: record.userAgent,
  });
  if (compressing) await compressing;

  record.status = response.status;
  res.writeHead(response.status, response.headers);
  res.end(response.body.length > 0 ? response.body : undefined);
}

/** Answers with the error's status and page (error-response.ts) and records what ended the request. */
function reject(
  options: FrontendOptions,
  x: Exchange,
  err: unknown,
  extra: { close?: boolean; headers?: Record<string, string> } = {},
): void {
  const headers: Record<string, string> = { server: options.serverSoftware, ...extra.headers };
  if (extra.close) headers.connection = 'close';
  const answer = errorAnswer(err, { expose: options.exposeErrors, config: x.route?.config, headers });
  x.record.status = answer.status;
  x.record.error = answer.logLine;
  if (x.res.headersSent) {
    x.res.destroy();
    return;
  }
  x.res.writeHead(answer.status, answer.headers);
  x.res.end(answer.body);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

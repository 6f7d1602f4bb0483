import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AppConfig } from '../config/types.js';
import type { VersionPool } from '../scheduler/version-pool.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import { newRequestId } from '../shared/request-id.js';
import { dispatchToInstance } from './dispatch.js';
import { readRequestBody } from './forward.js';
import { matchHandler } from './handler-match.js';
import { hopByHop } from './hop-by-hop.js';
import { serveStatic } from './static.js';

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

/** What the front end knows about a finished request; the request log grows from it (S9). */
export interface RequestRecord {
  requestId: string;
  method: string;
  resource: string;
  status: number;
  latencyMs: number;
  service?: string;
  version?: string;
  instanceId?: string;
  bytesOut: number;
  /** Time spent in the pending queue waiting for a slot (S9 pendingMs). */
  pendingMs?: number;
  /** The instance's first request (S6, S9 loadingRequest). */
  loadingRequest?: boolean;
  error?: string;
}

export interface FrontendOptions {
  /** Host header → service (S11); undefined when no service answers for the host. */
  route(host: string): ServiceRoute | undefined;
  onRequest?(record: RequestRecord): void;
  /** Show the cause of 5xx errors in the response body (the dev server does, like dev_appserver). */
  exposeErrors: boolean;
  https?: boolean;
}

/**
 * The request pipeline of SPEC S5, one named step per bullet. Steps not built yet (framing
 * and size checks, header hygiene beyond X-Hangar-*, gzip, metering) slot in where their
 * comments stand.
 */
export function createFrontend(options: FrontendOptions): RequestListener {
  return (req, res) => {
    // Step 1: the request's id and clock.
    const requestId = newRequestId();
    const started = performance.now();
    const record: RequestRecord = {
      requestId,
      method: req.method ?? 'GET',
      resource: req.url ?? '/',
      status: 0,
      latencyMs: 0,
      bytesOut: 0,
    };
    // The record is complete once the response is out and the pipeline has filled it in
    // (a static file's byte count is known only after its stream ended).
    let pending = 2;
    const finish = () => {
      if (--pending > 0) return;
      record.latencyMs = performance.now() - started;
      if (!record.status) record.status = res.statusCode;
      options.onRequest?.(record);
    };
    res.once('close', finish);
    handle(options, req, res, record)
      .catch((err: unknown) => sendError(res, record, 500, errorText(err, options.exposeErrors), err))
      .finally(finish);
  };
}

async function handle(
  options: FrontendOptions,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
) {
  // Step 3: host → service, then the first handler whose url matches.
  const route = options.route(req.headers.host ?? '');
  if (!route) {
    sendError(res, record, 404, `No service answers for host ${req.headers.host ?? '(none)'}.`);
    return;
  }
  record.service = route.service;
  record.version = route.version;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const found = matchHandler(route.config.handlers, path);
  if (!found) {
    const error = new HangarError('HANDLER_NOT_FOUND', `No handler in app.yaml matches ${path}.`);
    sendError(res, record, 404, error.message, error);
    return;
  }
  const { handler } = found;

  // Step 4: static files are served here, with no instance and no deadline.
  if (handler.kind === 'static-dir' || handler.kind === 'static-files') {
    const result = await serveStatic({ handler, match: found.match, appDir: route.config.dir, req, res });
    record.status = result.status;
    record.bytesOut = result.bytesOut;
    return;
  }
  if (handler.kind !== 'module') {
    const error = new HangarError(
      'HANDLER_NOT_SUPPORTED',
      `${handler.kind === 'cgi' ? 'CGI' : 'entrypoint'} handlers (script: ${handler.script}) are not supported yet; ` +
        'use a module handler (script: path/main.app).',
    );
    sendError(res, record, 501, error.message, error);
    return;
  }

  // Step 5: buffer the body, then take a slot on an instance and forward (dispatch.ts).
  const body = await readRequestBody(req);
  const upstream = await dispatchToInstance(
    route,
    req,
    body,
    {
      requestId: record.requestId,
      handlerPosition: found.index,
      remoteAddr: req.socket.remoteAddress ?? '',
      https: options.https ?? false,
    },
    record,
  );

  // Step 6: the whole response is here; pass it on without hop-by-hop headers.
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || hopByHop.has(name) || name === 'content-length') continue;
    res.setHeader(name, value);
  }
  res.setHeader('content-length', upstream.body.length);
  res.statusCode = upstream.status;
  record.status = upstream.status;
  record.bytesOut = upstream.body.length;
  res.end(req.method === 'HEAD' ? undefined : upstream.body);
}

function errorText(err: unknown, expose: boolean): string {
  if (!expose) return 'The server encountered an error and could not complete your request.';
  if (isHangarError(err)) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function sendError(
  res: ServerResponse,
  record: RequestRecord,
  status: number,
  message: string,
  cause?: unknown,
) {
  const finalStatus = isHangarError(cause) && typeof cause.status === 'number' ? cause.status : status;
  record.status = finalStatus;
  record.error = isHangarError(cause)
    ? `${cause.code}: ${cause.message.split('\n')[0]}`
    : message.split('\n')[0];
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${finalStatus} ${message}\n`;
  res.writeHead(finalStatus, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  record.bytesOut = Buffer.byteLength(body);
  res.end(body);
}

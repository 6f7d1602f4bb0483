/**
 * The HTTP server of a version's Knative pod (SPEC S16, docs/kubernetes.md "The pod"): what
 * answers on $PORT behind Knative's queue-proxy. A pod is the front end's per-request steps and
 * an instance in one process, each step the same code as on one machine:
 *
 *   2 framing and size checks, dot segments ....... framing-checks.ts, dot-segments.ts
 *   3 the app's daily quotas ...................... the meter's platform-wide totals (pod-database.ts)
 *   3 handler, secure:, login: .................... handler-match.ts, secure-redirect.ts, login-gate.ts
 *   4 static files ................................ static.ts
 *   5 script handlers: headers, body, deadline .... request-headers.ts; the instance's loaded handlers
 *   6 response rewrite ............................ response-rewrite.ts
 *   7 gzip ........................................ compress.ts
 *   8 the request's log entry ..................... pod-log.ts (stdout), or the platform database
 *
 * Routing (host → version) and the traffic split are Knative's (its Route), as are the pending
 * queue and scaling (containerConcurrency and the autoscaler): a request that reaches a pod is
 * for this version and has a slot.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AppConfig, Handler, PlatformConfig } from '../config/types.js';
import { compressResponse } from '../frontend/compress.js';
import { normalisedTarget } from '../frontend/dot-segments.js';
import { errorAnswer } from '../frontend/error-response.js';
import { checkFraming } from '../frontend/framing-checks.js';
import { matchHandler } from '../frontend/handler-match.js';
import { sanitiseRequestHeaders } from '../frontend/request-headers.js';
import { type ClientResponse, rewriteResponse, type UpstreamResponse } from '../frontend/response-rewrite.js';
import { secureRedirect } from '../frontend/secure-redirect.js';
import { gate } from '../frontend/sign-in/login-gate.js';
import { serveStatic } from '../frontend/static.js';
import { takeWireBytes } from '../frontend/wire-bytes.js';
import type { LoadedHandler } from '../instance/app-loader.js';
import { runCgiRequest } from '../instance/cgi/cgi-request.js';
import { failurePage, type InstanceErrorPage } from '../instance/error-page.js';
import { armDeadline, callFetch, reportFailure } from '../instance/fetch-run.js';
import { lazyRequest } from '../instance/lazy-request.js';
import { logLine, packHeldLines } from '../instance/log-capture.js';
import { requestStorage } from '../instance/request-context.js';
import type { RequestFacts } from '../instance/request-env.js';
import { RequestState } from '../instance/request-state.js';
import { ResponseTooLarge, responseBytes } from '../instance/response-body.js';
import { unpackLines } from '../logs/packed-lines.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import type { RequestFrame } from '../shared/request-channel.js';
import { newRequestId } from '../shared/request-id.js';
import type { PodLogEntry } from './pod-log.js';

export interface PodServerOptions {
  /** The version's app.yaml. */
  config: AppConfig;
  /** Its script handlers, loaded, by their index in `config.handlers`. */
  handlers: ReadonlyMap<number, LoadedHandler>;
  limits: PlatformConfig['limits'];
  /** S6: from arrival; undefined: none (basic and manual scaling, unless configured). */
  deadlineMs: number | undefined;
  serverSoftware: string;
  appId: string;
  version: string;
  instanceId: string;
  /** The S8 variables CGI scripts get (the instance's env, not the pod's whole environment). */
  instanceEnv: Readonly<Record<string, string>>;
  /**
   * Each finished request's log entry; `metered`: it got past step 2 (the front end counts a
   * request once it is routed, S10), so the meter counts it.
   */
  onRequest(entry: PodLogEntry, metered: boolean): void;
  /** Step 3's quota check (S10): the daily quota the app has used up, or undefined. None: no quotas. */
  overQuota?(): string | undefined;
}

/** Why nobody signs in on a pod: sign-in lives in the Hangar front end, which pods do not have. */
const signInUnavailable =
  'this page needs a signed-in user (login: in app.yaml), but a Knative pod has no sign-in; serve it through the Hangar front end, or use login: optional';

/** A CGI script's local redirects followed per request, as the front end follows them. */
const MAX_LOCAL_REDIRECTS = 10;

/** Ports a client reaches Knative's ingress on, for `secure:` redirects. */
const ingressPorts = { http: 80, https: 443 };

/**
 * The pod's HTTP server. It is not listening yet: pod-main.ts listens once the app loaded.
 *
 * @example
 * const server = createPodServer({ config, handlers, limits, deadlineMs: 60_000, ... });
 */
export function createPodServer(o: PodServerOptions): Server {
  let served = 0;
  const server = createServer((req, res) => {
    const loading = served++ === 0;
    const entry = newEntry(o, req, loading);
    const progress = { routed: false };
    const t0 = performance.now();
    // The entry is written once the response is gone and the handler's work is over (a Node
    // handler's lines are taken when its response closes), whichever comes last.
    let closed = false;
    let handled = false;
    const log = () => {
      if (!closed || !handled) return;
      if (entry.status === 0) entry.status = res.statusCode;
      o.onRequest(entry, progress.routed);
    };
    res.once('close', () => {
      entry.latencyMs = Math.round((performance.now() - t0) * 10) / 10;
      // What went over the wire, as the front end counts it (wire-bytes.ts).
      Object.assign(entry, takeWireBytes(req.socket));
      closed = true;
      log();
    });
    // An app writing to a response the pod already answered (its deadline passed) must not
    // take the process down with an unhandled 'error'.
    res.on('error', () => {});
    handle(o, req, res, entry, progress)
      .catch((err: unknown) => {
        if (!res.headersSent) answerError(o, res, entry, err);
        else res.destroy();
      })
      .finally(() => {
        handled = true;
        log();
      });
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

function newEntry(o: PodServerOptions, req: IncomingMessage, loading: boolean): PodLogEntry {
  const forwarded = firstValue(req.headers['x-forwarded-for'])?.split(',')[0]?.trim();
  const proto = firstValue(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim();
  return {
    requestId: newRequestId(),
    appId: o.appId,
    service: o.config.service,
    version: o.version,
    instanceId: o.instanceId,
    startTime: new Date().toISOString(),
    latencyMs: 0,
    pendingMs: 0,
    method: req.method ?? 'GET',
    resource: req.url ?? '/',
    httpVersion: req.httpVersion,
    status: 0,
    bytesIn: 0,
    bytesOut: 0,
    userAgent: firstValue(req.headers['user-agent']) ?? null,
    // Behind Knative's ingress the socket is the queue-proxy's: the client is the first
    // X-Forwarded-For entry, which the ingress sets.
    ip: forwarded || req.socket.remoteAddress || null,
    host: firstValue(req.headers.host) ?? null,
    loadingRequest: loading,
    secure: proto === 'https',
    error: null,
    lines: [],
  };
}

async function handle(
  o: PodServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  entry: PodLogEntry,
  progress: { routed: boolean },
): Promise<void> {
  const arrived = Date.now();
  // Step 2: what Node's parser accepted but S5 refuses, and paths with dot segments.
  const framing = checkFraming(req, o.limits);
  if (framing) return answerError(o, res, entry, framing, { connection: 'close' });
  const normalised = normalisedTarget(req.url ?? '/');
  if (normalised !== undefined) {
    const error = new HangarError('PATH_NOT_NORMALISED', `${req.url} has . or .. segments; redirected`);
    return answerError(o, res, entry, error, { location: normalised });
  }
  // Step 3 begins: the request is the app's from here (the front end has routed it), and counts.
  progress.routed = true;
  const exhausted = o.overQuota?.();
  if (exhausted !== undefined) {
    const error = new HangarError(
      'OVER_QUOTA',
      `app ${o.appId} has used up its daily ${exhausted} quota (quotas.daily.${exhausted}); it resets at 00:00 UTC`,
    );
    // The body is not read: the connection cannot carry another request after it.
    const body =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    return answerError(o, res, entry, error, body ? { connection: 'close' } : undefined);
  }
  const acceptEncoding = firstValue(req.headers['accept-encoding']);
  let body: Buffer | undefined;
  for (let hop = 0; ; hop++) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    // Step 3: the handler, then `secure:` and `login:` as the front end checks them.
    const found = matchHandler(o.config.handlers, path);
    if (!found) {
      return answerError(
        o,
        res,
        entry,
        new HangarError('HANDLER_NOT_FOUND', `No handler in app.yaml matches ${path}.`),
      );
    }
    const { handler } = found;
    const host = firstValue(req.headers.host) ?? 'localhost';
    const redirect = secureRedirect(handler, { https: entry.secure, host, url }, ingressPorts);
    if (redirect) {
      entry.status = redirect.status;
      res.writeHead(redirect.status, {
        server: o.serverSoftware,
        location: redirect.location,
        'content-length': '0',
      });
      res.end();
      return;
    }
    const login = gate(handler, undefined, url, signInUnavailable);
    if (login.kind === 'refuse') return answerError(o, res, entry, login.error);
    // Step 4: static files, from the image's copy of the version.
    if (handler.kind === 'static-dir' || handler.kind === 'static-files') {
      res.setHeader('server', o.serverSoftware);
      const result = await serveStatic({ handler, match: found.match, appDir: o.config.dir, req, res });
      if (result.refusal) return answerError(o, res, entry, result.refusal);
      entry.status = result.status;
      if (result.error) entry.error = result.error.message;
      return;
    }
    const loaded = o.handlers.get(found.index);
    if (!loaded) {
      return answerError(
        o,
        res,
        entry,
        new HangarError('HANDLER_FAILED', `handler ${handler.url} was not loaded in this pod`),
      );
    }
    // Step 5: the request as an instance gets it.
    if (hop === 0) {
      sanitiseRequestHeaders(req, {
        requestId: entry.requestId,
        remoteAddr: req.socket.remoteAddress ?? '',
        https: entry.secure,
      });
    }
    const deadlineAt = o.deadlineMs === undefined ? undefined : arrived + o.deadlineMs;
    const facts: RequestFacts = {
      requestId: entry.requestId,
      remoteAddr: entry.ip ?? '',
      https: entry.secure,
      method: req.method ?? 'GET',
      url,
      httpVersion: req.httpVersion,
      headers: req.headers,
    };
    if (loaded.kind === 'node') return runNodeHandler(o, loaded, req, res, entry, facts, deadlineAt);
    body ??= await readBody(req, o.limits.maxRequestBytes);
    const upstream = await runBuffered(o, loaded, handler, found.index, req, facts, body, entry, deadlineAt);
    if (upstream.localRedirect !== undefined && hop < MAX_LOCAL_REDIRECTS) {
      // RFC 3875 6.2.2: answered with what a GET of that path would get.
      req.method = 'GET';
      req.url = normalisedTarget(upstream.localRedirect) ?? upstream.localRedirect;
      body = Buffer.alloc(0);
      continue;
    }
    // Steps 6 and 7.
    let response: ClientResponse;
    try {
      response = rewriteResponse(upstream, {
        method: req.method ?? 'GET',
        maxResponseBytes: o.limits.maxResponseBytes,
        serverSoftware: o.serverSoftware,
      });
    } catch (err) {
      return answerError(o, res, entry, err);
    }
    const compressing = compressResponse(response, {
      method: req.method ?? 'GET',
      acceptEncoding,
      userAgent: entry.userAgent ?? undefined,
    });
    if (compressing) await compressing;
    entry.status = response.status;
    res.writeHead(response.status, response.headers);
    res.end(response.body);
    return;
  }
}

/**
 * A fetch, CGI or entrypoint handler: the body buffered, the handler run inside the request's
 * context, its whole answer collected. Past deadline + grace the client gets the timeout answer
 * and a late answer is dropped (S6).
 */
async function runBuffered(
  o: PodServerOptions,
  loaded: Exclude<LoadedHandler, { kind: 'node' }>,
  handler: Handler,
  index: number,
  req: IncomingMessage,
  facts: RequestFacts,
  body: Buffer,
  entry: PodLogEntry,
  deadlineAt: number | undefined,
): Promise<UpstreamResponse> {
  const state = new RequestState(facts, true);
  const timer = armDeadline(state, deadlineAt);
  const work = run(o, loaded, handler, index, req, facts, body, state, deadlineAt);
  let grace: NodeJS.Timeout | undefined;
  try {
    if (deadlineAt === undefined) return await work;
    const late = new Promise<never>((_, reject) => {
      grace = setTimeout(
        () =>
          reject(
            new HangarError(
              'DEADLINE_EXCEEDED',
              `the handler did not answer within the request deadline (${o.deadlineMs} ms) and its grace (${o.limits.deadlineGraceMs} ms)`,
            ),
          ),
        Math.max(0, deadlineAt + o.limits.deadlineGraceMs - Date.now()),
      );
    });
    work.catch(() => {});
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    takeLines(state, entry);
  }
}

async function run(
  o: PodServerOptions,
  loaded: Exclude<LoadedHandler, { kind: 'node' }>,
  handler: Handler,
  index: number,
  req: IncomingMessage,
  facts: RequestFacts,
  body: Buffer,
  state: RequestState,
  deadlineAt: number | undefined,
): Promise<UpstreamResponse> {
  const method = facts.method;
  if (loaded.kind === 'fetch') {
    const request = lazyRequest({
      method,
      url: `${facts.https ? 'https' : 'http'}://${firstValue(req.headers.host) ?? 'localhost'}${facts.url}`,
      headers: req.rawHeaders,
      body,
    });
    return requestStorage.run(state, async () => {
      try {
        const response = await callFetch(loaded, request, state);
        const payload = await responseBytes(response, o.limits.maxResponseBytes);
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of response.headers) if (name !== 'set-cookie') headers[name] = value;
        const cookies = response.headers.getSetCookie();
        if (cookies.length > 0) headers['set-cookie'] = cookies;
        return { status: response.status, headers, body: payload };
      } catch (err) {
        if (err instanceof ResponseTooLarge) {
          throw new HangarError(
            'RESPONSE_TOO_LARGE',
            `the response body is over limits.max_response_bytes (${o.limits.maxResponseBytes}); the client got an empty 500`,
          );
        }
        reportFailure(err);
        return pageResponse(failurePage(err));
      }
    });
  }
  if (loaded.kind === 'entrypoint') {
    try {
      const answer = await loaded.server.forward({
        method,
        url: facts.url,
        headers: req.rawHeaders,
        body,
        requestId: facts.requestId,
        signal: state.signal,
        deadlineAt,
        maxResponseBytes: o.limits.maxResponseBytes,
      });
      if ('tooLarge' in answer) {
        throw new HangarError(
          'RESPONSE_TOO_LARGE',
          `the app's server answered with more than limits.max_response_bytes (${o.limits.maxResponseBytes})`,
        );
      }
      return { status: answer.status, headers: headerRecord(answer.headers), body: answer.body };
    } catch (err) {
      if (isHangarError(err)) throw err;
      const failure = new Error(`the app's server (entrypoint) did not answer: ${(err as Error).message}`);
      requestStorage.run(state, () => reportFailure(failure));
      return pageResponse(failurePage(failure));
    }
  }
  // CGI (S4.2): the script's own process, or a `.js`/`.ts` script inside this one.
  const head: RequestFrame = {
    id: 0,
    method,
    url: facts.url,
    httpVersion: facts.httpVersion,
    headers: req.rawHeaders,
    handler: index,
    requestId: facts.requestId,
    remoteAddr: facts.remoteAddr,
    https: facts.https,
    ...(deadlineAt === undefined ? {} : { deadline: deadlineAt }),
  };
  const outcome = await runCgiRequest({
    script: loaded.script,
    appDir: o.config.dir,
    instanceEnv: o.instanceEnv,
    head,
    body,
    signal: state.signal,
    maxResponseBytes: o.limits.maxResponseBytes,
    onStderrLine: (line) => requestStorage.run(state, () => logLine('warning', line)),
    state,
  });
  switch (outcome.kind) {
    case 'document':
    case 'client-redirect':
      return { status: outcome.status, headers: headerRecord(outcome.headers), body: outcome.body };
    case 'local-redirect':
      return { status: 200, headers: {}, body: Buffer.alloc(0), localRedirect: outcome.location };
    case 'failed':
      if (outcome.code === 'RESPONSE_TOO_LARGE') {
        throw new HangarError('RESPONSE_TOO_LARGE', `the CGI script ${handler.url} wrote too much`);
      }
      requestStorage.run(state, () =>
        logLine(
          'error',
          `HANGAR_E_${outcome.code}: the CGI script ${loaded.script} failed: ${outcome.reason}`,
        ),
      );
      return pageResponse(failurePage());
    case 'deadline':
      requestStorage.run(state, () => logLine('error', `HANGAR_E_${outcome.code}: ${outcome.reason}`));
      throw new HangarError('DEADLINE_EXCEEDED', outcome.reason);
    case 'aborted':
      return pageResponse(failurePage());
  }
}

/**
 * A Node `(req, res)` handler gets the pod's own request and response, as an instance's HTTP
 * server hands them over (src/instance/server.ts). Past deadline + grace an unanswered request
 * gets the timeout answer; one whose head went out already is cut.
 */
function runNodeHandler(
  o: PodServerOptions,
  loaded: Extract<LoadedHandler, { kind: 'node' }>,
  req: IncomingMessage,
  res: ServerResponse,
  entry: PodLogEntry,
  facts: RequestFacts,
  deadlineAt: number | undefined,
): Promise<void> {
  const state = new RequestState(facts, true);
  const timer = armDeadline(state, deadlineAt);
  return new Promise<void>((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    res.once('close', () => {
      clearTimeout(timer);
      clearTimeout(grace);
      if (!res.writableFinished)
        state.abort.abort(new Error('the client went away before the response was sent'));
      takeLines(state, entry);
      if (entry.status === 0) entry.status = res.statusCode;
      resolve();
    });
    if (deadlineAt !== undefined) {
      grace = setTimeout(
        () => {
          if (res.writableEnded) return;
          const error = new HangarError(
            'DEADLINE_EXCEEDED',
            `the handler did not answer within the request deadline (${o.deadlineMs} ms) and its grace`,
          );
          if (res.headersSent) {
            entry.error = `${error.code}: ${error.message}`;
            res.destroy();
          } else answerError(o, res, entry, error);
        },
        Math.max(0, deadlineAt + o.limits.deadlineGraceMs - Date.now()),
      );
    }
    requestStorage.run(state, () => {
      try {
        loaded.call(req, res);
      } catch (err) {
        reportFailure(err);
        if (res.headersSent) res.destroy();
        else writePage(res, failurePage(err), entry);
      }
    });
  });
}

/** The request body, whole; over `limit` bytes it is a 413 (S5, a streamed body crossing the limit). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(
          new HangarError(
            'REQUEST_TOO_LARGE',
            `the request body is over limits.max_request_bytes (${limit} bytes)`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** The pod's own answer to `err` (the front end's error builder: the app's error pages apply). */
function answerError(
  o: PodServerOptions,
  res: ServerResponse,
  entry: PodLogEntry,
  err: unknown,
  headers?: Record<string, string>,
): void {
  const answer = errorAnswer(err, {
    expose: false,
    config: o.config,
    headers: { server: o.serverSoftware, ...headers },
  });
  entry.status = answer.status;
  entry.error = answer.logLine;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

function writePage(res: ServerResponse, page: InstanceErrorPage, entry: PodLogEntry): void {
  entry.status = page.status;
  res.writeHead(page.status, page.headers);
  res.end(page.body);
}

function pageResponse(page: InstanceErrorPage): UpstreamResponse {
  return { status: page.status, headers: { ...page.headers }, body: page.body };
}

/** The lines a request held, into its log entry; later lines go to the pod's stdout as they come. */
function takeLines(state: RequestState, entry: PodLogEntry): void {
  const held = state.lines;
  state.lines = undefined;
  if (held && held.length > 0) entry.lines.push(...unpackLines(packHeldLines(held)));
}

/** `[name, value, ...]` as response headers (names lower-cased; several Set-Cookie kept apart). */
function headerRecord(flat: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    const previous = out[name];
    if (previous === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(previous)) previous.push(value);
    else out[name] = `${previous}, ${value}`;
  }
  return out;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The steps of SPEC S5, one function each, in the order frontend.ts's handle() runs them.
 * Each step says why it exists, takes the request's `Exchange` and what the step before it
 * produced, and gives back what the next one needs, or `DONE` once it has answered the
 * client itself (a rejection, a redirect). The types carry the order: matchRoute() needs the
 * `ServiceRoute` only routeRequest() returns, dispatchRequest() the body only
 * readRequestBody() returns, and so on.
 *
 * Hot path: steps that need no I/O are synchronous; the only awaits are the body (when there
 * is one), the instance, static files and gzip (when it pays). A step passes on the one
 * Exchange and the values the modules it calls produce: no per-step objects, closures or
 * promises beyond those of the single function these steps were cut from.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler, StaticDirHandler, StaticFilesHandler } from '../config/types.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { BufferBudget } from './buffer-budget.js';
import { compressResponse } from './compress.js';
import { closeAfterAnswer, trackBodyRead } from './connection-state.js';
import { dispatchToInstance } from './dispatch.js';
import { normalisedTarget } from './dot-segments.js';
import { errorAnswer } from './error-response.js';
import { checkFraming } from './framing-checks.js';
import { type HandlerMatch, matchHandler } from './handler-match.js';
import type { FrontendOptions, ResponseJournal } from './options.js';
import { type RequestBody, readBody } from './request-body.js';
import { headerObject, sanitiseRequestHeaders } from './request-headers.js';
import { type ClientResponse, rewriteResponse, type UpstreamResponse } from './response-rewrite.js';
import type { RouteRequest, ServiceRoute } from './route.js';
import { secureRedirect } from './secure-redirect.js';
import { gate } from './sign-in/login-gate.js';
import type { SessionUser } from './sign-in/session-cookie.js';
import { isSignInPath, type SignIn } from './sign-in/sign-in.js';
import { nicknameOf } from './sign-in/user-identity.js';
import { serveStatic } from './static.js';
import { splitCookie } from './traffic-split.js';

/** A step's result when it has answered the client itself: the pipeline stops there. */
export const DONE: unique symbol = Symbol('done');
export type Done = typeof DONE;

/** What every step reads of its front end, resolved once per listener. */
export interface StepContext {
  readonly options: FrontendOptions;
  readonly https: boolean;
  /** `secure: always` handlers already warned about (no HTTPS listener): each warns once. */
  readonly warned: WeakSet<Handler>;
  /** The bodies held for all requests of the platform (limits.max_buffered_bytes). */
  readonly budget: BufferBudget;
}

/**
 * One request on its way through the steps: made in step 1, filled in as the steps run. It is
 * also the route table's `RouteRequest` (host and path are set by routeRequest(), the cookie and
 * the client's address are read only if the table asks), so routing allocates nothing.
 */
export class Exchange implements RouteRequest {
  /** Set by routeRequest() (step 3): from then on the app's error pages apply to failures. */
  route: ServiceRoute | undefined = undefined;
  /** The Host header, once step 2 has checked there is exactly one valid one. */
  host = '';
  /** The request target's path, without the query: what handlers and dispatch rules match. */
  path = '';
  /** The client's Accept-Encoding as it came: step 5 drops it before the instance, step 7 reads it. */
  acceptEncoding: string | undefined = undefined;
  /** Body bytes this request holds of the front end's budget; given back in step 8. */
  held = 0;
  /** The `GOOGAPPUID` cookie a cookie split gave this client (traffic-split.ts), for its answer. */
  splitCookie: string | undefined = undefined;
  /** The signed-in user (sign-in/session-cookie.ts): null until user() has read the cookie. */
  #user: SessionUser | undefined | null = null;

  constructor(
    readonly context: StepContext,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly record: RequestRecord,
  ) {}

  get cookie(): string | undefined {
    return this.req.headers.cookie;
  }

  get ip(): string {
    return this.req.socket.remoteAddress ?? '';
  }

  /** Read by a table only for an instance-addressed host; step 5 strips the admin token's. */
  get authorization(): string | undefined {
    return this.req.headers.authorization;
  }

  assignSplitBucket(bucket: number): void {
    this.splitCookie = splitCookie(bucket);
  }

  /** A split picked the version: its label (precomputed by the table) goes into the request log. */
  noteSplit(label: string): void {
    this.record.split = label;
  }

  /** Who the request's session cookie says is signed in to the routed app; read once. */
  user(): SessionUser | undefined {
    if (this.#user !== null) return this.#user;
    const sessions = this.context.options.signIn?.sessions;
    const app = this.route?.app;
    const user = sessions && app !== undefined ? sessions.read(this.req.headers.cookie, app) : undefined;
    this.#user = user;
    return user;
  }
}

/** Methods the front end serves, for `Allow` on a 405. */
const allowedMethods = 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH';

/**
 * Step 2, framing and size checks (framing-checks.ts): what Node's parser accepted but S5
 * refuses. Ambiguous framing is how requests get smuggled past a proxy, so a refused request
 * never reaches routing or an instance, and its connection closes: after it, nothing says
 * where the next request on the connection starts.
 */
export function rejectMalformed(x: Exchange): Done | undefined {
  const problem = checkFraming(x.req, x.context.options.limits);
  if (!problem) {
    // An Upgrade request is served as plain HTTP/1.1, but Node's parser stops reading at its
    // end (the rest "is another protocol") and drops what was pipelined behind it in the same
    // read: its answer closes the connection, so no later request is answered in their place.
    if (x.req.headers.upgrade !== undefined) {
      x.res.shouldKeepAlive = false;
      closeAfterAnswer(x.req.socket, false);
    }
    return undefined;
  }
  const allow = problem.code === 'HANGAR_E_METHOD_NOT_ALLOWED' ? { allow: allowedMethods } : undefined;
  return reject(x, problem, { close: true, headers: allow });
}

/**
 * Step 2, `.`/`..` segments (dot-segments.ts, `%2e` included): a 302 to the normalised path,
 * so handlers and static files only ever match a path that cannot climb out of its directory,
 * and the client learns the URL that is served.
 */
export function redirectDotSegments(x: Exchange): Done | undefined {
  const url = x.req.url!;
  const normalised = normalisedTarget(url);
  if (normalised === undefined) return undefined;
  const error = new HangarError(
    'PATH_NOT_NORMALISED',
    `${url} has . or .. segments; redirected to ${normalised}`,
  );
  return reject(x, error, { close: hasBody(x.req), headers: { location: normalised } });
}

/**
 * Step 3, host → app/service/version (route.ts, S11): everything after this belongs to one
 * app, whose error pages, quotas and handlers apply from here on.
 */
export function routeRequest(x: Exchange): ServiceRoute | Done {
  const url = x.req.url!;
  const q = url.indexOf('?');
  x.host = x.req.headers.host!;
  x.path = q === -1 ? url : url.slice(0, q);
  const route = x.context.options.routes.route(x);
  if (!route)
    return reject(x, new HangarError('SERVICE_NOT_FOUND', `No service answers for host ${x.host}.`));
  x.route = route;
  const { record } = x;
  record.app = route.app;
  record.service = route.service;
  record.version = route.version;
  return route;
}

/**
 * Step 3, the app's daily quotas (S10): an app that used one up gets 503 with its `over_quota`
 * page before any of its handlers runs or any instance is started for it.
 */
export function checkQuota(x: Exchange, route: ServiceRoute): Done | undefined {
  const exhausted = x.context.options.meter?.overQuota(route.app);
  if (exhausted === undefined) return undefined;
  const error = new HangarError(
    'OVER_QUOTA',
    `app ${route.app} has used up its daily ${exhausted} quota (quotas.daily.${exhausted}); it resets at 00:00 UTC`,
  );
  return reject(x, error, { close: hasBody(x.req) });
}

/**
 * Step 3, the sign-in pages (S11: `/_ah/login`, its provider callback, `/_ah/logout`), answered
 * by the platform's SignIn (sign-in/), whatever the app's handlers say: App Engine reserves
 * `/_ah/`. Undefined for every other path.
 */
export function serveSignInPage(x: Exchange, route: ServiceRoute): Promise<void> | undefined {
  const signIn = x.context.options.signIn;
  if (signIn === undefined || !isSignInPath(x.path)) return undefined;
  return answerSignInPage(x, route, signIn);
}

async function answerSignInPage(x: Exchange, route: ServiceRoute, signIn: SignIn): Promise<void> {
  const method = x.req.method;
  if (method !== 'GET' && method !== 'HEAD') {
    const error = new HangarError('METHOD_NOT_ALLOWED', `${x.path} is a sign-in page: GET it`, {
      status: 405,
    });
    reject(x, error, { close: hasBody(x.req), headers: { allow: 'GET, HEAD' } });
    return;
  }
  const answer = await signIn.answer({
    method,
    url: x.req.url!,
    host: x.host,
    https: x.context.https,
    app: route.app,
    cookie: x.req.headers.cookie,
  });
  const body = Buffer.from(method === 'HEAD' ? '' : answer.body);
  const headers: Record<string, string | string[]> = {
    server: x.context.options.serverSoftware,
    ...answer.headers,
    'content-length': String(Buffer.byteLength(answer.body)),
  };
  if (x.splitCookie) headers['set-cookie'] = [...[answer.headers['set-cookie'] ?? []].flat(), x.splitCookie];
  x.record.status = answer.status;
  x.res.writeHead(answer.status, headers);
  endResponse(x, body.length > 0 ? body : undefined);
}

/**
 * Step 3, `login:` (sign-in/login-gate.ts), after `secure:` so a login page is never asked for
 * over the wrong scheme: a handler that needs a signed-in user (or an admin) answers the others
 * with a redirect to sign in, or 401, per its `auth_fail_action`. Static files too.
 */
export function checkLogin(x: Exchange, handler: Handler): Done | undefined {
  if (handler.login === 'optional') return undefined;
  const signIn = x.context.options.signIn;
  const unavailable = signIn
    ? signIn.unavailable
    : 'this page needs a signed-in user (login: in app.yaml), but this front end has no sign-in';
  const outcome = gate(handler, x.user(), x.req.url!, unavailable);
  if (outcome.kind === 'pass') return undefined;
  if (outcome.kind === 'refuse') return reject(x, outcome.error, { close: hasBody(x.req) });
  const error = new HangarError('LOGIN_REQUIRED', `sign-in needed; redirected to ${outcome.location}`, {
    status: 302,
  });
  return reject(x, error, {
    close: hasBody(x.req),
    headers: { location: outcome.location, 'cache-control': 'no-store' },
  });
}

/** Step 3, the first handler in app.yaml order whose `url` matches the path (handler-match.ts); none: 404. */
export function matchRoute(x: Exchange, route: ServiceRoute): HandlerMatch | Done {
  const found = matchHandler(route.config.handlers, x.path);
  if (found) return found;
  return reject(x, new HangarError('HANDLER_NOT_FOUND', `No handler in app.yaml matches ${x.path}.`));
}

/**
 * Step 3, `secure:` (secure-redirect.ts): `always` sends HTTP to HTTPS and `never` HTTPS to
 * HTTP, before anything is served, so a page meant for one scheme is never served on the
 * other. Without an HTTPS listener `always` is served over HTTP, with one warning per handler.
 */
export function redirectSecure(x: Exchange, handler: Handler): Done | undefined {
  if (handler.secure === 'optional') return undefined;
  const { context, req, res } = x;
  const { options, https } = context;
  const ports = options.ports?.() ?? {};
  const redirect = secureRedirect(handler, { https, host: x.host, url: req.url! }, ports);
  if (redirect) {
    x.record.status = redirect.status;
    // With the body unread the connection closes after the redirect: nothing behind it runs.
    if (hasBody(req)) closeAfterAnswer(req.socket, false);
    res.writeHead(redirect.status, {
      server: options.serverSoftware,
      location: redirect.location,
      'content-length': '0',
      ...(hasBody(req) ? { connection: 'close' } : {}),
    });
    endResponse(x);
    return DONE;
  }
  if (handler.secure === 'always' && !https && !context.warned.has(handler)) {
    context.warned.add(handler);
    options.warn?.(
      `handler ${handler.url} has secure: always, but there is no HTTPS listener (--https-port); serving it over HTTP`,
    );
  }
  return undefined;
}

/** True for the handlers step 4 serves. */
export function isStatic(handler: Handler): handler is StaticDirHandler | StaticFilesHandler {
  return handler.kind === 'static-dir' || handler.kind === 'static-files';
}

/**
 * Step 4, static files (static.ts): served by the front end itself, as App Engine does, with
 * no instance and no deadline, so they cost no instance time and work while instances start.
 */
export async function serveStaticFiles(
  x: Exchange,
  route: ServiceRoute,
  handler: StaticDirHandler | StaticFilesHandler,
  match: RegExpExecArray,
): Promise<void> {
  const { req, res, record } = x;
  res.setHeader('server', x.context.options.serverSoftware);
  if (x.splitCookie) res.setHeader('set-cookie', x.splitCookie);
  const { journal } = x.context.options;
  const result = await serveStatic({
    handler,
    match,
    appDir: route.config.dir,
    req,
    res,
    // The record goes into the request journal before the file's bytes (request-journal.ts).
    ...(journal ? { beforeBody: (status: number) => journalStatic(journal, record, status) } : {}),
  });
  if (result.refusal) {
    reject(
      x,
      result.refusal,
      result.refusal.code === 'HANGAR_E_STATIC_METHOD_NOT_ALLOWED' ? { headers: { allow: 'GET, HEAD' } } : {},
    );
    return;
  }
  record.status = result.status;
  if (result.error) record.error = result.error.message;
}

function journalStatic(journal: ResponseJournal, record: RequestRecord, status: number): void {
  record.status = status;
  journal.write(record);
}

/**
 * Step 5, "buffer the body" (request-body.ts): the whole body is read before an instance is
 * picked, so a slow client never holds a slot, and the size limit is enforced as it streams
 * in. A failure here (413, a malformed chunk, the client gone) leaves the connection's framing
 * spent, so the answer closes it. Only for requests with a body (hasBody()): the others go on
 * without a turn of the event loop.
 */
export async function readRequestBody(x: Exchange): Promise<RequestBody | Done> {
  const { limits, bodySpool } = x.context.options;
  // A declared body takes its room in the budget before a byte of it is read (a refusal
  // closes the connection: the body is not read).
  const declared = Number(x.req.headers['content-length'] ?? 0);
  if (declared > 0 && !hold(x, declared)) return reject(x, buffersFull(x), { close: true });
  // A chunked body takes its room chunk by chunk as it streams in (its size is not known before).
  const reserve =
    declared === 0 ? (bytes: number) => (hold(x, bytes) ? undefined : buffersFull(x)) : undefined;
  const read = readBody(x.req, x.res, limits.maxRequestBytes, limits.bodyIdleTimeoutMs, bodySpool, reserve);
  // While it reads, a parse error in the body is this request's 400 (early-rejections.ts).
  const untrack = trackBodyRead(x.req.socket, read);
  try {
    return await read.body;
  } catch (err) {
    return reject(x, err, { close: true });
  } finally {
    untrack();
  }
}

/**
 * Step 5, header hygiene (request-headers.ts: nothing the app could mistake for the platform's,
 * what the front end knows added, the platform's admin token never passed on), then a slot on
 * an instance of the route's version (or the one instance the host addressed) and the request
 * sent there (dispatch.ts, the scheduler seam). The client's Accept-Encoding is kept for step 7
 * first: the front end compresses, so the instance never sees it.
 */
export async function dispatchRequest(
  x: Exchange,
  route: ServiceRoute,
  handlerPosition: number,
  body: RequestBody,
): Promise<UpstreamResponse> {
  const { req, record } = x;
  const { https } = x.context;
  x.acceptEncoding = req.headers['accept-encoding'];
  const remoteAddr = req.socket.remoteAddress ?? '';
  const user = x.user();
  const signIn = x.context.options.signIn;
  sanitiseRequestHeaders(req, {
    requestId: record.requestId,
    remoteAddr,
    https,
    adminToken: x.context.options.adminToken,
    user:
      user && signIn
        ? {
            email: user.email,
            userId: user.userId,
            admin: user.admin,
            nickname: nicknameOf(user.email, signIn.authDomain),
          }
        : undefined,
  });
  try {
    return await dispatchToInstance(
      route,
      req,
      body,
      { requestId: record.requestId, handlerPosition, remoteAddr, https, arrivedAt: record.startTime },
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
}

/** Local redirects one request may follow (S4.2); one more is a loop, answered with a 500. */
export const MAX_LOCAL_REDIRECTS = 10;

/**
 * A CGI script's local redirect (S4.2, RFC 3875 §6.2.2): the request becomes a GET of
 * `location` (HEAD stays HEAD) with the client's own headers and no body, and goes through
 * steps 3 to 5 again, so the answer is what that URL would get, whatever serves it. Dot
 * segments are resolved as step 2 does for a client's URL. The log entry keeps the URL the
 * client asked for.
 */
export function followLocalRedirect(
  x: Exchange,
  location: string,
  clientHeaders: readonly string[],
  followed: number,
): void {
  if (followed >= MAX_LOCAL_REDIRECTS) {
    throw new HangarError(
      'HANDLER_FAILED',
      `a CGI script redirected locally more than ${MAX_LOCAL_REDIRECTS} times in a row (the last to ${location}); a local redirect must end at a page`,
    );
  }
  const { req } = x;
  if (req.method !== 'HEAD') req.method = 'GET';
  req.url = normalisedTarget(location) ?? location;
  const headers: string[] = [];
  for (let i = 0; i < clientHeaders.length; i += 2) {
    const lower = clientHeaders[i]!.toLowerCase();
    if (lower === 'content-length' || lower === 'content-type' || lower === 'transfer-encoding') continue;
    headers.push(clientHeaders[i]!, clientHeaders[i + 1]!);
  }
  req.rawHeaders = headers;
  req.headers = headerObject(headers);
}

/**
 * Step 6 (response-rewrite.ts): the whole response is here, nothing was streamed; its size and
 * status are checked and the headers the platform owns are set by the platform alone.
 */
export function rewriteUpstream(x: Exchange, upstream: UpstreamResponse): ClientResponse {
  const { options } = x.context;
  return rewriteResponse(upstream, {
    method: x.record.method,
    maxResponseBytes: options.limits.maxResponseBytes,
    serverSoftware: options.serverSoftware,
  });
}

/**
 * Step 7 (gzip-decision.ts, compress.ts): gzip when the client takes it and it pays. Returns
 * undefined, synchronously, when there is nothing to compress: most responses need no extra
 * turn of the event loop.
 */
export function gzipResponse(x: Exchange, response: ClientResponse): Promise<void> | undefined {
  return compressResponse(response, {
    method: x.record.method,
    acceptEncoding: x.acceptEncoding,
    userAgent: x.record.userAgent,
  });
}

/** The answer goes out, whole, with the Content-Length step 6 set. */
export function respond(x: Exchange, response: ClientResponse): void {
  x.record.status = response.status;
  if (x.splitCookie) {
    const own = response.headers['set-cookie'];
    response.headers['set-cookie'] =
      own === undefined ? x.splitCookie : [...(Array.isArray(own) ? own : [own]), x.splitCookie];
  }
  x.res.writeHead(response.status, response.headers);
  endResponse(x, response.body.length > 0 ? response.body : undefined);
}

/**
 * The answer's last bytes go out. With the platform's request journal, only once the request's
 * log record is in it (later in this turn, one write for the turn's answers): a crash of the
 * platform cannot lose the record of a request whose client got its answer.
 */
function endResponse(x: Exchange, body?: Buffer): void {
  const { journal } = x.context.options;
  if (journal) journal.end(x.record, x.res, body);
  else x.res.end(body);
}

/**
 * Answers with the error's status and page (error-response.ts) and records what ended the
 * request; when the head is already out, the connection is cut instead. Any step's failure
 * ends here, so every refusal has a status, a request id and a log line naming the rule.
 *
 * With `close`, the connection's framing is spent: the answer says `Connection: close`, the
 * socket is destroyed once it is flushed, and nothing the client pipelined behind the refused
 * request runs (connection-state.ts closeAfterAnswer; listener.ts drops it). Reading stops
 * at once unless the refused request's body is still to come (it is read and discarded, so
 * the client sees the answer instead of a reset).
 */
export function reject(
  x: Exchange,
  err: unknown,
  extra: { close?: boolean; headers?: Record<string, string> | undefined } = {},
): Done {
  const headers: Record<string, string> = { server: x.context.options.serverSoftware, ...extra.headers };
  if (x.splitCookie) headers['set-cookie'] = x.splitCookie;
  if (extra.close) {
    headers.connection = 'close';
    closeAfterAnswer(x.req.socket, x.req.complete || !hasBody(x.req));
  }
  const answer = errorAnswer(err, {
    expose: x.context.options.exposeErrors,
    config: x.route?.config,
    headers,
  });
  x.record.status = answer.status;
  x.record.error = answer.logLine;
  if (x.res.headersSent) {
    x.res.destroy();
    return DONE;
  }
  x.res.writeHead(answer.status, answer.headers);
  endResponse(x, answer.body);
  return DONE;
}

/** The request announced a body (Content-Length > 0 or any Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Takes `bytes` of the platform's body budget for this request; false when they do not fit. */
function hold(x: Exchange, bytes: number): boolean {
  if (!x.context.budget.reserve(bytes)) return false;
  x.held += bytes;
  return true;
}

/** Holds the instance's whole answer until the client has taken it, or refuses it (503). */
export function holdResponse(x: Exchange, body: Buffer): void {
  if (!hold(x, body.length)) throw buffersFull(x);
}

function buffersFull(x: Exchange): HangarError {
  const { limitBytes, used } = x.context.budget;
  return new HangarError(
    'BUFFERS_FULL',
    `the front end already holds ${used} of limits.max_buffered_bytes (${limitBytes}) bytes of request and response bodies for slow clients; try again shortly`,
  );
}

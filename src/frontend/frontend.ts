/**
 * The request pipeline of SPEC S5. handle() below is the list of steps, in order; each step is
 * a function in steps.ts that says why it exists and calls the module that does the work:
 *
 *   1 id and clock ........................ createFrontend(): request-record.ts (newRequestRecord)
 *   2 framing and size checks ............. rejectMalformed (framing-checks.ts), redirectDotSegments
 *                                            (dot-segments.ts); early-rejections.ts for what Node's
 *                                            parser refuses
 *   3 route, quota, handler, secure: ...... routeRequest (route.ts), checkQuota (meter),
 *                                            matchRoute (handler-match.ts), redirectSecure (secure-redirect.ts)
 *   4 static files ........................ serveStaticFiles (static.ts)
 *   5 body, header hygiene, dispatch ...... readRequestBody (request-body.ts), dispatchRequest
 *                                            (request-headers.ts, dispatch.ts)
 *   6 buffered response rewrite ........... rewriteUpstream (response-rewrite.ts)
 *   7 gzip ................................ gzipResponse (gzip-decision.ts, compress.ts), then respond
 *   8 metering and request log ............ createFrontend()'s finish: meter.count(), onRequest()
 *
 * Rejections become answers in error-response.ts (steps.ts reject()); listener.ts builds the
 * servers around this.
 */
import type { RequestListener } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { SpooledBody } from './body-spool.js';
import { BufferBudget } from './buffer-budget.js';
import { markBusy } from './connection-state.js';
import type { FrontendOptions } from './options.js';
import { markReloadFailure } from './reload-notice.js';
import { isSpooled, type RequestBody } from './request-body.js';
import { newRequestRecord } from './request-record.js';
import type { UpstreamResponse } from './response-rewrite.js';
import {
  checkLogin,
  checkQuota,
  DONE,
  dispatchRequest,
  Exchange,
  followLocalRedirect,
  gzipResponse,
  hasBody,
  holdResponse,
  isStatic,
  matchRoute,
  readRequestBody,
  redirectDotSegments,
  redirectSecure,
  reject,
  rejectMalformed,
  respond,
  rewriteUpstream,
  routeRequest,
  type StepContext,
  serveSignInPage,
  serveStaticFiles,
} from './steps.js';
import { takeWireBytes } from './wire-bytes.js';

/**
 * The front end's request listener: runs S5's steps in order for each request. Use
 * createFrontendServer() (listener.ts) for a listening server with the parser options and the
 * early rejections; test/helpers/frontend-harness.ts runs one in process with stub instances.
 *
 * @example
 * const server = http.createServer(createFrontend({ routes, limits, serverSoftware, exposeErrors: true }));
 */
export function createFrontend(options: FrontendOptions): RequestListener {
  const context: StepContext = {
    options,
    https: options.https === true,
    warned: new WeakSet(),
    budget: options.bufferBudget ?? new BufferBudget(options.limits.maxBufferedBytes),
  };
  return (req, res) => {
    // Step 1: the request's id and clock.
    const started = performance.now();
    const record = newRequestRecord(req, context.https);
    const socket = req.socket;
    markBusy(socket, true);
    // Step 8 runs once the response is out and the pipeline has filled the record in.
    let pending = 2;
    const exchange = new Exchange(context, req, res, record);
    const finish = () => {
      if (--pending > 0) return;
      markBusy(socket, false);
      // The client has taken the answer (or is gone): the bodies held for it are free again.
      context.budget.release(exchange.held);
      record.latencyMs = performance.now() - started;
      if (!record.status) record.status = res.statusCode;
      const wire = takeWireBytes(socket);
      record.bytesIn = wire.bytesIn;
      record.bytesOut = wire.bytesOut;
      options.meter?.count(record);
      options.onRequest?.(record);
    };
    res.once('close', finish);
    void handle(exchange, finish);
  };
}

/**
 * Steps 2-7 for one request. A step that answered the client itself returns DONE and the
 * list stops there; one that throws is answered by reject(). `finish` (step 8) runs either way.
 */
async function handle(x: Exchange, finish: () => void): Promise<void> {
  // A body buffered in a file (body-spool.ts): its slot is reused once an instance answered (it
  // has read the body then), else removed once the request is over.
  let spooled: SpooledBody | undefined;
  let answered = false;
  try {
    // 2. Framing and size checks; `.`/`..` segments redirect.
    if (rejectMalformed(x) === DONE) return;
    if (redirectDotSegments(x) === DONE) return;

    let upstream: UpstreamResponse;
    let body: RequestBody | undefined;
    for (let redirects = 0; ; redirects++) {
      // 3. Host → service version; the app's daily quotas; the first matching handler; `secure:`.
      const route = routeRequest(x);
      if (route === DONE) return;
      if (checkQuota(x, route) === DONE) return;
      // The sign-in pages (S11) are the platform's on every app: /_ah/login and /_ah/logout.
      const signingIn = serveSignInPage(x, route);
      if (signingIn) return await signingIn;
      const found = matchRoute(x, route);
      if (found === DONE) return;
      const { handler } = found;
      if (redirectSecure(x, handler) === DONE) return;
      if (checkLogin(x, handler) === DONE) return;

      // 4. Static files are served here, with no instance and no deadline.
      if (isStatic(handler)) return await serveStaticFiles(x, route, handler, found.match);

      // 5. Buffer the body (a request without one goes on at once), sanitise the headers, dispatch.
      if (body === undefined) {
        const read = hasBody(x.req) ? await readRequestBody(x) : noBody;
        if (read === DONE) return;
        body = read;
        if (isSpooled(read)) spooled = read;
      }
      const clientHeaders = handler.kind === 'cgi' ? x.req.rawHeaders.slice() : undefined;
      upstream = await dispatchRequest(x, route, found.index, body);
      answered = true;
      // A CGI script's local redirect (S4.2): the answer is what a GET of that path gets.
      if (upstream.localRedirect === undefined) break;
      followLocalRedirect(x, upstream.localRedirect, clientHeaders ?? x.req.rawHeaders, redirects);
      body = noBody;
    }
    // The answer is held until the client takes it: within the platform's budget, or a 503.
    holdResponse(x, upstream.body);

    // 6. The whole response: size and status checked, headers rewritten.
    const response = rewriteUpstream(x, upstream);
    const stale = x.route?.reloadFailure;
    if (stale !== undefined) markReloadFailure(response, stale);

    // 7. gzip when the client takes it and it pays; then the answer goes out.
    const compressing = gzipResponse(x, response);
    if (compressing) await compressing;
    respond(x, response);
  } catch (err) {
    reject(x, err);
  } finally {
    if (spooled !== undefined) {
      const spool = x.context.options.bodySpool;
      if (answered) spool?.recycle(spooled);
      else spool?.remove(spooled);
    }
    finish();
  }
}

/** The body of a request that announced none. */
const noBody: readonly Buffer[] = [];

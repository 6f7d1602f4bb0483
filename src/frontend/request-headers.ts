/**
 * SPEC S5 step 5, header hygiene for script handlers. What the app receives is what App
 * Engine's front end would pass: the client cannot forge platform headers, connection-level
 * headers stay on the client's connection, and the front end adds what it knows (country,
 * client address, protocol, trace).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { bearerAuthorized } from '../shared/bearer-token.js';
import { connectionScoped } from '../shared/hop-by-hop.js';
import { CONSOLE_COOKIE, SESSION_COOKIE, withoutCookie } from './sign-in/session-cookie.js';
import { cloudTraceHeader, type TraceContext, traceContext, traceparentHeader } from './trace-context.js';

export interface ForwardedFacts {
  requestId: string;
  /** The client's address as the socket saw it. */
  remoteAddr: string;
  https: boolean;
  /**
   * The platform's admin token, when it has one (serve): an `Authorization: Bearer <token>`
   * carrying it is dropped, so the app never gets the platform's credential.
   */
  adminToken?: string | undefined;
  /**
   * The signed-in user (S11), passed as App Engine passes it: `X-AppEngine-User-Email`, `-Id`,
   * `-Nickname`, `-Is-Admin`. The client's own `X-AppEngine-*` headers are dropped first, so
   * only the front end can set them; the instance makes `USER_*` of them (S8).
   */
  user?: { email: string; userId: string; nickname: string; admin: boolean } | undefined;
}

// Never forwarded from the client: the body is forwarded with a fresh Content-Length;
// Accept-Encoding is the front end's business (it gzips, S5 step 7); Expect was answered here;
// the forwarding and trace headers are replaced by the front end's own below.
const dropped = new Set([
  'content-length',
  'accept-encoding',
  'expect',
  'x-forwarded-proto',
  'x-cloud-trace-context',
  'traceparent',
]);

const droppedPrefixes = ['x-appengine-', 'x-google-', 'x-hangar-'];

/**
 * Rewrites `req.rawHeaders` (and `req.headers`) to the list the instance gets: without
 * `X-AppEngine-*`, `X-Google-*`, `X-Hangar-*`, hop-by-hop headers, headers named in
 * `Connection`, `Accept-Encoding`, `Expect`, and an Authorization that carries the platform's
 * admin token (`facts.adminToken`; any other Authorization is the app's and passes); with
 * `X-AppEngine-Country: ZZ` (no GeoIP database), `X-Forwarded-For` (the client's list plus
 * the socket's address, as Google's front end appends), `X-Forwarded-Proto`,
 * `X-Cloud-Trace-Context` and `traceparent`.
 * dispatch/forward send `req.rawHeaders` on, so this runs right before dispatchToInstance.
 *
 * @example
 * const trace = sanitiseRequestHeaders(req, { requestId, remoteAddr: '127.0.0.1', https: false });
 */
export function sanitiseRequestHeaders(req: IncomingMessage, facts: ForwardedFacts): TraceContext {
  const skip = connectionScoped(req.headers.connection);
  const raw = req.rawHeaders;
  const kept: string[] = [];
  let forwardedFor: string | undefined;
  let traceparent: string | undefined;
  let cloudTrace: string | undefined;
  const adminToken = facts.adminToken;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const value = raw[i + 1]!;
    // Host routes the request and is never connection-scoped, whatever `Connection` lists.
    if (skip.has(lower) && lower !== 'host') continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (lower === 'traceparent') traceparent ??= value;
    else if (lower === 'x-cloud-trace-context') cloudTrace ??= value;
    if (dropped.has(lower) || hasDroppedPrefix(lower)) continue;
    if (adminToken !== undefined && lower === 'authorization' && bearerAuthorized(value, adminToken))
      continue;
    // The platform's session cookies are its credentials, not the app's: an app could replay
    // them. The console's reaches this port too when it shares the admin port's host.
    if (
      lower === 'cookie' &&
      (value.indexOf(SESSION_COOKIE) !== -1 || value.indexOf(CONSOLE_COOKIE) !== -1)
    ) {
      const rest = withoutCookie(value, SESSION_COOKIE);
      const left = rest === undefined ? undefined : withoutCookie(rest, CONSOLE_COOKIE);
      if (left !== undefined) kept.push(name, left);
      continue;
    }
    kept.push(name, value);
  }
  const trace = traceContext(traceparent, cloudTrace, facts.requestId);
  const clientAddr = facts.remoteAddr;
  kept.push(
    'X-AppEngine-Country',
    'ZZ',
    'X-Forwarded-For',
    forwardedFor ? `${forwardedFor}, ${clientAddr}` : clientAddr,
    'X-Forwarded-Proto',
    facts.https ? 'https' : 'http',
    'X-Cloud-Trace-Context',
    cloudTraceHeader(trace),
    'traceparent',
    traceparentHeader(trace),
  );
  const user = facts.user;
  if (user) {
    kept.push(
      'X-AppEngine-User-Email',
      user.email,
      'X-AppEngine-User-Id',
      user.userId,
      'X-AppEngine-User-Nickname',
      user.nickname,
      'X-AppEngine-User-Is-Admin',
      user.admin ? '1' : '0',
    );
  }
  req.rawHeaders = kept;
  req.headers = headerObject(kept);
  return trace;
}

function hasDroppedPrefix(lower: string): boolean {
  // All three prefixes start with 'x-'; most headers are rejected by the first comparison.
  if (lower.charCodeAt(0) !== 120 /* x */ || lower.charCodeAt(1) !== 45 /* - */) return false;
  for (const prefix of droppedPrefixes) if (lower.startsWith(prefix)) return true;
  return false;
}

/** `req.headers` for the rewritten list, so nothing downstream reads a header the app must not get. */
export function headerObject(raw: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prior = headers[name];
    if (prior === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prior)) prior.push(value);
    else headers[name] = `${prior}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers as IncomingHttpHeaders;
}

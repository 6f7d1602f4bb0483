/**
 * The console's session (docs/console.md "Signing in"): the browser signs in once with the
 * admin token and gets the cookie `hangar_console`, which then stands for the token on the admin
 * API. Like the `login:` session (frontend/sign-in/session-cookie.ts) it is stateless: an HMAC
 * (the data dir's session secret, purpose `console`) says the platform wrote it, the payload
 * says until when and which CSRF value goes with it, and which admin token it was issued for.
 *
 * Writes made with the cookie need `X-Hangar-CSRF` equal to the session's CSRF value: a page of
 * another port on the same host (an app under `hangar dev`) is the same *site*, so SameSite=Strict
 * alone does not keep its requests from carrying the cookie; a custom header does (it needs a
 * CORS preflight, which the admin port never grants).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONSOLE_COOKIE, type CookieSigner, cookieValues } from '../frontend/sign-in/session-cookie.js';

export { CONSOLE_COOKIE };

/** The signing purpose: a value signed for `login:` sessions or OpenID Connect is refused here. */
const PURPOSE = 'console';

/** How long a console session lasts. */
export const CONSOLE_SESSION_LIFETIME_MS = 12 * 3_600_000;

/** The largest `POST /console/session` body read. */
export const MAX_SIGN_IN_BODY_BYTES = 4096;

/** The header a write made with the cookie carries. */
export const CSRF_HEADER = 'x-hangar-csrf';

/** What a valid console cookie says. */
export interface ConsoleSession {
  /** Epoch milliseconds after which the cookie is refused. */
  expires: number;
  /** 32 random bytes, base64url: the `X-Hangar-CSRF` value of this session. */
  csrf: string;
}

/**
 * Issues and reads console cookies for one admin token.
 *
 * @example
 * const sessions = new ConsoleSessions(new CookieSigner(secret), token);
 * res.setHeader('set-cookie', sessions.issue().setCookie);
 * sessions.read(req.headers.cookie) // { expires, csrf }
 */
export class ConsoleSessions {
  readonly #signer: CookieSigner;
  /** A digest of the admin token: a cookie issued before the token changed is refused. */
  readonly #tokenId: string;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  /** Signed-out sessions (CSRF value → expiry), refused until they expire or the process ends. */
  readonly #revoked = new Map<string, number>();

  constructor(
    signer: CookieSigner,
    token: string,
    options: { lifetimeMs?: number; now?: () => number } = {},
  ) {
    this.#signer = signer;
    this.#tokenId = createHash('sha256').update(`hangar-console-token.${token}`).digest('base64url');
    this.#lifetimeMs = options.lifetimeMs ?? CONSOLE_SESSION_LIFETIME_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A new session and the Set-Cookie header that gives it to the browser. */
  issue(): { session: ConsoleSession; setCookie: string } {
    const session = { expires: this.#now() + this.#lifetimeMs, csrf: randomBytes(32).toString('base64url') };
    const value = this.#signer.sign(PURPOSE, {
      v: 1,
      exp: session.expires,
      csrf: session.csrf,
      tok: this.#tokenId,
    });
    return { session, setCookie: consoleCookie(value, Math.floor(this.#lifetimeMs / 1000)) };
  }

  /** The Set-Cookie header that removes the cookie from the browser. */
  clear(): string {
    return consoleCookie('', 0);
  }

  /**
   * The session a Cookie header's `hangar_console` holds; undefined when there is none this
   * platform signed for its current admin token, unexpired and not signed out.
   */
  read(cookie: string | undefined): ConsoleSession | undefined {
    if (cookie === undefined || cookie.indexOf(CONSOLE_COOKIE) === -1) return undefined;
    const now = this.#now();
    // Every value: an app on another port of the same host can set a cookie of that name too.
    for (const value of cookieValues(cookie, CONSOLE_COOKIE)) {
      const payload = this.#signer.verify(PURPOSE, value);
      if (typeof payload !== 'object' || payload === null) continue;
      const { v, exp, csrf, tok } = payload as Record<string, unknown>;
      if (v !== 1 || typeof exp !== 'number' || typeof csrf !== 'string' || tok !== this.#tokenId) continue;
      if (exp <= now || this.#revoked.has(csrf)) continue;
      return { expires: exp, csrf };
    }
    return undefined;
  }

  /** Refuses `session` from now on (sign-out); kept in memory until it would have expired anyway. */
  revoke(session: ConsoleSession): void {
    const now = this.#now();
    for (const [csrf, expires] of this.#revoked) if (expires <= now) this.#revoked.delete(csrf);
    this.#revoked.set(session.csrf, session.expires);
  }
}

/** `hangar_console`: HttpOnly, SameSite=Strict, the whole admin port. */
function consoleCookie(value: string, maxAgeSeconds: number): string {
  return `${CONSOLE_COOKIE}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict`;
}

/** Constant-time equality of two strings (their SHA-256 digests, so the length does not show either). */
export function sameSecret(given: string, want: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(want).digest();
  return timingSafeEqual(a, b);
}

/** True when the request's `X-Hangar-CSRF` is the session's CSRF value. */
export function csrfMatches(req: IncomingMessage, session: ConsoleSession): boolean {
  const given = req.headers[CSRF_HEADER];
  return typeof given === 'string' && sameSecret(given, session.csrf);
}

/**
 * How a request without the bearer token may still be admitted by its console cookie:
 * `session` (admitted), `csrf` (a write with the cookie but without the right `X-Hangar-CSRF`),
 * `none` (no valid cookie).
 */
export function consoleCookieAccess(
  req: IncomingMessage,
  sessions: ConsoleSessions,
): 'session' | 'csrf' | 'none' {
  const session = sessions.read(req.headers.cookie);
  if (!session) return 'none';
  if (req.method === 'GET' || req.method === 'HEAD') return 'session';
  return csrfMatches(req, session) ? 'session' : 'csrf';
}

/** The 403 answer's text for a cookie write without the CSRF header. */
export const CSRF_REFUSED =
  "the console's write needs the X-Hangar-CSRF header with the csrf value GET /console/session gives (a cookie alone does not authorize writes)";

type Send = (status: number, body: unknown) => void;

/**
 * `/console/session` (the caller checked the path): `POST` signs in with `{"token"}`, `GET` says
 * whether the browser is signed in (never 401), `DELETE` signs out.
 */
export function handleConsoleSession(
  req: IncomingMessage,
  res: ServerResponse,
  options: { sessions: ConsoleSessions; token: string; mode: 'dev' | 'serve'; send: Send },
): void {
  const { sessions, token, mode, send } = options;
  // The answer carries the CSRF value or sets the cookie: never cached.
  res.setHeader('cache-control', 'no-store');
  if (req.method === 'GET' || req.method === 'HEAD') {
    const session = sessions.read(req.headers.cookie);
    send(200, session ? { signedIn: true, csrf: session.csrf, mode } : { signedIn: false, mode });
    return;
  }
  if (req.method === 'POST') {
    readSignIn(req, res, send, (given) => {
      if (!sameSecret(given, token)) {
        send(401, {
          error:
            'wrong admin token; it is in <data-dir>/admin-token (the data dir hangar dev or hangar serve runs with), and hangar dev prints the admin URL at start',
        });
        return;
      }
      res.setHeader('set-cookie', sessions.issue().setCookie);
      send(204, undefined);
    });
    return;
  }
  if (req.method === 'DELETE') {
    const session = sessions.read(req.headers.cookie);
    if (session) {
      if (!csrfMatches(req, session)) {
        send(403, { error: CSRF_REFUSED });
        return;
      }
      sessions.revoke(session);
    }
    // No valid session: clearing whatever the browser holds is harmless, so it is done anyway.
    res.setHeader('set-cookie', sessions.clear());
    send(204, undefined);
    return;
  }
  res.setHeader('allow', 'GET, HEAD, POST, DELETE');
  send(405, { error: `${req.method} /console/session: use GET, POST or DELETE` });
}

/** Reads `{"token": "..."}` of at most 4 KiB, then calls `done` with the token; else answers 413 or 400. */
function readSignIn(
  req: IncomingMessage,
  res: ServerResponse,
  send: Send,
  done: (token: string) => void,
): void {
  const tooLarge = () => {
    // The rest of the body is not read: the connection ends after the answer.
    res.setHeader('connection', 'close');
    send(413, {
      error: `the sign-in body is over ${MAX_SIGN_IN_BODY_BYTES} bytes; send {"token": "<admin token>"}`,
    });
    req.resume();
  };
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_SIGN_IN_BODY_BYTES) {
    tooLarge();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > MAX_SIGN_IN_BODY_BYTES) {
      refused = true;
      tooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      send(400, { error: 'the sign-in body is not JSON; send {"token": "<admin token>"}' });
      return;
    }
    const given = (body as { token?: unknown } | null)?.token;
    if (typeof given !== 'string') {
      send(400, { error: 'the sign-in body has no "token" string; send {"token": "<admin token>"}' });
      return;
    }
    done(given);
  });
  req.on('error', () => {
    refused = true;
  });
}

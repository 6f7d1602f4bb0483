/**
 * The sign-in session (S11): an HMAC-signed cookie the front end sets once a user has signed
 * in (dev's fake page, or OpenID Connect under serve) and checks on every request that carries
 * it. The platform keeps no session table: the cookie says who the user is, for which app and
 * until when, and the HMAC (keyed by the data dir's secret, session-secret.ts) says the platform
 * wrote it. A changed byte, another app's cookie or an expired one reads as "not signed in".
 *
 * The same signing protects the short-lived cookie that carries an OpenID Connect sign-in's
 * state, nonce and PKCE verifier between the redirect to the provider and its answer.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The session cookie's name. */
export const SESSION_COOKIE = 'hangar_session';

/**
 * The console's cookie (admin/console-session.ts). Named here because cookies do not tell ports
 * apart: a browser sends it to the front end's port on the same host too, which strips it.
 */
export const CONSOLE_COOKIE = 'hangar_console';

/** Who a request's session says the user is. */
export interface SessionUser {
  email: string;
  /** Stable per user (user-identity.ts): what `USER_ID` and `getCurrentUser().userId` give. */
  userId: string;
  admin: boolean;
}

/** How long a session lasts before the user signs in again. */
export const SESSION_LIFETIME_MS = 24 * 3_600_000;

/**
 * Signs and checks values with one secret. Each value is bound to a purpose (`session`,
 * `oidc`), so a value signed for one use is refused for another.
 */
export class CookieSigner {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error('a cookie signing secret needs at least 32 bytes');
    this.#secret = secret;
  }

  /** `payload` (any JSON) as `<base64url JSON>.<base64url HMAC>`. */
  sign(purpose: string, payload: unknown): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.#mac(purpose, body)}`;
  }

  /** The payload of a value this signer made for `purpose`; undefined for anything else. */
  verify(purpose: string, value: string): unknown {
    const dot = value.indexOf('.');
    if (dot <= 0 || dot !== value.lastIndexOf('.')) return undefined;
    const body = value.slice(0, dot);
    // Compared as text: base64url decoding ignores stray characters and the last one's spare bits.
    const given = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(this.#mac(purpose, body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  }

  #mac(purpose: string, body: string): string {
    return createHmac('sha256', this.#secret)
      .update(`hangar-${purpose}-v1.`)
      .update(body)
      .digest('base64url');
  }
}

/**
 * The session cookie of one app: `issue()` makes the Set-Cookie for a signed-in user, `read()`
 * finds the user in a request's Cookie header.
 *
 * @example
 * const sessions = new SessionCookies(new CookieSigner(secret));
 * res.setHeader('set-cookie', sessions.issue({ email, userId, admin: false }, 'shop', false));
 * sessions.read(req.headers.cookie, 'shop') // { email, userId, admin: false }
 */
export class SessionCookies {
  constructor(
    readonly signer: CookieSigner,
    readonly lifetimeMs = SESSION_LIFETIME_MS,
    readonly now: () => number = Date.now,
  ) {}

  /** The Set-Cookie header that signs `user` in to `app` (HttpOnly; Secure over HTTPS). */
  issue(user: SessionUser, app: string, https: boolean): string {
    const expires = this.now() + this.lifetimeMs;
    const value = this.signer.sign('session', [user.email, user.userId, user.admin ? 1 : 0, app, expires]);
    return cookieHeader(SESSION_COOKIE, value, {
      maxAgeSeconds: Math.floor(this.lifetimeMs / 1000),
      https,
    });
  }

  /** The Set-Cookie header that signs the user out. */
  clear(https: boolean): string {
    return cookieHeader(SESSION_COOKIE, '', { maxAgeSeconds: 0, https });
  }

  /**
   * The user a Cookie header's session names for `app`; undefined when there is none, or none
   * this platform signed for this app that has not expired.
   */
  read(cookie: string | undefined, app: string): SessionUser | undefined {
    if (cookie === undefined || cookie.indexOf(SESSION_COOKIE) === -1) return undefined;
    for (const value of cookieValues(cookie, SESSION_COOKIE)) {
      const payload = this.signer.verify('session', value);
      if (!Array.isArray(payload) || payload.length !== 5) continue;
      const [email, userId, admin, forApp, expires] = payload as unknown[];
      if (typeof email !== 'string' || typeof userId !== 'string') continue;
      if (forApp !== app || typeof expires !== 'number' || expires <= this.now()) continue;
      return { email, userId, admin: admin === 1 };
    }
    return undefined;
  }
}

/** Every value of cookie `name` in a Cookie header, in order (a sibling host may have set another). */
export function cookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/**
 * A Cookie header without cookie `name`: the app's instances never see the platform's session
 * (one app could otherwise replay it); undefined when nothing is left.
 */
export function withoutCookie(header: string, name: string): string | undefined {
  const kept = header
    .split(';')
    .filter((part) => {
      const eq = part.indexOf('=');
      return (eq === -1 ? part : part.slice(0, eq)).trim() !== name;
    })
    .map((part) => part.trim())
    .filter((part) => part !== '');
  return kept.length === 0 ? undefined : kept.join('; ');
}

/** A Set-Cookie header for a cookie only this host gets, never readable by scripts. */
export function cookieHeader(
  name: string,
  value: string,
  options: { maxAgeSeconds: number; https: boolean; path?: string },
): string {
  return `${name}=${value}; Path=${options.path ?? '/'}; Max-Age=${options.maxAgeSeconds}; HttpOnly; SameSite=Lax${options.https ? '; Secure' : ''}`;
}

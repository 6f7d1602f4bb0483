/**
 * Sign-in (S11 `login:`): what the front end asks of it, and what every way of signing in
 * shares. The front end answers `/_ah/login` and `/_ah/logout` (and the provider's return to
 * `/_ah/login/callback`) through a `SignIn`, and reads the session cookie through its
 * `sessions`. Three kinds exist: dev's fake page (dev-sign-in.ts), OpenID Connect under serve
 * (oidc-sign-in.ts), and none (serve without `auth.oidc`: `login:` handlers answer 401/503).
 */
import { HangarError } from '../../shared/errors.js';
import { cookieHeader, type SessionCookies } from './session-cookie.js';

/** A request for one of the sign-in pages, as the front end routed it. */
export interface SignInPage {
  method: string;
  /** The request target: path and query. */
  url: string;
  /** The Host header. */
  host: string;
  https: boolean;
  /** The app the host routed to: a session is signed for one app. */
  app: string;
  cookie: string | undefined;
}

/** A sign-in page's answer: a redirect or a small HTML page. */
export interface PageAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

export interface SignIn {
  readonly sessions: SessionCookies;
  /** `AUTH_DOMAIN` (S8): users of this domain get their email's local part as nickname. */
  readonly authDomain: string;
  /** Why nobody can sign in (serve with no `auth.oidc`), for the 401/503; undefined when someone can. */
  readonly unavailable: string | undefined;
  /** Answers `/_ah/login`, `/_ah/login/callback` and `/_ah/logout`; failures are HangarErrors. */
  answer(page: SignInPage): Promise<PageAnswer>;
}

export const LOGIN_PATH = '/_ah/login';
export const LOGOUT_PATH = '/_ah/logout';
export const CALLBACK_PATH = '/_ah/login/callback';

/** True for the paths a SignIn answers, whatever the app's handlers say. */
export function isSignInPath(path: string): boolean {
  return path === LOGIN_PATH || path === LOGOUT_PATH || path === CALLBACK_PATH;
}

/** `http://host` or `https://host` of a request. */
export function originOf(page: { https: boolean; host: string }): string {
  return `${page.https ? 'https' : 'http'}://${page.host}`;
}

/**
 * The login URL that comes back to `target` (a path on the request's host) once signed in;
 * `switchUser` asks for another user than the one signed in (a non-admin on a `login: admin`
 * page), so a provider that remembers its user asks again instead of looping.
 */
export function loginUrl(target: string, switchUser = false): string {
  return `${LOGIN_PATH}?continue=${encodeURIComponent(target)}${switchUser ? '&switch=1' : ''}`;
}

/**
 * Where a sign-in page sends the user afterwards: `continue` when it is on the request's own
 * origin (a path, or an absolute URL of this host), `/` when absent. Anything else is refused:
 * a login URL must not become a way to send users to another site with this site's name on it.
 */
export function continueTarget(raw: string | null, page: { https: boolean; host: string }): string {
  if (raw === null || raw === '') return '/';
  const origin = originOf(page);
  let url: URL;
  try {
    url = new URL(raw, `${origin}/`);
  } catch {
    throw invalid(`continue=${raw} is not a URL`);
  }
  // The base's origin is the host lower-cased; a path starting with `//` would leave the host.
  if (url.origin !== new URL(`${origin}/`).origin || url.pathname.startsWith('//'))
    throw invalid(
      `continue=${raw} is not on this host (${page.host}); sign-in only returns to pages of the same host, e.g. continue=/admin`,
    );
  return `${url.pathname}${url.search}`;
}

/** A 302 to `location`, with cookies to set. */
export function redirect(location: string, cookies: string[] = []): PageAnswer {
  const headers: Record<string, string | string[]> = { location, 'cache-control': 'no-store' };
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  return { status: 302, headers, body: '' };
}

/** `/_ah/logout?continue=`: the session cookie is cleared, the user goes back. */
export function logout(page: SignInPage, sessions: SessionCookies): PageAnswer {
  const query = new URLSearchParams(page.url.slice(page.url.indexOf('?') + 1 || page.url.length));
  return redirect(continueTarget(query.get('continue'), page), [sessions.clear(page.https)]);
}

export function invalid(message: string): HangarError {
  return new HangarError('SIGN_IN_INVALID', message);
}

/** Text for an HTML page, with what could become markup escaped. */
export function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Serve without `auth.oidc`: nobody can sign in. `login:` handlers answer with what to configure
 * (login-gate.ts); the pages say the same.
 */
export class NoSignIn implements SignIn {
  readonly unavailable =
    'this page needs a signed-in user (login: in app.yaml), but the platform has no sign-in provider: set auth.oidc.issuer, auth.oidc.client_id and auth.oidc.client_secret in the platform config (docs/sign-in.md)';

  constructor(
    readonly sessions: SessionCookies,
    readonly authDomain: string,
  ) {}

  async answer(page: SignInPage): Promise<PageAnswer> {
    if (page.url.startsWith(LOGOUT_PATH)) return logout(page, this.sessions);
    throw new HangarError('SIGN_IN_UNAVAILABLE', this.unavailable);
  }
}

/** The Set-Cookie that ends a cookie of the given path. */
export function expiredCookie(name: string, https: boolean, path?: string): string {
  return cookieHeader(name, '', { maxAgeSeconds: 0, https, ...(path ? { path } : {}) });
}

/**
 * `hangar/users`: App Engine's Users API (SPEC S11), importable from app code without being a
 * dependency. It reads the signed-in user the front end passed with the request (`USER_*` in the
 * request's own `process.env`, S8), so it answers for the request it is called in, also under
 * concurrency. Outside a request, and for a request nobody is signed in for, there is no user.
 *
 * @example
 * import { createLoginURL, getCurrentUser, isCurrentUserAdmin } from 'hangar/users';
 * const user = getCurrentUser();
 * if (!user) return Response.redirect(createLoginURL('/account'), 302);
 * return new Response(`Hello ${user.nickname}${isCurrentUserAdmin() ? ' (admin)' : ''}`);
 */

/** A signed-in user, as App Engine's `users.User`. */
export interface User {
  email: string;
  /** Stable per user: 21 digits (docs/sign-in.md). */
  userId: string;
  /** The email's local part for users of `authDomain`, else the whole email. */
  nickname: string;
  /** `AUTH_DOMAIN` (platform config `auth_domain`, default gmail.com). */
  authDomain: string;
}

/** The user signed in for this request, or null. */
export function getCurrentUser(): User | null {
  const env = process.env;
  const email = env.USER_EMAIL;
  if (!email) return null;
  return {
    email,
    userId: env.USER_ID ?? '',
    nickname: env.USER_NICKNAME || email,
    authDomain: env.AUTH_DOMAIN ?? 'gmail.com',
  };
}

/** True when the user signed in for this request is an admin (dev: the checkbox; serve: `auth.admins`). */
export function isCurrentUserAdmin(): boolean {
  return (
    process.env.USER_EMAIL !== undefined && process.env.USER_EMAIL !== '' && process.env.USER_IS_ADMIN === '1'
  );
}

/**
 * The URL that signs the user in and then goes to `dest` (default `/`): a path of this host, or
 * an absolute URL on it (the platform refuses other hosts). Absolute, on the request's host.
 */
export function createLoginURL(dest = '/'): string {
  return pageUrl('/_ah/login', dest);
}

/** The URL that signs the user out and then goes to `dest` (default `/`). */
export function createLogoutURL(dest = '/'): string {
  return pageUrl('/_ah/logout', dest);
}

function pageUrl(page: string, dest: string): string {
  const origin = requestOrigin();
  const target = origin && dest.startsWith('/') ? `${origin}${dest}` : dest;
  return `${origin ?? ''}${page}?continue=${encodeURIComponent(target)}`;
}

/** `http(s)://host[:port]` of the current request; undefined outside one. */
function requestOrigin(): string | undefined {
  const host = process.env.HTTP_HOST;
  if (!host) return undefined;
  return `${process.env.HTTPS === 'on' ? 'https' : 'http'}://${host}`;
}

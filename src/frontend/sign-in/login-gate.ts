/**
 * S11 `login:` and `auth_fail_action:` of a handler, decided before anything is served (S5
 * step 3, after `secure:`): who may pass, and what the others get.
 *
 * | handler          | nobody signed in                  | signed in, not an admin                      |
 * |------------------|-----------------------------------|----------------------------------------------|
 * | `login: required`| redirect: 302 to the login URL; unauthorized: 401 | passes                          |
 * | `login: admin`   | as above                          | redirect: 302 to sign in as another user; unauthorized: 401 |
 *
 * With no way to sign in at all (serve without `auth.oidc`), a `login:` handler answers 503
 * (redirect: there is nowhere to send the user) or 401 (unauthorized), saying what to configure.
 */
import type { Handler } from '../../config/types.js';
import { HangarError } from '../../shared/errors.js';
import type { SessionUser } from './session-cookie.js';
import { loginUrl } from './sign-in.js';

/** What the gate decided: pass, or a 302 to `location`, or the error to answer with. */
export type GateOutcome =
  | { kind: 'pass' }
  | { kind: 'redirect'; location: string }
  | { kind: 'refuse'; error: HangarError };

const pass: GateOutcome = { kind: 'pass' };

/**
 * @param target the request's path and query, where the user comes back to after signing in
 * @param unavailable why nobody can sign in on this platform; undefined when someone can
 * @example
 * gate({ login: 'admin', authFailAction: 'redirect' }, undefined, '/admin', undefined)
 * // { kind: 'redirect', location: '/_ah/login?continue=%2Fadmin' }
 */
export function gate(
  handler: Pick<Handler, 'login' | 'authFailAction' | 'url'>,
  user: SessionUser | undefined,
  target: string,
  unavailable: string | undefined,
): GateOutcome {
  if (handler.login === 'optional') return pass;
  if (user && (handler.login === 'required' || user.admin)) return pass;
  const redirecting = handler.authFailAction === 'redirect';
  if (unavailable !== undefined) {
    return {
      kind: 'refuse',
      error: redirecting
        ? new HangarError('SIGN_IN_UNAVAILABLE', unavailable)
        : new HangarError('LOGIN_REQUIRED', unavailable),
    };
  }
  if (!user) {
    if (redirecting) return { kind: 'redirect', location: loginUrl(target) };
    return {
      kind: 'refuse',
      error: new HangarError(
        'LOGIN_REQUIRED',
        `${target} needs a signed-in user (handler ${handler.url} has login: ${handler.login}); sign in at ${loginUrl(target)}`,
      ),
    };
  }
  if (redirecting) return { kind: 'redirect', location: loginUrl(target, true) };
  return {
    kind: 'refuse',
    error: new HangarError(
      'ADMIN_REQUIRED',
      `${user.email} is signed in but is not an admin, and ${target} needs one (handler ${handler.url} has login: admin); sign in as an admin at ${loginUrl(target, true)}`,
    ),
  };
}

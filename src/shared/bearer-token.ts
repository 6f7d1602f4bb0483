/**
 * The platform's admin token as a bearer credential (SPEC S14), checked where it is presented:
 * the admin API (admin/admin-server.ts), and the front end, which lets the admin address one
 * instance (S11) and keeps the token from the app (S5 step 5). One check for both, so a header
 * the one accepts is exactly one the other strips.
 */
import { timingSafeEqual } from 'node:crypto';

/**
 * True when `header` is `Bearer <token>`. Constant time in the token's bytes: how much of a
 * guess was right does not show in the time the answer takes.
 *
 * @example
 * bearerAuthorized(req.headers.authorization, adminToken)
 */
export function bearerAuthorized(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * What the Users API and `USER_*` (S8, S11) say about a signed-in user besides the email: a
 * stable numeric id, as App Engine's are, and the nickname App Engine derives from the email.
 */
import { createHash } from 'node:crypto';

/**
 * A user's id: 21 decimal digits from SHA-256 of what identifies them, the same every time.
 * Dev signs in by email, so the email (lower-cased) is the key; under OpenID Connect it is the
 * issuer and the provider's `sub`, which stays when the user changes their email.
 *
 * @example
 * userIdFor('dev:alice@example.com') // '1' followed by 20 digits, always the same
 */
export function userIdFor(key: string): string {
  const digest = createHash('sha256').update(key).digest();
  // 8 bytes give 19-20 digits; the leading 1 keeps the length fixed and no id starts with 0.
  const digits = digest.readBigUInt64BE(0).toString().padStart(20, '0');
  return `1${digits}`;
}

/**
 * App Engine's nickname: the part before `@` for users of the auth domain (`AUTH_DOMAIN`),
 * the whole email for everyone else.
 *
 * @example
 * nicknameOf('alice@gmail.com', 'gmail.com') // 'alice'
 * nicknameOf('bob@example.com', 'gmail.com') // 'bob@example.com'
 */
export function nicknameOf(email: string, authDomain: string): string {
  const at = email.lastIndexOf('@');
  return at !== -1 && email.slice(at + 1).toLowerCase() === authDomain.toLowerCase()
    ? email.slice(0, at)
    : email;
}

/** An email a sign-in page accepts: one `@`, no spaces, at most 254 characters. */
export function isEmail(value: string): boolean {
  return value.length <= 254 && /^[^\s@]+@[^\s@]+$/.test(value);
}

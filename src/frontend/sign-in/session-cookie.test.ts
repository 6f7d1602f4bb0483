import { describe, expect, it } from 'vitest';
import {
  CookieSigner,
  cookieValues,
  SESSION_COOKIE,
  SessionCookies,
  type SessionUser,
  withoutCookie,
} from './session-cookie.js';

const secret = Buffer.alloc(32, 7);
const alice: SessionUser = { email: 'alice@example.com', userId: '100000000000000000042', admin: true };
const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A clock the test moves. */
function clock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (next) => (t = next) };
}

/** The `name=value` pair of a Set-Cookie header, as a browser sends it back. */
function sentBack(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

/** The value of a Set-Cookie header. */
function cookieValue(setCookie: string): string {
  const pair = sentBack(setCookie);
  return pair.slice(pair.indexOf('=') + 1);
}

describe('SessionCookies', () => {
  it('reads back the user it issued, for the app it was issued for', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    const header = sessions.issue(alice, 'shop', false);
    expect(header.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
    // Only cookie-safe characters: base64url and the one dot.
    expect(cookieValue(header)).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(sessions.read(sentBack(header), 'shop')).toEqual(alice);
    const bob: SessionUser = { email: 'bob@example.com', userId: '100000000000000000043', admin: false };
    expect(sessions.read(sentBack(sessions.issue(bob, 'shop', true)), 'shop')).toEqual(bob);
    // Among other cookies, and with the spaces browsers put between them.
    expect(sessions.read(`a=1; ${sentBack(header)}; b=2`, 'shop')).toEqual(alice);
  });

  it('reads nothing from no cookie, an empty one or garbage', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    expect(sessions.read(undefined, 'shop')).toBeUndefined();
    expect(sessions.read('', 'shop')).toBeUndefined();
    expect(sessions.read(`${SESSION_COOKIE}=`, 'shop')).toBeUndefined();
    expect(sessions.read(`${SESSION_COOKIE}=abc`, 'shop')).toBeUndefined();
    expect(sessions.read(`${SESSION_COOKIE}=a.b.c`, 'shop')).toBeUndefined();
    expect(sessions.read(`${SESSION_COOKIE}=.abc`, 'shop')).toBeUndefined();
  });

  it('refuses a value with any character changed, added or removed, in the payload or the MAC', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    const value = cookieValue(sessions.issue(alice, 'shop', false));
    expect(sessions.read(`${SESSION_COOKIE}=${value}`, 'shop')).toEqual(alice);
    const accepted: string[] = [];
    const tryValue = (changed: string) => {
      if (changed !== value && sessions.read(`${SESSION_COOKIE}=${changed}`, 'shop') !== undefined)
        accepted.push(changed);
    };
    for (let i = 0; i < value.length; i++) {
      // Every other base64url character at every position, the last MAC character included (its
      // low bits carry no data, so a decoder that ignores them would take a changed cookie).
      for (const c of base64url) tryValue(`${value.slice(0, i)}${c}${value.slice(i + 1)}`);
      tryValue(`${value.slice(0, i)}${value.slice(i + 1)}`);
      tryValue(`${value.slice(0, i)}!${value.slice(i)}`);
    }
    tryValue(`${value}A`);
    tryValue(`${value}=`);
    tryValue(`${value}!`);
    expect(accepted).toEqual([]);
  });

  it("refuses another app's cookie", () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    const header = sessions.issue(alice, 'shop', false);
    expect(sessions.read(sentBack(header), 'blog')).toBeUndefined();
    expect(sessions.read(sentBack(header), 'Shop')).toBeUndefined();
    expect(sessions.read(sentBack(header), 'shop')).toEqual(alice);
  });

  it('refuses a cookie once its lifetime is over', () => {
    const time = clock(1_000_000);
    const sessions = new SessionCookies(new CookieSigner(secret), 60_000, time.now);
    const header = sessions.issue(alice, 'shop', false);
    time.set(1_000_000 + 59_999);
    expect(sessions.read(sentBack(header), 'shop')).toEqual(alice);
    time.set(1_000_000 + 60_000);
    expect(sessions.read(sentBack(header), 'shop')).toBeUndefined();
    time.set(1_000_000 + 3_600_000);
    expect(sessions.read(sentBack(header), 'shop')).toBeUndefined();
  });

  it('refuses a value the same secret signed for another purpose', () => {
    const signer = new CookieSigner(secret);
    const sessions = new SessionCookies(signer);
    const payload = [alice.email, alice.userId, 1, 'shop', Date.now() + 60_000];
    // The same payload signed as a session is accepted: only the purpose differs below.
    expect(sessions.read(`${SESSION_COOKIE}=${signer.sign('session', payload)}`, 'shop')).toEqual(alice);
    expect(sessions.read(`${SESSION_COOKIE}=${signer.sign('oidc', payload)}`, 'shop')).toBeUndefined();
    expect(signer.verify('oidc', signer.sign('oidc', { state: 's' }))).toEqual({ state: 's' });
    expect(signer.verify('session', signer.sign('oidc', { state: 's' }))).toBeUndefined();
  });

  it('refuses a cookie signed with another secret', () => {
    const header = new SessionCookies(new CookieSigner(secret)).issue(alice, 'shop', false);
    const other = new SessionCookies(new CookieSigner(Buffer.alloc(32, 8)));
    expect(other.read(sentBack(header), 'shop')).toBeUndefined();
    const longer = new SessionCookies(new CookieSigner(Buffer.concat([secret, Buffer.from([7])])));
    expect(longer.read(sentBack(header), 'shop')).toBeUndefined();
  });

  it('needs a secret of at least 32 bytes', () => {
    expect(() => new CookieSigner(Buffer.alloc(31, 1))).toThrow(/at least 32 bytes/);
    expect(() => new CookieSigner(Buffer.alloc(0))).toThrow(/at least 32 bytes/);
    expect(() => new CookieSigner(Buffer.alloc(32, 1))).not.toThrow();
  });

  it('takes the first valid session among several in one Cookie header', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    const good = sentBack(sessions.issue(alice, 'shop', false));
    const otherApp = sentBack(sessions.issue({ ...alice, email: 'eve@example.com' }, 'blog', false));
    const forged = `${SESSION_COOKIE}=${new CookieSigner(Buffer.alloc(32, 9)).sign('session', [
      'eve@example.com',
      '1',
      1,
      'shop',
      Date.now() + 60_000,
    ])}`;
    expect(sessions.read(`${SESSION_COOKIE}=junk; ${good}`, 'shop')).toEqual(alice);
    expect(sessions.read(`${otherApp}; x=1; ${forged}; ${good}`, 'shop')).toEqual(alice);
    const bob = sentBack(sessions.issue({ ...alice, email: 'bob@example.com', admin: false }, 'shop', false));
    expect(sessions.read(`${bob}; ${good}`, 'shop')?.email).toBe('bob@example.com');
  });

  it('sets the cookie HttpOnly, SameSite=Lax, Path=/, with Max-Age, and Secure only over HTTPS', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    const attributes = (header: string) => header.split('; ').slice(1);
    expect(attributes(sessions.issue(alice, 'shop', false))).toEqual([
      'Path=/',
      'Max-Age=86400',
      'HttpOnly',
      'SameSite=Lax',
    ]);
    expect(attributes(sessions.issue(alice, 'shop', true))).toEqual([
      'Path=/',
      'Max-Age=86400',
      'HttpOnly',
      'SameSite=Lax',
      'Secure',
    ]);
    // Max-Age is whole seconds of the lifetime.
    const short = new SessionCookies(new CookieSigner(secret), 90_500);
    expect(attributes(short.issue(alice, 'shop', false))).toContain('Max-Age=90');
  });

  it('clears the cookie with an empty value and Max-Age=0', () => {
    const sessions = new SessionCookies(new CookieSigner(secret));
    expect(sessions.clear(false)).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`);
    expect(sessions.clear(true)).toBe(
      `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`,
    );
  });
});

describe('cookieValues', () => {
  it.each<[string, string, string[]]>([
    ['a=1; hangar_session=x; b=2; hangar_session=y', 'hangar_session', ['x', 'y']],
    ['  hangar_session =  x  ;b=2', 'hangar_session', ['x']],
    ['hangar_session=a=b', 'hangar_session', ['a=b']],
    ['hangar_session=', 'hangar_session', ['']],
    ['xhangar_session=1; hangar_session_old=2; hangar_sessionx=3', 'hangar_session', []],
    ['hangar_session; a=1', 'hangar_session', []],
    ['', 'hangar_session', []],
  ])('%j', (header, name, values) => {
    expect(cookieValues(header, name)).toEqual(values);
  });
});

describe('withoutCookie', () => {
  it.each<[string, string | undefined]>([
    ['hangar_session=x', undefined],
    [' hangar_session=x ; hangar_session=y ', undefined],
    ['hangar_session', undefined],
    ['', undefined],
    ['a=1', 'a=1'],
    ['a=1; hangar_session=x; b=2', 'a=1; b=2'],
    ['  a=1 ;hangar_session=x;   b=2  ', 'a=1; b=2'],
    ['hangar_session=x; a=1', 'a=1'],
    ['xhangar_session=1', 'xhangar_session=1'],
    ['xhangar_session=1; hangar_session=2; hangar_session_old=3', 'xhangar_session=1; hangar_session_old=3'],
    ['a=hangar_session', 'a=hangar_session'],
  ])('%j', (header, rest) => {
    expect(withoutCookie(header, SESSION_COOKIE)).toBe(rest);
  });
});

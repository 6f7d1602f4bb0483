import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieSigner } from '../frontend/sign-in/session-cookie.js';
import { createAdminServer } from './admin-server.js';
import {
  CONSOLE_SESSION_LIFETIME_MS,
  ConsoleSessions,
  MAX_SIGN_IN_BODY_BYTES,
  sameSecret,
} from './console-session.js';

const secret = randomBytes(32);
const token = 'a'.repeat(48);

/** The cookie's value from a Set-Cookie header. */
const cookieValueOf = (setCookie: string) => setCookie.split(';')[0]!.slice('hangar_console='.length);

describe('ConsoleSessions', () => {
  it('issues an HttpOnly, SameSite=Strict, 12-hour cookie that reads back with its CSRF value', () => {
    let now = 1_000_000;
    const sessions = new ConsoleSessions(new CookieSigner(secret), token, { now: () => now });
    const { session, setCookie } = sessions.issue();
    expect(setCookie).toMatch(
      /^hangar_console=[\w-]+\.[\w-]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/,
    );
    expect(session.expires).toBe(now + CONSOLE_SESSION_LIFETIME_MS);
    expect(session.csrf).toMatch(/^[\w-]{43}$/);
    expect(sessions.read(`a=1; hangar_console=${cookieValueOf(setCookie)}; b=2`)).toEqual(session);
    now += CONSOLE_SESSION_LIFETIME_MS - 1;
    expect(sessions.read(`hangar_console=${cookieValueOf(setCookie)}`)).toEqual(session);
  });

  it('gives every session its own random CSRF value', () => {
    const sessions = new ConsoleSessions(new CookieSigner(secret), token);
    const values = new Set(Array.from({ length: 50 }, () => sessions.issue().session.csrf));
    expect(values.size).toBe(50);
  });

  it('refuses an expired cookie (injected clock)', () => {
    let now = 5_000;
    const sessions = new ConsoleSessions(new CookieSigner(secret), token, { now: () => now });
    const value = cookieValueOf(sessions.issue().setCookie);
    now += CONSOLE_SESSION_LIFETIME_MS;
    expect(sessions.read(`hangar_console=${value}`)).toBeUndefined();
  });

  it('refuses a tampered cookie, another secret, another purpose, another admin token', () => {
    const signer = new CookieSigner(secret);
    const sessions = new ConsoleSessions(signer, token);
    const value = cookieValueOf(sessions.issue().setCookie);
    const [body, mac] = value.split('.') as [string, string];
    // A changed payload (a later expiry) with the old MAC.
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, exp: Date.now() * 2 })).toString('base64url');
    expect(sessions.read(`hangar_console=${forged}.${mac}`)).toBeUndefined();
    // A changed MAC.
    const flipped = `${mac.slice(0, -2)}${mac.at(-2) === 'A' ? 'B' : 'A'}${mac.at(-1)}`;
    expect(sessions.read(`hangar_console=${body}.${flipped}`)).toBeUndefined();
    // Another data dir's secret.
    const other = new ConsoleSessions(new CookieSigner(randomBytes(32)), token);
    expect(other.read(`hangar_console=${value}`)).toBeUndefined();
    // The same payload signed for the login: session's purpose.
    expect(sessions.read(`hangar_console=${signer.sign('session', payload)}`)).toBeUndefined();
    // Issued for an admin token that has since changed.
    expect(new ConsoleSessions(signer, 'b'.repeat(48)).read(`hangar_console=${value}`)).toBeUndefined();
    // Garbage and the absence of the cookie.
    expect(sessions.read('hangar_console=x.y')).toBeUndefined();
    expect(sessions.read('other=1')).toBeUndefined();
    expect(sessions.read(undefined)).toBeUndefined();
  });

  it('finds the valid one among several hangar_console values (another port may set its own)', () => {
    const sessions = new ConsoleSessions(new CookieSigner(secret), token);
    const { session, setCookie } = sessions.issue();
    expect(sessions.read(`hangar_console=junk.value; hangar_console=${cookieValueOf(setCookie)}`)).toEqual(
      session,
    );
  });

  it('refuses a signed-out session until it would have expired', () => {
    let now = 0;
    const sessions = new ConsoleSessions(new CookieSigner(secret), token, { now: () => now });
    const first = sessions.issue();
    const second = sessions.issue();
    sessions.revoke(first.session);
    expect(sessions.read(`hangar_console=${cookieValueOf(first.setCookie)}`)).toBeUndefined();
    expect(sessions.read(`hangar_console=${cookieValueOf(second.setCookie)}`)).toEqual(second.session);
    expect(sessions.clear()).toBe('hangar_console=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict');
    // Expired entries leave the list at the next sign-out.
    now += CONSOLE_SESSION_LIFETIME_MS;
    sessions.revoke(sessions.issue().session);
  });

  it('compares secrets in constant time, whatever their lengths', () => {
    expect(sameSecret(token, token)).toBe(true);
    expect(sameSecret(`${token}x`, token)).toBe(false);
    expect(sameSecret('', token)).toBe(false);
  });
});

describe('the admin server with the console', () => {
  let server: Server;
  let base: string;
  let stopped: string[] = [];

  beforeAll(async () => {
    server = createAdminServer(
      token,
      {
        instances: () => [],
        decisions: () => [],
        stopInstance: (id) => {
          stopped.push(id);
          return true;
        },
      },
      { signer: new CookieSigner(secret), mode: 'serve', assetsDir: '/nonexistent/console' },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const signIn = async () => {
    const res = await fetch(`${base}/console/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(res.status).toBe(204);
    const cookie = cookieValueOf(res.headers.get('set-cookie') ?? '');
    const session = await fetch(`${base}/console/session`, {
      headers: { cookie: `hangar_console=${cookie}` },
    });
    const doc = (await session.json()) as { signedIn: boolean; csrf: string; mode: string };
    expect(doc).toEqual({ signedIn: true, csrf: expect.any(String), mode: 'serve' });
    return { cookie: `hangar_console=${cookie}`, csrf: doc.csrf };
  };

  it('answers GET /console/session without a cookie with signedIn: false (never 401)', async () => {
    const res = await fetch(`${base}/console/session`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    await expect(res.json()).resolves.toEqual({ signedIn: false, mode: 'serve' });
  });

  it('refuses a wrong token with 401 and says where the token is; no cookie', async () => {
    const res = await fetch(`${base}/console/session`, { method: 'POST', body: '{"token":"nope"}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(((await res.json()) as { error: string }).error).toContain('<data-dir>/admin-token');
  });

  it('answers 400 to a body that is not JSON or has no token, 413 to one over 4 KiB', async () => {
    for (const body of ['token=x', '', '{"token": 5}', 'null']) {
      const res = await fetch(`${base}/console/session`, { method: 'POST', body });
      expect(res.status, body).toBe(400);
    }
    const big = await fetch(`${base}/console/session`, {
      method: 'POST',
      body: JSON.stringify({ token, pad: 'x'.repeat(MAX_SIGN_IN_BODY_BYTES) }),
    });
    expect(big.status).toBe(413);
    expect(big.headers.get('set-cookie')).toBeNull();
  });

  it('admits reads with the cookie, writes only with the CSRF header, and signs out', async () => {
    const { cookie, csrf } = await signIn();
    expect((await fetch(`${base}/api/instances`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/api/instances`)).status).toBe(401);

    stopped = [];
    const refused = await fetch(`${base}/api/instances/i1/stop`, { method: 'POST', headers: { cookie } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toContain('X-Hangar-CSRF');
    const wrong = await fetch(`${base}/api/instances/i1/stop`, {
      method: 'POST',
      headers: { cookie, 'x-hangar-csrf': `${csrf}x` },
    });
    expect(wrong.status).toBe(403);
    expect(stopped).toEqual([]);
    const ok = await fetch(`${base}/api/instances/i1/stop`, {
      method: 'POST',
      headers: { cookie, 'x-hangar-csrf': csrf },
    });
    expect(ok.status).toBe(202);
    expect(stopped).toEqual(['i1']);
    // The bearer token needs no CSRF header.
    const bearer = await fetch(`${base}/api/instances/i2/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.status).toBe(202);

    // Signing out needs the CSRF header too.
    expect((await fetch(`${base}/console/session`, { method: 'DELETE', headers: { cookie } })).status).toBe(
      403,
    );
    const out = await fetch(`${base}/console/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-hangar-csrf': csrf },
    });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toBe(
      'hangar_console=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict',
    );
    // This process no longer takes the signed-out value.
    expect((await fetch(`${base}/api/instances`, { headers: { cookie } })).status).toBe(401);
  });

  it('answers GET / with 503 and how to build when the console is not built', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(503);
    await expect(res.text()).resolves.toContain('npm run build');
  });

  it('keeps the old behaviour without the console option', async () => {
    const plain = createAdminServer(token, { instances: () => [], decisions: () => [] });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${url}/`)).status).toBe(401);
      expect((await fetch(`${url}/console/session`)).status).toBe(401);
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});

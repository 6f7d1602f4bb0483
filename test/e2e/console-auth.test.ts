/**
 * Signing in to the console (docs/console.md "Signing in", issue 20) against a real `hangar dev`
 * examples/hello: the page and its files without a token, the session cookie from the admin
 * token, the admin API with the cookie (writes only with X-Hangar-CSRF), signing out, cookies
 * the platform did not sign for this data dir, and paths out of the console's directory.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSessions } from '../../src/admin/console-session.js';
import { CookieSigner } from '../../src/frontend/sign-in/session-cookie.js';
import { ensureSessionSecret } from '../../src/frontend/sign-in/session-secret.js';
import { type DevServer, repoRoot, startDev, stopAll, untilInstances } from '../helpers/dev-server.js';
import { rawRequest } from '../helpers/raw-http.js';

let dev: DevServer;

beforeAll(async () => {
  dev = await startDev([join(repoRoot, 'examples/hello')]);
}, 60_000);

afterAll(stopAll);

const session = (init: RequestInit = {}) => fetch(`${dev.adminUrl}/console/session`, init);
const signIn = (token: string) =>
  session({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
/** `hangar_console=<value>` from a Set-Cookie header. */
const cookiePair = (setCookie: string | null) => (setCookie ?? '').split(';')[0]!;

describe('hangar dev: signing in to the console', () => {
  it('serves the page and its files without a token', async () => {
    const res = await fetch(`${dev.adminUrl}/`);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // `npm run build` bundles the console into dist/console/ (scripts/build-console.mjs).
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    // Every file the page names is served, with its type.
    const names = [...(await res.text()).matchAll(/\/console\/assets\/[\w.-]+/g)].map((m) => m[0]);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const asset = await fetch(dev.adminUrl + name);
      expect(asset.status, name).toBe(200);
      expect(asset.headers.get('content-type'), name).toMatch(/^(text\/javascript|text\/css)/);
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('says who is signed in without ever answering 401', async () => {
    const res = await session();
    expect(res.status).toBe(200);
    await expect(res.json()).resolves.toEqual({ signedIn: false, mode: 'dev' });
  });

  it('refuses a wrong token with 401, no cookie, and where the token is', async () => {
    const res = await signIn('not-the-token');
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(((await res.json()) as { error: string }).error).toContain('<data-dir>/admin-token');
  });

  it('signs in with the token; the cookie stands for it, writes need X-Hangar-CSRF; signing out ends it', async () => {
    const res = await signIn(dev.token);
    expect(res.status).toBe(204);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^hangar_console=[\w-]+\.[\w-]+;/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).toContain('Max-Age=43200');
    const cookie = cookiePair(setCookie);

    const state = await session({ headers: { cookie } });
    const { csrf, ...rest } = (await state.json()) as { signedIn: boolean; csrf: string; mode: string };
    expect(rest).toEqual({ signedIn: true, mode: 'dev' });
    expect(csrf).toMatch(/^[\w-]{43}$/);

    expect((await fetch(`${dev.adminUrl}/api/instances`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${dev.adminUrl}/metrics`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${dev.adminUrl}/api/instances`)).status).toBe(401);

    // An instance to stop: the first request starts one.
    expect((await fetch(`${dev.url}/`)).status).toBe(200);
    const { instances } = await untilInstances(dev, 10_000, (doc) =>
      doc.instances.some((i) => i.state === 'ready'),
    );
    const id = instances.find((i) => i.state === 'ready')!.id;
    const stop = (headers: Record<string, string>) =>
      fetch(`${dev.adminUrl}/api/instances/${id}/stop`, { method: 'POST', headers });

    const refused = await stop({ cookie });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toContain('X-Hangar-CSRF');
    expect((await stop({ cookie, 'x-hangar-csrf': 'wrong' })).status).toBe(403);
    const still = await untilInstances(dev, 1_000, () => true);
    expect(still.instances.find((i) => i.id === id)?.state).toBe('ready');

    expect((await stop({ cookie, 'x-hangar-csrf': csrf })).status).toBe(202);

    // Signing out needs the CSRF header; then the browser's cookie is cleared and this platform
    // refuses the old value too.
    expect((await session({ method: 'DELETE', headers: { cookie } })).status).toBe(403);
    const out = await session({ method: 'DELETE', headers: { cookie, 'x-hangar-csrf': csrf } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^hangar_console=; Path=\/; Max-Age=0;/);
    expect((await fetch(`${dev.adminUrl}/api/instances`, { headers: { cookie } })).status).toBe(401);
    await expect((await session({ headers: { cookie } })).json()).resolves.toEqual({
      signedIn: false,
      mode: 'dev',
    });
  });

  it("takes only cookies signed with this data dir's secret for the console", async () => {
    const get = (cookie: string) => fetch(`${dev.adminUrl}/api/instances`, { headers: { cookie } });
    // Another data dir's secret: refused.
    const elsewhere = new ConsoleSessions(new CookieSigner(randomBytes(32)), dev.token);
    expect((await get(cookiePair(elsewhere.issue().setCookie))).status).toBe(401);
    // This data dir's secret (the file the platform made), for the console: admitted.
    const signer = new CookieSigner(ensureSessionSecret(dev.dataDir));
    expect((await get(cookiePair(new ConsoleSessions(signer, dev.token).issue().setCookie))).status).toBe(
      200,
    );
    // The same secret, but another admin token, or a login: session's purpose: refused.
    expect(
      (await get(cookiePair(new ConsoleSessions(signer, 'x'.repeat(48)).issue().setCookie))).status,
    ).toBe(401);
    const loginSession = signer.sign('session', { v: 1, exp: Date.now() + 60_000, csrf: 'x' });
    expect((await get(`hangar_console=${loginSession}`)).status).toBe(401);
  });

  it("answers 404 to paths out of the console's assets", async () => {
    for (const path of [
      '/console/assets/..%2fpackage.json',
      '/console/assets/..%2f..%2f..%2fpackage.json',
      '/console/assets/../package.json',
      '/console/assets/../../../package.json',
      '/console/assets/%2e%2e/%2e%2e/package.json',
    ]) {
      // Raw, so the dot segments reach the server as sent.
      const res = await rawRequest(
        dev.adminUrl,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status, path).toBe(404);
      expect(res.body.toString()).not.toContain('"dependencies"');
    }
  });
});

/**
 * Sign-in under `hangar dev` (S11, issue 19), in a real browser: Debian's Chromium driven by
 * playwright-core against `hangar dev examples/sign-in` (a real platform process). A `login:
 * admin` page sends the browser to the fake sign-in page; a non-admin is sent back there
 * (auth_fail_action: redirect) or gets 401 (unauthorized); an admin gets the page, with
 * USER_EMAIL and the Users API saying who they are. Plain HTTP requests check what a browser
 * cannot forge or see: the platform's headers and the session cookie.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, loopbackContext } from '../helpers/browser.js';
import { type DevServer, repoRoot, startDev, stopAll } from '../helpers/dev-server.js';

let dev: DevServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  [dev, browser] = await Promise.all([startDev([join(repoRoot, 'examples/sign-in')]), launchChromium()]);
  ({ context } = await loopbackContext(browser));
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopAll();
});

/** The page's path and query. */
const where = () => {
  const url = new URL(page.url());
  return `${url.pathname}${url.search}`;
};

describe('hangar dev: login: handlers in a browser', () => {
  it('sends a login: admin page to the sign-in page, a non-admin back to it, and shows an admin the page with USER_EMAIL', async () => {
    await page.goto(`${dev.url}/admin`);
    expect(where()).toBe('/_ah/login?continue=%2Fadmin');
    await expect(page.locator('#current').textContent()).resolves.toBe('Not signed in.');

    // A non-admin: the admin page sends them to sign in as someone else (auth_fail_action: redirect).
    await page.fill('#email', 'bob@example.com');
    await page.click('#login');
    await page.waitForURL(/switch=1/);
    expect(where()).toBe('/_ah/login?continue=%2Fadmin&switch=1');
    await expect(page.locator('#current').textContent()).resolves.toContain('bob@example.com');

    // auth_fail_action: unauthorized gives a non-admin 401.
    const refused = await page.goto(`${dev.url}/api/admin`);
    expect(refused?.status()).toBe(401);
    await expect(refused?.text()).resolves.toContain('bob@example.com is signed in but is not an admin');

    // A login: required page is theirs.
    await page.goto(`${dev.url}/account`);
    expect(where()).toBe('/account');
    await expect(page.locator('#user-email-env').textContent()).resolves.toBe('bob@example.com');

    // An admin gets the admin page, with USER_EMAIL and the Users API saying so.
    await page.goto(`${dev.url}/_ah/login?continue=%2Fadmin`);
    await page.fill('#email', 'alice@example.com');
    await page.check('#admin');
    await page.click('#login');
    await page.waitForURL(`${dev.url}/admin`);
    await expect(page.locator('#page').textContent()).resolves.toBe('Admin');
    await expect(page.locator('#user-email-env').textContent()).resolves.toBe('alice@example.com');
    await expect(page.locator('#email').textContent()).resolves.toBe('alice@example.com');

    const api = await page.goto(`${dev.url}/api/admin`);
    expect(api?.status()).toBe(200);
    const who = (await api?.json()) as {
      user: { email: string; userId: string; nickname: string; authDomain: string };
      admin: boolean;
      env: Record<string, string>;
      cookie: string | null;
    };
    expect(who.user).toEqual({
      email: 'alice@example.com',
      userId: expect.stringMatching(/^1\d{20}$/),
      nickname: 'alice@example.com',
      authDomain: 'gmail.com',
    });
    expect(who.admin).toBe(true);
    expect(who.env).toEqual({
      USER_EMAIL: 'alice@example.com',
      USER_ID: who.user.userId,
      USER_NICKNAME: 'alice@example.com',
      USER_IS_ADMIN: '1',
    });
    // The platform's session cookie is not the app's to see (or to replay).
    expect(who.cookie ?? '').not.toContain('hangar_session');

    // Signing out: the login: required page sends the browser to sign in again.
    await page.goto(`${dev.url}/`);
    await page.click('#logout');
    await page.waitForURL(`${dev.url}/`);
    await page.goto(`${dev.url}/account`);
    expect(where()).toBe('/_ah/login?continue=%2Faccount');
  });

  it('guards static files with login: required', async () => {
    const { context: fresh } = await loopbackContext(browser);
    try {
      const p = await fresh.newPage();
      await p.goto(`${dev.url}/private/notes.txt`);
      expect(new URL(p.url()).pathname).toBe('/_ah/login');
      await p.fill('#email', 'carol@gmail.com');
      await p.click('#login');
      await p.waitForURL(`${dev.url}/private/notes.txt`);
      await expect(p.locator('body').textContent()).resolves.toContain('Only signed-in users read this.');
    } finally {
      await fresh.close();
    }
  });
});

describe('hangar dev: what a client cannot forge', () => {
  it('drops X-AppEngine-User-* headers a client sends', async () => {
    const res = await fetch(`${dev.url}/whoami`, {
      headers: { 'x-appengine-user-email': 'evil@example.com', 'x-appengine-user-is-admin': '1' },
    });
    const who = (await res.json()) as { user: unknown; admin: boolean; env: Record<string, string> };
    expect(who.user).toBeNull();
    expect(who.admin).toBe(false);
    expect(who.env.USER_EMAIL).toBe('');
  });

  it('reads a session cookie with a changed byte as signed out', async () => {
    const signIn = await fetch(`${dev.url}/_ah/login?action=Login&email=dave@example.com&admin=True`, {
      redirect: 'manual',
    });
    const cookie = /hangar_session=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')?.[0];
    expect(cookie).toBeDefined();
    const good = await fetch(`${dev.url}/api/admin`, { headers: { cookie: cookie! } });
    expect(good.status).toBe(200);
    // Flip one character of the signed payload (the email's part): the HMAC no longer matches.
    const eq = cookie!.indexOf('=') + 3;
    const flipped = `${cookie!.slice(0, eq)}${cookie![eq] === 'A' ? 'B' : 'A'}${cookie!.slice(eq + 1)}`;
    const bad = await fetch(`${dev.url}/api/admin`, { headers: { cookie: flipped } });
    expect(bad.status).toBe(401);
    await expect(bad.text()).resolves.toContain('needs a signed-in user');
  });

  it('refuses a continue URL on another host', async () => {
    const res = await fetch(`${dev.url}/_ah/login?continue=${encodeURIComponent('https://example.com/')}`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    await expect(res.text()).resolves.toContain('is not on this host');
  });
});

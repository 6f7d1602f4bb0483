/**
 * Sign-in under `hangar serve` (S11, issue 19), end to end: a real OpenID Connect provider on
 * loopback (the `oidc-provider` package, test/helpers/oidc-idp.ts), `hangar serve` configured
 * with it (`auth.oidc`, `auth.admins`), `examples/sign-in` deployed, and Debian's Chromium
 * driven by playwright-core through the provider's login pages. Then what an attacker tries:
 * an ID token changed on its way from the provider, and a changed session cookie. Last, a
 * serve with no provider says what to configure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, loopbackContext } from '../helpers/browser.js';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.js';
import {
  deploy,
  freshDataDir,
  removeDataDirs,
  repoRoot,
  type ServeProcess,
  startServe,
  stopAllServes,
} from '../helpers/serve.js';

const example = join(repoRoot, 'examples/sign-in');
let idp: TestIdp;
let serve: ServeProcess;
let browser: Browser;

beforeAll(async () => {
  idp = await startIdp();
  const dataDir = freshDataDir();
  const config = join(dataDir, 'platform.yaml');
  writeFileSync(
    config,
    [
      'auth:',
      '  oidc:',
      `    issuer: ${idp.issuer}`,
      `    client_id: ${idp.clientId}`,
      `    client_secret: ${idp.clientSecret}`,
      '  admins: [Alice@Example.com]',
      '',
    ].join('\n'),
  );
  [serve, browser] = await Promise.all([
    startServe({ dataDir, args: ['--config', config] }),
    launchChromium(),
  ]);
  idp.register([`${serve.url}/_ah/login/callback`]);
  const run = await deploy(serve, example, ['--application', 'signin', '--version', 'v1']);
  expect(run.code, run.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stopAllServes();
  await idp?.close();
  removeDataDirs();
});

/** Signs in at the provider's login page (any password: it is the provider's development login). */
async function signInAtProvider(page: Page, email: string): Promise<void> {
  await page.waitForURL((url) => url.origin === idp.issuer && url.pathname.startsWith('/interaction/'));
  await page.fill('input[name=login]', email);
  await page.fill('input[name=password]', 'any password');
  await page.click('button[type=submit]');
}

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  const cookies = await context.cookies(serve.url);
  return cookies.find((c) => c.name === 'hangar_session')?.value;
}

describe('hangar serve: sign-in with OpenID Connect in a browser', () => {
  it('signs a non-admin in (PKCE, verified ID token), sends them to sign in again for an admin page, and lets an admin in', async () => {
    const { context } = await loopbackContext(browser);
    try {
      const page = await context.newPage();
      const tokensBefore = idp.tokenResponses;
      await page.goto(`${serve.url}/admin`);
      await signInAtProvider(page, 'bob@example.com');
      // Bob is signed in but no admin: /admin (auth_fail_action: redirect) sends him back to the
      // provider to sign in as someone else (prompt=login), not into a loop.
      await page.waitForURL((url) => url.origin === idp.issuer && url.pathname.startsWith('/interaction/'));
      expect(idp.tokenResponses).toBe(tokensBefore + 1);
      const cookie = await sessionCookie(context);
      expect(cookie).toBeDefined();

      const refused = await page.goto(`${serve.url}/api/admin`);
      expect(refused?.status()).toBe(401);
      await expect(refused?.text()).resolves.toContain('bob@example.com is signed in but is not an admin');

      const account = await page.goto(`${serve.url}/account`);
      expect(account?.status()).toBe(200);
      await expect(page.locator('#user-email-env').textContent()).resolves.toBe('bob@example.com');

      // An admin of auth.admins (written Alice@Example.com) signs in and gets the page.
      await page.goto(`${serve.url}/admin`);
      await signInAtProvider(page, 'alice@example.com');
      await page.waitForURL(`${serve.url}/admin`);
      await expect(page.locator('#page').textContent()).resolves.toBe('Admin');
      await expect(page.locator('#user-email-env').textContent()).resolves.toBe('alice@example.com');

      const api = await page.goto(`${serve.url}/api/admin`);
      const who = (await api?.json()) as {
        user: { email: string; userId: string };
        admin: boolean;
        env: Record<string, string>;
      };
      expect(who.admin).toBe(true);
      expect(who.user.email).toBe('alice@example.com');
      expect(who.user.userId).toMatch(/^1\d{20}$/);
      expect(who.env.USER_IS_ADMIN).toBe('1');
      expect(who.env.USER_ID).toBe(who.user.userId);
    } finally {
      await context.close();
    }
  });

  it('takes the email from userinfo when the ID token has none', async () => {
    const { context } = await loopbackContext(browser);
    idp.emailInUserinfoOnly = true;
    try {
      const page = await context.newPage();
      await page.goto(`${serve.url}/account`);
      await signInAtProvider(page, 'dave@example.com');
      await page.waitForURL(`${serve.url}/account`);
      await expect(page.locator('#user-email-env').textContent()).resolves.toBe('dave@example.com');
    } finally {
      idp.emailInUserinfoOnly = false;
      await context.close();
    }
  });

  it('refuses an ID token changed on its way from the provider', async () => {
    const { context } = await loopbackContext(browser);
    idp.tamper.idToken = true;
    try {
      const page = await context.newPage();
      const answers: number[] = [];
      page.on('response', (res) => {
        if (new URL(res.url()).pathname === '/_ah/login/callback') answers.push(res.status());
      });
      await page.goto(`${serve.url}/account`);
      await signInAtProvider(page, 'carol@example.com');
      await page.waitForURL((url) => url.pathname === '/_ah/login/callback');
      await page.waitForLoadState();
      expect(answers).toEqual([401]);
      await expect(page.locator('body').textContent()).resolves.toContain(
        "the provider's answer did not verify",
      );
      expect(await sessionCookie(context)).toBeUndefined();
      // Nobody is signed in: the page still sends the browser to sign in.
      const again = await fetch(`${serve.url}/account`, { redirect: 'manual' });
      expect(again.status).toBe(302);
    } finally {
      idp.tamper.idToken = false;
      await context.close();
    }
  });

  it('reads a changed session cookie as signed out', async () => {
    const { context } = await loopbackContext(browser);
    try {
      const page = await context.newPage();
      await page.goto(`${serve.url}/api/admin`);
      // /api/admin answers 401 to nobody; sign in as an admin through /admin.
      await page.goto(`${serve.url}/admin`);
      await signInAtProvider(page, 'alice@example.com');
      await page.waitForURL(`${serve.url}/admin`);
      const cookie = (await sessionCookie(context))!;
      const ok = await fetch(`${serve.url}/api/admin`, { headers: { cookie: `hangar_session=${cookie}` } });
      expect(ok.status).toBe(200);
      // One character of the payload changed: the HMAC no longer matches.
      const changed = `${cookie[0] === 'A' ? 'B' : 'A'}${cookie.slice(1)}`;
      await context.addCookies([{ name: 'hangar_session', value: changed, url: serve.url }]);
      const refused = await page.goto(`${serve.url}/api/admin`);
      expect(refused?.status()).toBe(401);
      await expect(refused?.text()).resolves.toContain('needs a signed-in user');
      // The signature of another secret (a cookie from another platform) is refused alike.
      const forged = `${cookie.slice(0, cookie.indexOf('.') + 1)}${Buffer.alloc(32, 7).toString('base64url')}`;
      const other = await fetch(`${serve.url}/api/admin`, {
        headers: { cookie: `hangar_session=${forged}` },
      });
      expect(other.status).toBe(401);
    } finally {
      await context.close();
    }
  });
});

describe('hangar serve without a sign-in provider', () => {
  it('answers login: handlers with what to configure: 503 (redirect) and 401 (unauthorized)', async () => {
    const bare = await startServe();
    const run = await deploy(bare, example, ['--application', 'signin', '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    const page = await fetch(`${bare.url}/admin`, { redirect: 'manual' });
    expect(page.status).toBe(503);
    await expect(page.text()).resolves.toContain(
      'set auth.oidc.issuer, auth.oidc.client_id and auth.oidc.client_secret',
    );
    const api = await fetch(`${bare.url}/api/admin`, { redirect: 'manual' });
    expect(api.status).toBe(401);
    await expect(api.text()).resolves.toContain('no sign-in provider');
    const login = await fetch(`${bare.url}/_ah/login?continue=/admin`, { redirect: 'manual' });
    expect(login.status).toBe(503);
    // Pages without login: serve as ever.
    const home = await fetch(`${bare.url}/`);
    expect(home.status).toBe(200);
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import { DevSignIn } from './dev-sign-in.js';
import { CookieSigner, SESSION_COOKIE, SessionCookies } from './session-cookie.js';
import { continueTarget, isSignInPath, NoSignIn, type PageAnswer, type SignInPage } from './sign-in.js';
import { userIdFor } from './user-identity.js';

const sessions = new SessionCookies(new CookieSigner(Buffer.alloc(32, 3)));
const page = { https: false, host: 'app.example:8080' };

/** The error `fn` throws (or the promise rejects with); fails when there is none. */
async function failure(fn: () => unknown): Promise<{ code?: string; status?: number; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code?: string; status?: number; message: string };
  }
  throw new Error('expected an error, got none');
}

function signInPage(url: string, extra: Partial<SignInPage> = {}): SignInPage {
  return {
    method: 'GET',
    url,
    host: 'app.example:8080',
    https: false,
    app: 'shop',
    cookie: undefined,
    ...extra,
  };
}

function setCookies(answer: PageAnswer): string[] {
  const value = answer.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The `name=value` of a Set-Cookie header, as the browser sends it back. */
function sentBack(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

describe('continueTarget', () => {
  it.each<[string | null, string]>([
    [null, '/'],
    ['', '/'],
    ['/', '/'],
    ['/a/b?c=1&d=2', '/a/b?c=1&d=2'],
    ['/a#fragment', '/a'],
    ['http://app.example:8080/p?q=1', '/p?q=1'],
    ['HTTP://APP.EXAMPLE:8080/p', '/p'],
  ])('%j → %j', (raw, target) => {
    expect(continueTarget(raw, page)).toBe(target);
  });

  it.each<[string, string]>([
    ['https://app.example:8080/p', 'another scheme'],
    ['http://other.example:8080/p', 'another host'],
    ['http://app.example:9090/p', 'another port'],
    ['http://app.example/p', 'the default port'],
    ['//evil.example/x', 'protocol-relative'],
    ['/\\evil.example/x', 'backslash taken as a slash'],
    ['javascript:alert(1)', 'javascript:'],
    ['data:text/html,<script>alert(1)</script>', 'data:'],
    // Same origin as written, but the path left would be a protocol-relative Location.
    ['http://app.example:8080//evil.example/x', 'a path starting with //'],
    ['/.//evil.example/x', 'a path that resolves to //'],
  ])('refuses %j (%s)', async (raw) => {
    const err = await failure(() => continueTarget(raw, page));
    expect(err.code).toBe('HANGAR_E_SIGN_IN_INVALID');
    expect(err.status).toBe(400);
  });

  it('keeps the default port of the scheme implicit', () => {
    expect(continueTarget('https://app.example:443/p', { https: true, host: 'app.example' })).toBe('/p');
    expect(continueTarget('https://app.example/p', { https: true, host: 'app.example' })).toBe('/p');
  });

  it('compares the host case-insensitively, as hosts are', () => {
    // A Host header in capitals names the same host: a path on it is on this host.
    expect(continueTarget('/x', { https: false, host: 'App.Example:8080' })).toBe('/x');
    expect(continueTarget('http://app.example:8080/y', { https: false, host: 'App.Example:8080' })).toBe(
      '/y',
    );
  });
});

describe('isSignInPath', () => {
  it.each<[string, boolean]>([
    ['/_ah/login', true],
    ['/_ah/logout', true],
    ['/_ah/login/callback', true],
    ['/_ah/login/', false],
    ['/_ah/loginx', false],
    ['/_ah/login/other', false],
    ['/_ah/LOGIN', false],
    ['/app/_ah/login', false],
    ['/', false],
  ])('%s → %s', (path, expected) => {
    expect(isSignInPath(path)).toBe(expected);
  });
});

describe('DevSignIn', () => {
  const dev = new DevSignIn(sessions, 'gmail.com');

  it('shows a form that comes back to continue, with nothing of continue as markup', async () => {
    const answer = await dev.answer(signInPage('/_ah/login?continue=%2Fa%3Fx%3D1%26y%3D2'));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(answer.body).toContain('<form method="get" action="/_ah/login">');
    expect(answer.body).toContain('<input type="hidden" name="continue" value="/a?x=1&#38;y=2">');
    expect(answer.body).toContain('Not signed in.');
    expect(setCookies(answer)).toEqual([]);

    const hostile = encodeURIComponent('/"><script>alert(1)</script>?q="><script>alert(2)</script>');
    const escaped = await dev.answer(signInPage(`/_ah/login?continue=${hostile}`));
    expect(escaped.status).toBe(200);
    expect(escaped.body.toLowerCase()).not.toContain('<script');
    const value = /<input type="hidden" name="continue" value="([^"]*)">/.exec(escaped.body)?.[1];
    expect(value).toBeDefined();
    expect(value).not.toMatch(/[<>"]/);
  });

  it('names the signed-in user on the form, escaped', async () => {
    const email = '"<b>x</b>"@example.com';
    const cookie = sentBack(
      sessions.issue({ email, userId: userIdFor(`dev:${email}`), admin: true }, 'shop', false),
    );
    const answer = await dev.answer(signInPage('/_ah/login', { cookie }));
    expect(answer.body).toContain(
      'Signed in as <b>&#34;&#60;b&#62;x&#60;/b&#62;&#34;@example.com</b> (admin).',
    );
    expect(answer.body).not.toContain('"<b>x</b>"');
    // Another app's page does not know this user.
    expect((await dev.answer(signInPage('/_ah/login', { cookie, app: 'blog' }))).body).toContain(
      'Not signed in.',
    );
  });

  it.each([['not-an-email'], [''], ['two@at@signs']])('refuses to sign in as %j', async (email) => {
    const err = await failure(() =>
      dev.answer(signInPage(`/_ah/login?action=Login&email=${encodeURIComponent(email)}&continue=%2F`)),
    );
    expect(err.code).toBe('HANGAR_E_SIGN_IN_INVALID');
    expect(err.status).toBe(400);
  });

  it('refuses a continue URL on another host', async () => {
    const err = await failure(() =>
      dev.answer(
        signInPage('/_ah/login?action=Login&email=a%40example.com&continue=https%3A%2F%2Fevil.example%2F'),
      ),
    );
    expect(err.code).toBe('HANGAR_E_SIGN_IN_INVALID');
  });

  it('signs in as an admin and redirects to continue with a session for this app only', async () => {
    const answer = await dev.answer(
      signInPage('/_ah/login?action=Login&email=Alice%40Example.com&admin=True&continue=%2Fadmin%3Fx%3D1'),
    );
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('/admin?x=1');
    expect(answer.body).toBe('');
    const cookies = setCookies(answer);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]!.startsWith(`${SESSION_COOKIE}=`)).toBe(true);
    expect(cookies[0]).toContain('HttpOnly');
    expect(cookies[0]).not.toContain('Secure');
    expect(sessions.read(sentBack(cookies[0]!), 'shop')).toEqual({
      email: 'Alice@Example.com',
      // The id does not depend on how the email was capitalised.
      userId: userIdFor('dev:alice@example.com'),
      admin: true,
    });
    expect(sessions.read(sentBack(cookies[0]!), 'blog')).toBeUndefined();
  });

  it('signs in a non-admin without the checkbox, Secure over HTTPS', async () => {
    const answer = await dev.answer(
      signInPage('/_ah/login?action=Login&email=bob%40example.com', { https: true, host: 'app.example' }),
    );
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('/');
    const cookie = setCookies(answer)[0]!;
    expect(cookie).toMatch(/; Secure$/);
    expect(sessions.read(sentBack(cookie), 'shop')).toMatchObject({ email: 'bob@example.com', admin: false });
  });

  it('signs out with action=Logout and at /_ah/logout', async () => {
    const viaForm = await dev.answer(signInPage('/_ah/login?action=Logout&continue=%2Fbye'));
    expect(viaForm.status).toBe(302);
    expect(viaForm.headers.location).toBe('/bye');
    expect(setCookies(viaForm)).toEqual([`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`]);

    const viaPage = await dev.answer(signInPage('/_ah/logout?continue=%2Fbye%3Fz%3D1'));
    expect(viaPage.status).toBe(302);
    expect(viaPage.headers.location).toBe('/bye?z=1');
    expect(setCookies(viaPage)).toEqual([`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`]);

    const bare = await dev.answer(signInPage('/_ah/logout'));
    expect(bare.headers.location).toBe('/');

    const err = await failure(() => dev.answer(signInPage('/_ah/logout?continue=%2F%2Fevil.example')));
    expect(err.code).toBe('HANGAR_E_SIGN_IN_INVALID');
  });
});

describe('NoSignIn', () => {
  const none = new NoSignIn(sessions, 'gmail.com');

  it('says what to configure when asked to sign in', async () => {
    for (const url of ['/_ah/login', '/_ah/login?continue=%2Fx', '/_ah/login/callback?code=1']) {
      const err = await failure(() => none.answer(signInPage(url)));
      expect(err.code).toBe('HANGAR_E_SIGN_IN_UNAVAILABLE');
      expect(err.status).toBe(503);
      expect(err.message).toContain('auth.oidc.issuer');
      expect(err.message).toBe(none.unavailable);
    }
  });

  it('still signs out', async () => {
    const answer = await none.answer(signInPage('/_ah/logout?continue=%2Fx', { https: true }));
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('/x');
    expect(setCookies(answer)).toEqual([
      `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`,
    ]);
  });
});

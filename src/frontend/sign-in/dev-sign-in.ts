/**
 * `hangar dev`'s fake sign-in (S11), as dev_appserver's: `/_ah/login` shows a form with an
 * email field and an admin checkbox, and signs the browser in as whoever is typed, no password.
 * The form submits with GET (`action=Login`, `email`, `admin`, `continue`), as dev_appserver's
 * does, so signing in needs no request body. Only `dev` has it: under serve the page is the
 * OpenID Connect provider's.
 */

import type { SessionCookies } from './session-cookie.js';
import {
  continueTarget,
  html,
  invalid,
  LOGIN_PATH,
  LOGOUT_PATH,
  logout,
  type PageAnswer,
  redirect,
  type SignIn,
  type SignInPage,
} from './sign-in.js';
import { isEmail, userIdFor } from './user-identity.js';

export class DevSignIn implements SignIn {
  readonly unavailable = undefined;

  constructor(
    readonly sessions: SessionCookies,
    readonly authDomain: string,
  ) {}

  async answer(page: SignInPage): Promise<PageAnswer> {
    const q = page.url.indexOf('?');
    const path = q === -1 ? page.url : page.url.slice(0, q);
    if (path === LOGOUT_PATH) return logout(page, this.sessions);
    if (path !== LOGIN_PATH) throw invalid(`${path} is not a page of the development server's sign-in`);
    const query = new URLSearchParams(q === -1 ? '' : page.url.slice(q + 1));
    const target = continueTarget(query.get('continue'), page);
    const action = query.get('action')?.replace(/\s+/g, '').toLowerCase();
    if (action === 'logout') return redirect(target, [this.sessions.clear(page.https)]);
    if (action === 'login') {
      const email = (query.get('email') ?? '').trim();
      if (!isEmail(email))
        throw invalid(`email '${email}' is not an email address; type one such as test@example.com`);
      const admin = ['true', 'on', '1', 'yes'].includes((query.get('admin') ?? '').toLowerCase());
      const user = { email, userId: userIdFor(`dev:${email.toLowerCase()}`), admin };
      return redirect(target, [this.sessions.issue(user, page.app, page.https)]);
    }
    return this.#form(page, target);
  }

  #form(page: SignInPage, target: string): PageAnswer {
    const current = this.sessions.read(page.cookie, page.app);
    const signedIn = current
      ? `<p id="current">Signed in as <b>${html(current.email)}</b>${current.admin ? ' (admin)' : ''}.</p>`
      : '<p id="current">Not signed in.</p>';
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (Hangar development server)</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.75rem 0}input[type=email]{width:100%;padding:.4rem;font:inherit}
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem}.note{color:#555;font-size:.9rem}</style></head>
<body><h1>Sign in</h1>
<p class="note">This is the development server's sign-in page: it signs you in as any email, with no
password, so you can try <code>login: required</code> and <code>login: admin</code> handlers. Under
<code>hangar serve</code> users sign in with the OpenID Connect provider instead.</p>
${signedIn}
<form method="get" action="${LOGIN_PATH}">
<input type="hidden" name="continue" value="${html(target)}">
<label>Email <input type="email" id="email" name="email" required value="${html(current?.email ?? 'test@example.com')}"></label>
<label><input type="checkbox" id="admin" name="admin" value="True"${current?.admin ? ' checked' : ''}> Sign in as an administrator</label>
<button type="submit" id="login" name="action" value="Login">Sign in</button>
<button type="submit" id="logout" name="action" value="Logout" formnovalidate>Sign out</button>
</form></body></html>
`;
    return {
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      body,
    };
  }
}

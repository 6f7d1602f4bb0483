import { createLoginURL, createLogoutURL, getCurrentUser, isCurrentUserAdmin } from 'hangar/users';

/** Who is signed in, from the Users API and from USER_* (both say the same). */
export function app(request: Request): Response {
  const url = new URL(request.url);
  const user = getCurrentUser();
  if (url.pathname === '/whoami' || url.pathname === '/api/admin') {
    return Response.json({
      user,
      admin: isCurrentUserAdmin(),
      env: {
        USER_EMAIL: process.env.USER_EMAIL,
        USER_ID: process.env.USER_ID,
        USER_NICKNAME: process.env.USER_NICKNAME,
        USER_IS_ADMIN: process.env.USER_IS_ADMIN,
      },
      cookie: request.headers.get('cookie'),
      login: createLoginURL(url.pathname),
      logout: createLogoutURL('/'),
    });
  }
  const who = user
    ? `<p>Signed in as <b id="email">${htmlText(user.email)}</b>${isCurrentUserAdmin() ? ' (admin)' : ''}. <a id="logout" href="${htmlText(createLogoutURL('/'))}">Sign out</a></p>`
    : `<p>Not signed in. <a id="login" href="${htmlText(createLoginURL(url.pathname))}">Sign in</a></p>`;
  const page = url.pathname === '/admin' ? 'Admin' : url.pathname === '/account' ? 'Account' : 'Home';
  return new Response(
    `<!doctype html><title>${page}</title><h1 id="page">${page}</h1>${who}<p id="user-email-env">${htmlText(process.env.USER_EMAIL ?? '')}</p>
<ul><li><a href="/account">/account</a> (login: required)</li><li><a href="/admin">/admin</a> (login: admin)</li><li><a href="/private/notes.txt">/private/notes.txt</a> (static, login: required)</li></ul>`,
    { headers: { 'content-type': 'text/html; charset=utf-8' } },
  );
}

function htmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Hangar calls `app` for every request no static handler takes. TypeScript runs as is, without
 * a build step. A second parameter, `ctx` (type `HandlerContext` from 'hangar'), carries the
 * request id, its environment, a deadline signal and a logger when you need them.
 */
export function app(request: Request): Response {
  const url = new URL(request.url);
  if (url.pathname === '/') {
    return new Response('Hello from Hangar!\n', {
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  }
  return new Response(`Nothing at ${url.pathname}. Try / or /static/index.html.\n`, {
    status: 404,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

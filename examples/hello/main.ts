import type { HandlerContext } from 'hangar';

/** A fetch-style handler: (Request, ctx) => Response. */
export function app(request: Request, ctx: HandlerContext): Response {
  const url = new URL(request.url);
  if (url.pathname === '/')
    return new Response('Hello, World!', { headers: { 'content-type': 'text/plain' } });
  if (url.pathname === '/env') {
    return Response.json({
      requestId: ctx.requestId,
      version: process.env.CURRENT_VERSION_ID,
      instance: process.env.INSTANCE_ID,
      query: process.env.QUERY_STRING,
    });
  }
  return new Response(`Nothing at ${url.pathname}. Try / or /static/index.html.\n`, {
    status: 404,
    headers: { 'content-type': 'text/plain' },
  });
}

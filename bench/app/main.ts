/**
 * The suite's routes as a Hangar app (app.yaml next to it): the same answers as node.mjs and
 * worker.mjs. The front end gzips `/json` itself (SPEC S5 step 7) and stores `/log`'s lines
 * with their request, so the handler does neither.
 */
import { hello, json, logLine, logLines } from './payload.mjs';

/**
 * The part of `HandlerContext` this handler uses. Importing the type from 'hangar' would make
 * the repository's typecheck (which covers bench/) depend on a built dist/.
 */
interface Context {
  requestId: string;
}

export function app(request: Request, ctx: Context): Response | Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname === '/') return text(hello);
  if (pathname === '/json') return new Response(json, { headers: { 'content-type': 'application/json' } });
  if (pathname === '/upload') return request.arrayBuffer().then((body) => text(String(body.byteLength)));
  // An outbound call per request: through URL Fetch on Hangar (the global fetch is its path).
  if (pathname === '/fetch') return fetch(process.env.UPSTREAM_URL!).then(async (r) => text(await r.text()));
  // Which Node runs the instance (the runtimes scenario: app.yaml's runtime: picks it).
  if (pathname === '/version') return text(process.version);
  if (pathname === '/log') {
    for (let i = 0; i < logLines; i++) console.log(logLine(i, ctx.requestId));
    return text(hello);
  }
  return new Response('not found', { status: 404 });
}

function text(body: string): Response {
  return new Response(body, { headers: { 'content-type': 'text/plain' } });
}

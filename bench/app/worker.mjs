/**
 * The suite's routes as a workerd module (bench/peers.ts writes its capnp config). Setting
 * `Content-Encoding: gzip` on a plain body makes workerd compress it, as it does on Workers.
 */
import { hello, json, logLine, logLines } from './payload.mjs';

let served = 0;

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === '/') return text(hello);
    if (pathname === '/json') {
      const gzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
      return new Response(json, {
        headers: {
          'content-type': 'application/json',
          ...(gzip ? { 'content-encoding': 'gzip', vary: 'Accept-Encoding' } : {}),
        },
      });
    }
    if (pathname === '/upload') return text(String((await request.arrayBuffer()).byteLength));
    if (pathname === '/log') {
      served++;
      for (let i = 0; i < logLines; i++) console.log(logLine(i, String(served)));
      return text(hello);
    }
    return new Response('not found', { status: 404 });
  },
};

function text(body) {
  return new Response(body, { headers: { 'content-type': 'text/plain' } });
}

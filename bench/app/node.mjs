/**
 * The suite's routes as a Node `(req, res)` handler, served by bare node:http (bare.mjs) and
 * by the Functions Framework (functions-framework.mjs). Each route does what the Hangar app
 * (main.ts) and the workerd module (worker.mjs) do, with what a Node server has to hand:
 * node:zlib for gzip, stdout for log lines.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { hello, json, logLine, logLines } from './payload.mjs';

// Off the event loop, on libuv's thread pool, as Hangar's front end does.
const gzip = promisify(gzipCallback);
const jsonBytes = Buffer.from(json);
let served = 0;

/** @param {import('node:http').IncomingMessage & { rawBody?: Buffer }} req @param {import('node:http').ServerResponse} res */
export async function handle(req, res) {
  switch (req.url) {
    case '/':
      return send(res, 200, 'text/plain', hello);
    case '/json':
      if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
        const body = await gzip(jsonBytes);
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': body.length,
          vary: 'Accept-Encoding',
        });
        return res.end(body);
      }
      return send(res, 200, 'application/json', jsonBytes);
    case '/upload':
      return send(res, 200, 'text/plain', String(await bodyLength(req)));
    case '/fetch': {
      // The same call the Hangar app makes, with Node's own fetch straight to the upstream.
      const upstream = await fetch(process.env.UPSTREAM_URL);
      return send(res, 200, 'text/plain', await upstream.text());
    }
    case '/log': {
      served++;
      for (let i = 0; i < logLines; i++) console.log(logLine(i, String(served)));
      return send(res, 200, 'text/plain', hello);
    }
    default:
      return send(res, 404, 'text/plain', 'not found');
  }
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The Functions Framework has read the body already (its body parser keeps `rawBody`); bare Node reads it here. */
async function bodyLength(req) {
  if (req.rawBody) return req.rawBody.length;
  let length = 0;
  for await (const chunk of req) length += chunk.length;
  return length;
}

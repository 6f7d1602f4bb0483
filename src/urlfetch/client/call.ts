/**
 * The instance's side of a URL Fetch call (S13): one connection to the socket service, the
 * `urlfetch` hello and the request body out, the reply line and the response body back
 * (service/call.ts makes the call). Inside a request, the request's deadline ends the
 * call with the request's own DeadlineExceededError (S6).
 */

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { logLine } from '../../instance/log-capture.js';
import { getLink, onRequestAbort, replyError } from '../../sockets/client/link.js';
import { loadSchemas } from '../../sockets/client/schemas.js';
import { readFirstLine } from '../../sockets/lines.js';
import type { HelloOf } from '../../sockets/protocol.js';
import { line } from '../../sockets/wire.js';
import type { UrlFetchResult } from '../service/call.js';

export type UrlFetchRequest = Omit<
  HelloOf<'urlfetch'>,
  'v' | 'app' | 'token' | 'instance' | 'request' | 'service' | 'version' | 'op' | 'bodyBytes'
>;

/** What a call answered: the service's result, as it arrives (the type only; no service code here). */
export type UrlFetchReply = UrlFetchResult;

/**
 * Makes one call through the socket service. Rejects with the service's error (Node-style:
 * `code`, `message`), or with the request's DeadlineExceededError when its deadline comes first.
 *
 * @example
 * const reply = await urlFetchCall({ method: 'GET', url, headers: [], deadlineMs: 5000, followRedirects: true, validateCertificate: true, allowTruncated: false }, Buffer.alloc(0));
 */
export function urlFetchCall(request: UrlFetchRequest, body: Buffer): Promise<UrlFetchReply> {
  const link = getLink();
  const conn = link.dial();
  conn.on('error', () => {});
  const hello: HelloOf<'urlfetch'> = {
    ...link.identity(),
    op: 'urlfetch',
    ...request,
    bodyBytes: body.length,
  };
  conn.write(line(hello));
  if (body.length > 0) conn.write(body);
  return new Promise<UrlFetchReply>((resolve, reject) => {
    const stop = onRequestAbort((reason) => {
      conn.destroy();
      reject(reason);
    });
    readReply(conn).then(
      (reply) => {
        stop();
        resolve(reply);
      },
      (err: unknown) => {
        stop();
        conn.destroy();
        reject(err);
      },
    );
  });
}

async function readReply(conn: Socket): Promise<UrlFetchReply> {
  const [text] = await Promise.all([readFirstLine(conn), loadSchemas()]);
  const reply = JSON.parse(text) as {
    ok?: boolean;
    value?: Omit<UrlFetchReply, 'body'> & { bodyBytes: number };
    error?: unknown;
  };
  if (reply.ok !== true || !reply.value) throw replyError(reply.error);
  const { bodyBytes, ...meta } = reply.value;
  const body = await readToEnd(conn, bodyBytes);
  return { ...meta, body };
}

function readToEnd(conn: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    conn.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
    });
    conn.once('end', () =>
      have === bytes
        ? resolve(Buffer.concat(chunks, have))
        : reject(new Error(`urlfetch: the response body ended after ${have} of ${bytes} bytes`)),
    );
    conn.once('close', () => {
      if (have !== bytes)
        reject(new Error(`urlfetch: the socket service closed the call after ${have} of ${bytes} bytes`));
    });
    conn.resume();
  });
}

/** What a caller of URL Fetch can choose (the explicit API's options, in milliseconds). */
export interface UrlFetchChoices {
  deadlineMs?: number | undefined;
  followRedirects: boolean;
  validateCertificate: boolean;
  allowTruncated: boolean;
}

let zlibModule: typeof import('node:zlib') | undefined;
/** node:zlib on first use: most instances never decompress a fetched body (an idle instance's memory). */
const zlib = () => (zlibModule ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'));

/** The Response of a URL Fetch call: a standard Response with what URL Fetch adds. */
export type UrlFetchResponse = Response & {
  /** The body was longer than `urlfetch.max_response_bytes` and was cut (`allowTruncated`). */
  readonly truncated: boolean;
};

/** S13's default deadline, changed by `setDefaultFetchDeadline` (App Engine's name). */
let defaultDeadlineMs = 5_000;

export function setDefaultDeadlineMs(ms: number): void {
  defaultDeadlineMs = ms;
}

/** One outbound request as URL Fetch takes it: what Node's clients already have in hand. */
export interface OutboundRequest {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

/**
 * A web `Request` through URL Fetch (the global `fetch`, `hangar/urlfetch`): its body read
 * once into a buffer (URL Fetch sends bodies whole), then {@link callThroughService}.
 *
 * @example
 * const reply = await fetchThroughService(new Request(url), { followRedirects: true, validateCertificate: true, allowTruncated: false });
 */
export async function fetchThroughService(
  request: Request,
  choices: UrlFetchChoices,
): Promise<UrlFetchReply> {
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : Buffer.alloc(0);
  const headers: Array<[string, string]> = [];
  for (const [name, value] of request.headers) headers.push([name, value]);
  return callThroughService({ method: request.method, url: request.url, headers, body }, choices);
}

/**
 * `request` through URL Fetch, with a line in the current request's log (S13: method, URL
 * without its query, status, bytes, time; a failure as a warning with its code). Node's
 * `http` clients and undici come here directly, with the body they already hold.
 */
export async function callThroughService(
  request: OutboundRequest,
  choices: UrlFetchChoices,
): Promise<UrlFetchReply> {
  const started = performance.now();
  const where = `${request.method} ${withoutQuery(request.url)}`;
  let reply: UrlFetchReply;
  try {
    reply = await urlFetchCall(
      {
        method: request.method,
        url: request.url,
        headers: request.headers,
        deadlineMs: choices.deadlineMs ?? defaultDeadlineMs,
        followRedirects: choices.followRedirects,
        validateCertificate: choices.validateCertificate,
        allowTruncated: choices.allowTruncated,
      },
      request.body,
    );
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    logLine(
      'warning',
      `URL Fetch ${where} failed in ${elapsed(started)} ms: ${code ? `${code} ` : ''}${(err as Error).message}`,
    );
    throw err;
  }
  logLine(
    'info',
    `URL Fetch ${where} ${reply.status} ${reply.body.length} B ${elapsed(started)} ms${reply.redirects ? ` (${reply.redirects} redirects)` : ''}${reply.truncated ? ' (truncated)' : ''}`,
  );
  return reply;
}

/** The reply as a Response: a compressed body decoded, as the global fetch does. */
export function replyToResponse(reply: UrlFetchReply, method: string): UrlFetchResponse {
  const headers = new Headers();
  for (const [name, value] of reply.headers) headers.append(name, value);
  let body: Buffer | null = reply.body;
  const encoding = headers.get('content-encoding')?.trim().toLowerCase();
  if (
    body.length > 0 &&
    !reply.truncated &&
    encoding &&
    ['gzip', 'x-gzip', 'deflate', 'br'].includes(encoding)
  ) {
    const { brotliDecompressSync, gunzipSync, inflateSync } = zlib();
    body =
      encoding === 'br'
        ? brotliDecompressSync(body)
        : encoding === 'deflate'
          ? inflateSync(body)
          : gunzipSync(body);
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  // A Response may not carry a body with these statuses, or for HEAD.
  if (method === 'HEAD' || [101, 204, 205, 304].includes(reply.status)) body = null;
  const response = new Response(body, {
    status: reply.status < 200 ? 200 : reply.status,
    statusText: reply.statusText,
    headers,
  });
  Object.defineProperties(response, {
    url: { value: reply.url },
    redirected: { value: reply.redirects > 0 },
    truncated: { value: reply.truncated },
  });
  return response as UrlFetchResponse;
}

function elapsed(started: number): string {
  const ms = performance.now() - started;
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

function withoutQuery(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

/**
 * `hangar/urlfetch`: URL Fetch's explicit API (SPEC S13), importable from app code without
 * being a dependency. The call is made by the platform's socket service, outside the instance:
 * the destination rules of S12 on the resolved address, ports 80-90, 440-450 and 1024-65535,
 * a 10 MB request and 32 MB response (by default), a deadline (default 5 s, at most 60 s, never
 * past the request's own), at most 5 redirects, certificates checked. Bodies are buffered both
 * ways, as App Engine's URL Fetch did. Each call is a line in the request's log.
 *
 * @example
 * import { fetch } from 'hangar/urlfetch';
 * const res = await fetch('https://api.example.com/items', { deadline: 2, followRedirects: false });
 * if (res.truncated) console.warn('partial answer');
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { logLine } from '../instance/log-capture.js';
import { type UrlFetchReply, urlFetchCall } from './client/urlfetch.js';

export interface UrlFetchOptions {
  /** Seconds for the whole call, redirects included (App Engine's unit): default 5, at most 60. */
  deadline?: number;
  /** Follow up to 5 redirects (default), or return the first 3xx as it is. */
  followRedirects?: boolean;
  /** Check the server's certificate (default). `false` accepts self-signed and expired ones. */
  validateCertificate?: boolean;
  /** A response over the limit is cut there (`res.truncated`) instead of failing. */
  allowTruncated?: boolean;
}

/** The Response of a URL Fetch call: a standard Response with what URL Fetch adds. */
export type UrlFetchResponse = Response & {
  /** The body was longer than `urlfetch.max_response_bytes` and was cut (`allowTruncated`). */
  readonly truncated: boolean;
};

const DEFAULT_DEADLINE_S = 5;
const MAX_DEADLINE_S = 60;

/**
 * Fetches `input` through the platform's URL Fetch service. Takes what the global `fetch`
 * takes (a URL, a Request, `method`, `headers`, `body`, `redirect: 'manual'`) plus
 * {@link UrlFetchOptions}. Rejects with Node-style errors that name the rule:
 * `ERR_URLFETCH_DEADLINE`, `ERR_URLFETCH_TOO_LARGE`, `ERR_URLFETCH_BAD_PORT`,
 * `ERR_URLFETCH_TOO_MANY_REDIRECTS`, `EACCES` (a refused destination), a TLS code such as
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, or the request's own `DeadlineExceededError`.
 */
export async function fetch(
  input: string | URL | Request,
  init: RequestInit & UrlFetchOptions = {},
): Promise<UrlFetchResponse> {
  const request = new Request(input, init);
  const deadlineS = init.deadline ?? DEFAULT_DEADLINE_S;
  if (!(deadlineS > 0) || deadlineS > MAX_DEADLINE_S) {
    throw new RangeError(
      `urlfetch: deadline is in seconds (App Engine's unit), more than 0 and at most ${MAX_DEADLINE_S}; got ${deadlineS}`,
    );
  }
  const body = request.body ? Buffer.from(await request.arrayBuffer()) : Buffer.alloc(0);
  const headers: Array<[string, string]> = [];
  for (const [name, value] of request.headers) headers.push([name, value]);
  const started = performance.now();
  const where = `${request.method} ${withoutQuery(request.url)}`;
  let reply: UrlFetchReply;
  try {
    reply = await urlFetchCall(
      {
        method: request.method,
        url: request.url,
        headers,
        deadlineMs: Math.round(deadlineS * 1000),
        followRedirects: init.followRedirects ?? init.redirect !== 'manual',
        validateCertificate: init.validateCertificate ?? true,
        allowTruncated: init.allowTruncated ?? false,
      },
      body,
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
  return toResponse(reply, request.method);
}

/** The reply as a Response: a compressed body decoded, as the global fetch does. */
function toResponse(reply: UrlFetchReply, method: string): UrlFetchResponse {
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

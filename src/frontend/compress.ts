/**
 * SPEC S5 step 7, applied: gzips a rewritten response when shouldGzip() says so, and adjusts
 * the headers that describe the body.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { gzipLevel, shouldGzip } from './gzip-decision.js';
import type { ClientResponse } from './response-rewrite.js';

const gzip = promisify(gzipCallback);

/**
 * Compresses `response` in place (on libuv's thread pool, not the event loop) when the client
 * takes gzip: sets `Content-Encoding: gzip`, adds `Accept-Encoding` to `Vary`, fixes
 * Content-Length, and weakens a strong ETag (the gzipped bytes are not the app's bytes).
 * Returns undefined, synchronously, when there is nothing to compress: most responses need
 * no extra turn of the event loop.
 *
 * @example
 * const compressing = compressResponse(response, { method, acceptEncoding, userAgent });
 * if (compressing) await compressing;
 */
export function compressResponse(
  response: ClientResponse,
  request: { method: string; acceptEncoding: string | undefined; userAgent: string | undefined },
): Promise<void> | undefined {
  const { headers } = response;
  const compress = shouldGzip({
    method: request.method,
    status: response.status,
    acceptEncoding: request.acceptEncoding,
    userAgent: request.userAgent,
    contentType: single(headers['content-type']),
    contentEncoding: single(headers['content-encoding']),
    cacheControl: single(headers['cache-control']),
    bodyLength: response.body.length,
  });
  if (!compress) return undefined;
  return gzip(response.body, { level: gzipLevel(response.body.length) }).then((body) => {
    response.body = body;
    markGzipped(headers, body.length);
  });
}

function markGzipped(headers: ClientResponse['headers'], length: number): void {
  headers['content-encoding'] = 'gzip';
  headers['content-length'] = String(length);
  const vary = single(headers.vary);
  if (!vary) headers.vary = 'Accept-Encoding';
  else if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(vary))
    headers.vary = `${vary}, Accept-Encoding`;
  const etag = single(headers.etag);
  if (etag?.startsWith('"')) headers.etag = `W/${etag}`;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

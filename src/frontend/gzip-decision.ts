/**
 * SPEC S5 step 7, the decision alone (pure, table-tested in gzip-decision.test.ts). App Engine
 * gzips a response when the request's Accept-Encoding and User-Agent both say the client takes
 * gzip, the content type is text-like, and the body is not already encoded. Custom clients opt
 * in by putting `gzip` in both headers; browsers are recognised by their User-Agent.
 */

export interface GzipInput {
  method: string;
  status: number;
  acceptEncoding: string | undefined;
  userAgent: string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  cacheControl: string | undefined;
  bodyLength: number;
}

/**
 * Below this many bytes gzip does not pay: its header and trailer alone are 18 bytes, and a
 * short text barely shrinks while it still costs a deflate pass.
 */
export const GZIP_MIN_BYTES = 256;

// Every browser (and their crawlers) sends `Mozilla/...`; Opera's old engine did not.
const knownGzipAgents = /^(?:Mozilla\/|Opera\/)/;
const textLike =
  /^(?:text\/[^;\s]+|application\/(?:json|javascript|x-javascript|ecmascript|xml|xhtml\+xml|rss\+xml|atom\+xml|ld\+json|manifest\+json|graphql|x-www-form-urlencoded|[\w.+-]+\+(?:json|xml))|image\/svg\+xml)\s*(?:;|$)/i;

/**
 * True when the response should go out gzipped.
 *
 * @example
 * shouldGzip({ method: 'GET', status: 200, acceptEncoding: 'gzip, br', userAgent: 'Mozilla/5.0 …',
 *   contentType: 'text/html', contentEncoding: undefined, cacheControl: undefined, bodyLength: 5000 }) // true
 */
export function shouldGzip(input: GzipInput): boolean {
  if (input.method === 'HEAD' || input.status === 204 || input.status === 304 || input.status < 200)
    return false;
  if (input.bodyLength < GZIP_MIN_BYTES) return false;
  if (input.contentEncoding !== undefined && input.contentEncoding.trim().toLowerCase() !== 'identity') {
    return false;
  }
  // RFC 9110 7.7: a no-transform response must reach the client as the app made it.
  if (input.cacheControl !== undefined && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(input.cacheControl)) {
    return false;
  }
  if (input.contentType === undefined || !textLike.test(input.contentType)) return false;
  if (!acceptsGzip(input.acceptEncoding)) return false;
  const agent = input.userAgent ?? '';
  return knownGzipAgents.test(agent) || /gzip/i.test(agent);
}

/** Accept-Encoding lists `gzip` (or `x-gzip`) without `q=0`. */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding) return false;
  for (const part of acceptEncoding.split(',')) {
    const [coding = '', ...params] = part.split(';');
    const name = coding.trim().toLowerCase();
    if (name !== 'gzip' && name !== 'x-gzip') continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/** Up to this many bytes a body is compressed at zlib's default level; bigger ones faster. */
export const GZIP_SMALL_BYTES = 16 * 1024;

/**
 * The zlib level for a body of `bodyLength` bytes. Small bodies take zlib's default (6): they
 * cost little either way and every byte saved counts on a slow link. From 16 KiB the front end
 * uses 3, zlib's fastest strategy with its best ratio (levels 1–3 share the fast match search):
 * on the benchmark's 50 KiB JSON it takes about 0.6× of level 6's CPU for 15 % more bytes (6.5
 * against 5.7 KB), as nginx chooses speed with its default `gzip_comp_level 1`.
 *
 * @example
 * gzipLevel(2_000) // 6
 * gzipLevel(50_000) // 3
 */
export function gzipLevel(bodyLength: number): number {
  return bodyLength <= GZIP_SMALL_BYTES ? 6 : 3;
}

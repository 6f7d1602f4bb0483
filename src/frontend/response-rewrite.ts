/**
 * SPEC S5 step 6: the instance's whole response, checked and rewritten before anything goes to
 * the client. App Engine's front end does the same: no streaming, a size cap that yields an
 * empty 500, and headers the platform owns (framing, Server, Date) set by the platform alone.
 */
import type { InstanceResponse } from '../scheduler/instance.js';
import { HangarError } from '../shared/errors.js';
import { connectionScoped } from '../shared/hop-by-hop.js';

/** What step 6 reads of the instance's answer. */
export type UpstreamResponse = Pick<InstanceResponse, 'status' | 'headers' | 'body' | 'localRedirect'>;

/** A response ready for the client; header names are lower case. */
export interface ClientResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface RewriteOptions {
  method: string;
  maxResponseBytes: number;
  /** The `Server` header's value (the platform's SERVER_SOFTWARE). */
  serverSoftware: string;
}

// Set by the front end itself: Node adds Date, the rest is below.
const platformOwned = new Set(['server', 'date', 'content-length']);
const printableAscii = /^[\t\x20-\x7e]*$/;
const tokenName = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Checks and rewrites the instance's response:
 * - a status outside 200–599 (a final 1xx included, which no client could take as an answer)
 *   is HangarError UPSTREAM_INVALID (502);
 * - a body over `maxResponseBytes` (for HEAD: a declared Content-Length over it) is
 *   RESPONSE_TOO_LARGE, sent as an empty 500;
 * - hop-by-hop headers, those the response's `Connection` names, `Server`, `Date` and headers
 *   with non-ASCII names or values are dropped; `Server` and `Content-Length` are set (none for
 *   204/304, which have no body; HEAD keeps the length GET would have);
 * - no Content-Type becomes `text/html`; with Set-Cookie, Cache-Control becomes `private`
 *   unless it already is private or no-store.
 *
 * @example
 * const out = rewriteResponse(upstream, { method: 'GET', maxResponseBytes: 32 << 20, serverSoftware: 'Hangar/0.1.0' });
 */
export function rewriteResponse(upstream: UpstreamResponse, options: RewriteOptions): ClientResponse {
  const { status } = upstream;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new HangarError(
      'UPSTREAM_INVALID',
      `the instance answered with status ${status}; a final status must be 200-599`,
    );
  }
  const head = options.method === 'HEAD';
  const declared = head ? declaredLength(upstream.headers['content-length']) : undefined;
  const size = declared ?? upstream.body.length;
  if (size > options.maxResponseBytes) {
    throw new HangarError(
      'RESPONSE_TOO_LARGE',
      `the response body has ${size} bytes, more than limits.max_response_bytes (${options.maxResponseBytes}); the client got an empty 500`,
    );
  }

  const skip = connectionScoped(upstream.headers.connection);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || skip.has(name) || platformOwned.has(name) || !tokenName.test(name)) continue;
    if (Array.isArray(value)) {
      const clean = value.filter((v) => printableAscii.test(v));
      if (clean.length > 0) headers[name] = clean;
    } else if (printableAscii.test(value)) {
      headers[name] = value;
    }
  }
  headers.server = options.serverSoftware;
  const bodyless = status === 204 || status === 304;
  if (headers['content-type'] === undefined) headers['content-type'] = 'text/html';
  if (headers['set-cookie'] !== undefined)
    headers['cache-control'] = privateCacheControl(headers['cache-control']);
  if (!bodyless) headers['content-length'] = String(size);
  return { status, headers, body: bodyless || head ? Buffer.alloc(0) : upstream.body };
}

/** Cache-Control with `private` instead of `public`/`s-maxage`, kept as is when already private or no-store. */
export function privateCacheControl(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(', ') : (value ?? '');
  const directives = text
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (directives.some((d) => /^(private|no-store)\b/i.test(d))) return text;
  return ['private', ...directives.filter((d) => !/^(public|s-maxage)\b/i.test(d))].join(', ');
}

function declaredLength(value: string | string[] | undefined): number | undefined {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * `hangar/urlfetch`: URL Fetch's explicit API (SPEC S13), importable from app code without
 * being a dependency. The call is made by the platform's socket service, outside the instance:
 * the destination rules of S12 on the resolved address, ports 80-90, 440-450 and 1024-65535,
 * a 10 MB request and 32 MB response (by default), a deadline (default 5 s, at most 60 s, never
 * past the request's own), at most 5 redirects, certificates checked. Bodies are buffered both
 * ways, as App Engine's URL Fetch did. Each call is a line in the request's log. The global
 * `fetch` and Node's `http`/`https` clients go the same way (unless `GAE_USE_SOCKETS_HTTPLIB`).
 *
 * @example
 * import { fetch } from 'hangar/urlfetch';
 * const res = await fetch('https://api.example.com/items', { deadline: 2, followRedirects: false });
 * if (res.truncated) console.warn('partial answer');
 */
import {
  fetchThroughService,
  replyToResponse,
  setDefaultDeadlineMs,
  type UrlFetchResponse,
} from './client/call.js';

export type { UrlFetchResponse } from './client/call.js';

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

const MAX_DEADLINE_S = 60;

function deadlineMs(seconds: number, what: string): number {
  if (!(seconds > 0) || seconds > MAX_DEADLINE_S) {
    throw new RangeError(
      `urlfetch: ${what} is in seconds (App Engine's unit), more than 0 and at most ${MAX_DEADLINE_S}; got ${seconds}`,
    );
  }
  return Math.round(seconds * 1000);
}

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
  const reply = await fetchThroughService(request, {
    deadlineMs: init.deadline === undefined ? undefined : deadlineMs(init.deadline, 'deadline'),
    followRedirects: init.followRedirects ?? init.redirect !== 'manual',
    validateCertificate: init.validateCertificate ?? true,
    allowTruncated: init.allowTruncated ?? false,
  });
  return replyToResponse(reply, request.method);
}

/**
 * The deadline of every call that does not set its own, in seconds (default 5): the global
 * `fetch` and the `http`/`https` clients too. App Engine's `urlfetch.set_default_fetch_deadline`.
 */
export function setDefaultFetchDeadline(seconds: number): void {
  setDefaultDeadlineMs(deadlineMs(seconds, 'the default deadline'));
}

/**
 * SPEC S5 step 2: the checks Node's HTTP parser leaves to us. llhttp already refuses
 * Content-Length together with Transfer-Encoding, duplicate or malformed Content-Length and a
 * Transfer-Encoding whose last coding is not `chunked` (those reach `clientError`, see
 * early-rejections.ts). It accepts `Transfer-Encoding: gzip, chunked`, Transfer-Encoding on
 * HTTP/1.0, duplicate or missing Host, TRACE, GET with a body, and truncates headers past
 * `maxHeadersCount` while still framing with them: this module refuses all of those.
 */
import type { IncomingMessage } from 'node:http';
import type { PlatformConfig } from '../config/types.js';
import { HangarError } from '../shared/errors.js';

/** The limits step 2 enforces, from the platform config (S15). */
export type FramingLimits = Pick<PlatformConfig['limits'], 'maxRequestBytes' | 'maxHeaderCount'>;

// RFC 3986 reg-name / IPv4 / IP-literal, with an optional port: what a Host header may hold.
const validHost = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;

/**
 * Checks one request's head against S5 step 2 (in this order: header count, method, request
 * target, HTTP version, Host, framing, GET/HEAD body, Content-Length limit, Expect). Returns
 * the HangarError to answer with (its status is the response's), or undefined when the
 * request may go on. Reads `rawHeaders` once, so duplicates are seen; cheap on the happy path.
 *
 * @example
 * const problem = checkFraming(req, platformConfig.limits);
 * if (problem) return reject(problem); // 400, 405, 413, 417 or 431
 */
export function checkFraming(req: IncomingMessage, limits: FramingLimits): HangarError | undefined {
  const raw = req.rawHeaders;
  // The server's maxHeadersCount is set one above the limit, so "more than" is visible here
  // instead of Node silently dropping the surplus (listener.ts).
  if (raw.length >> 1 > limits.maxHeaderCount) {
    return new HangarError(
      'REQUEST_HEADERS_TOO_LARGE',
      `the request has more than limits.max_header_count (${limits.maxHeaderCount}) headers`,
    );
  }
  const method = req.method ?? '';
  if (method === 'TRACE' || method === 'TRACK' || method === 'CONNECT') {
    return new HangarError('METHOD_NOT_ALLOWED', `${method} is not served (S5 step 2)`);
  }
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) {
    return new HangarError(
      'REQUEST_MALFORMED',
      `request target ${truncate(url)} is not a path; only origin-form (/path?query) is served`,
    );
  }
  if (req.httpVersion !== '1.1' && req.httpVersion !== '1.0') {
    return new HangarError('REQUEST_MALFORMED', `HTTP/${req.httpVersion} is not served; use HTTP/1.1`);
  }

  let hosts = 0;
  let host = '';
  let transferEncodings = 0;
  let transferEncoding = '';
  let contentLengths = 0;
  let contentLength = '';
  let expect: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Switch on the length first: most headers are none of these and cost one comparison.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          hosts++;
          host = raw[i + 1]!;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') expect = raw[i + 1]!;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          contentLengths++;
          contentLength = raw[i + 1]!;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          transferEncodings++;
          transferEncoding = raw[i + 1]!;
        }
        break;
    }
  }

  if (hosts === 0) return malformed('the request has no Host header; HTTP/1.1 requires one');
  if (hosts > 1) return malformed(`the request has ${hosts} Host headers; send exactly one`);
  if (!validHost.test(host)) return malformed(`Host header ${truncate(host)} is not a valid host[:port]`);

  if (transferEncodings > 0) {
    if (req.httpVersion === '1.0') return malformed('Transfer-Encoding is not allowed on HTTP/1.0');
    if (transferEncodings > 1 || transferEncoding.trim().toLowerCase() !== 'chunked') {
      return malformed(
        `Transfer-Encoding must be a single 'chunked' (got ${transferEncodings > 1 ? `${transferEncodings} headers` : `'${truncate(transferEncoding)}'`})`,
      );
    }
    if (contentLengths > 0) return malformed('Content-Length and Transfer-Encoding together are ambiguous');
  }
  // llhttp refuses these itself; kept so the rule holds whichever parser runs.
  if (contentLengths > 1) return malformed('the request has more than one Content-Length header');

  const declared = contentLengths === 1 ? Number(contentLength) : 0;
  if ((method === 'GET' || method === 'HEAD') && (transferEncodings > 0 || declared > 0)) {
    return malformed(`${method} requests must not have a body`);
  }
  if (declared > limits.maxRequestBytes) {
    return new HangarError(
      'REQUEST_TOO_LARGE',
      `Content-Length ${contentLength} exceeds limits.max_request_bytes (${limits.maxRequestBytes} bytes)`,
    );
  }
  if (expect !== undefined && expect.trim().toLowerCase() !== '100-continue') {
    return new HangarError(
      'EXPECTATION_FAILED',
      `Expect: ${truncate(expect)} is not supported; only 100-continue is`,
    );
  }
  return undefined;
}

function malformed(message: string): HangarError {
  return new HangarError('REQUEST_MALFORMED', message);
}

/** Client-controlled text in messages is kept short: it lands in logs and terminals. */
function truncate(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 60 ? `${clean.slice(0, 57)}...` : clean;
}

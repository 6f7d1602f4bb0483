import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { checkFraming } from './framing-checks.js';

const limits = { maxRequestBytes: 1000, maxHeaderCount: 5 };

/** The parts of a parsed request the checks read. */
function request(method: string, url: string, headers: Array<[string, string]>, httpVersion = '1.1') {
  return { method, url, httpVersion, rawHeaders: headers.flat() } as unknown as IncomingMessage;
}

const host: [string, string] = ['Host', 'example.com'];

// [what, request, status or undefined (passes), message fragment]
const table: Array<[string, IncomingMessage, number | undefined, string?]> = [
  ['a plain GET', request('GET', '/', [host]), undefined],
  [
    'a POST with Content-Length at the limit',
    request('POST', '/', [host, ['Content-Length', '1000']]),
    undefined,
  ],
  ['a chunked POST', request('POST', '/', [host, ['Transfer-Encoding', 'Chunked']]), undefined],
  ['GET with Content-Length: 0', request('GET', '/', [host, ['content-length', '0']]), undefined],
  [
    'Expect: 100-continue',
    request('POST', '/', [host, ['Expect', '100-Continue'], ['Content-Length', '1']]),
    undefined,
  ],
  ['HTTP/1.0 with Host', request('GET', '/', [host], '1.0'), undefined],
  ['host with port', request('GET', '/', [['host', 'localhost:8080']]), undefined],
  ['IPv6 host', request('GET', '/', [['host', '[::1]:8080']]), undefined],
  [
    'exactly max_header_count headers',
    request('GET', '/', [host, ['a', '1'], ['b', '1'], ['c', '1'], ['d', '1']]),
    undefined,
  ],
  [
    'one header too many',
    request('GET', '/', [host, ['a', '1'], ['b', '1'], ['c', '1'], ['d', '1'], ['e', '1']]),
    431,
    'max_header_count (5)',
  ],
  ['TRACE', request('TRACE', '/', [host]), 405],
  ['TRACK', request('TRACK', '/', [host]), 405],
  ['CONNECT', request('CONNECT', 'example.com:443', [host]), 405],
  ['absolute-form target', request('GET', 'http://example.com/', [host]), 400, 'origin-form'],
  ['asterisk-form target', request('OPTIONS', '*', [host]), 400, 'origin-form'],
  ['HTTP/0.9', request('GET', '/', [host], '0.9'), 400, 'HTTP/0.9'],
  ['no Host', request('GET', '/', []), 400, 'no Host'],
  ['two Host headers', request('GET', '/', [host, ['host', 'evil.example']]), 400, '2 Host headers'],
  ['empty Host', request('GET', '/', [['Host', '']]), 400, 'not a valid host'],
  ['Host with a path', request('GET', '/', [['Host', 'a/b']]), 400, 'not a valid host'],
  [
    'Transfer-Encoding on HTTP/1.0',
    request('POST', '/', [host, ['Transfer-Encoding', 'chunked']], '1.0'),
    400,
    'HTTP/1.0',
  ],
  [
    'Transfer-Encoding: gzip, chunked',
    request('POST', '/', [host, ['Transfer-Encoding', 'gzip, chunked']]),
    400,
    "single 'chunked'",
  ],
  [
    'two Transfer-Encoding headers',
    request('POST', '/', [host, ['Transfer-Encoding', 'chunked'], ['transfer-encoding', 'chunked']]),
    400,
    '2 headers',
  ],
  [
    'Transfer-Encoding with Content-Length',
    request('POST', '/', [host, ['Transfer-Encoding', 'chunked'], ['Content-Length', '3']]),
    400,
    'ambiguous',
  ],
  [
    'duplicate Content-Length',
    request('POST', '/', [host, ['Content-Length', '3'], ['Content-Length', '3']]),
    400,
    'more than one',
  ],
  ['GET with a body', request('GET', '/', [host, ['Content-Length', '3']]), 400, 'must not have a body'],
  [
    'HEAD with a chunked body',
    request('HEAD', '/', [host, ['Transfer-Encoding', 'chunked']]),
    400,
    'must not have a body',
  ],
  [
    'Content-Length over the limit',
    request('PUT', '/', [host, ['Content-Length', '1001']]),
    413,
    'max_request_bytes (1000 bytes)',
  ],
  ['an unknown expectation', request('POST', '/', [host, ['Expect', 'teapot']]), 417, 'only 100-continue'],
];

describe('checkFraming (S5 step 2)', () => {
  it.each(table)('%s', (_what, req, status, fragment) => {
    const problem = checkFraming(req, limits);
    expect(problem?.status).toBe(status);
    if (fragment) expect(problem?.message).toContain(fragment);
  });

  it('keeps client text in messages short and printable', () => {
    const problem = checkFraming(request('GET', '/', [['Host', `${'x'.repeat(100)}\u0001`]]), limits);
    expect(problem?.message).toMatch(/x{57}\.\.\./);
  });
});

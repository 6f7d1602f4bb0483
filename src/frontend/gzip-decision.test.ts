import { describe, expect, it } from 'vitest';
import {
  acceptsGzip,
  GZIP_MIN_BYTES,
  GZIP_SMALL_BYTES,
  type GzipInput,
  gzipLevel,
  shouldGzip,
} from './gzip-decision.js';

const chrome =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const safari =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

const base: GzipInput = {
  method: 'GET',
  status: 200,
  acceptEncoding: 'gzip, deflate, br',
  userAgent: chrome,
  contentType: 'text/html; charset=utf-8',
  contentEncoding: undefined,
  cacheControl: undefined,
  bodyLength: 5000,
};

// [what, changes from `base`, gzip?]
const table: Array<[string, Partial<GzipInput>, boolean]> = [
  ['Chrome, HTML', {}, true],
  ['Safari on iOS, CSS', { userAgent: safari, contentType: 'text/css' }, true],
  ['Firefox, JSON', { userAgent: firefox, contentType: 'application/json' }, true],
  ['JavaScript', { contentType: 'application/javascript; charset=utf-8' }, true],
  ['text/javascript', { contentType: 'text/javascript' }, true],
  ['XML', { contentType: 'application/xml' }, true],
  ['SVG', { contentType: 'image/svg+xml' }, true],
  ['a +json type', { contentType: 'application/vnd.api+json' }, true],
  ['Atom feed', { contentType: 'application/atom+xml' }, true],
  [
    'custom client with gzip in both headers',
    { userAgent: 'my-backup-tool/2.1 (gzip)', acceptEncoding: 'gzip' },
    true,
  ],
  [
    'custom client, gzip only in Accept-Encoding',
    { userAgent: 'my-backup-tool/2.1', acceptEncoding: 'gzip' },
    false,
  ],
  ['curl without --compressed', { userAgent: 'curl/8.5.0', acceptEncoding: undefined }, false],
  ['no User-Agent', { userAgent: undefined }, false],
  ['browser that does not accept gzip', { acceptEncoding: 'br' }, false],
  ['gzip refused with q=0', { acceptEncoding: 'gzip;q=0, br' }, false],
  ['x-gzip alias', { acceptEncoding: 'x-gzip' }, true],
  ['PNG image', { contentType: 'image/png' }, false],
  ['JPEG image', { contentType: 'image/jpeg' }, false],
  ['octet-stream', { contentType: 'application/octet-stream' }, false],
  ['no Content-Type', { contentType: undefined }, false],
  ['already gzip', { contentEncoding: 'gzip' }, false],
  ['already br', { contentEncoding: 'br' }, false],
  ['identity encoding is not an encoding', { contentEncoding: 'identity' }, true],
  ['Cache-Control: no-transform', { cacheControl: 'public, no-transform' }, false],
  ['HEAD', { method: 'HEAD' }, false],
  ['204', { status: 204, bodyLength: 0 }, false],
  ['304', { status: 304, bodyLength: 0 }, false],
  ['404 page', { status: 404 }, true],
  ['tiny body', { bodyLength: 100 }, false],
  ['at the threshold', { bodyLength: GZIP_MIN_BYTES }, true],
  ['just under the threshold', { bodyLength: GZIP_MIN_BYTES - 1 }, false],
];

describe('shouldGzip (S5 step 7)', () => {
  it.each(table)('%s', (_what, changes, expected) => {
    expect(shouldGzip({ ...base, ...changes })).toBe(expected);
  });
});

describe('acceptsGzip', () => {
  it.each([
    ['gzip', true],
    ['GZIP', true],
    ['deflate, gzip;q=0.5', true],
    ['gzip;q=0', false],
    ['gzip; q=0.0', false],
    ['br, deflate', false],
    ['', false],
    ['*', false],
  ])('%j → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});

describe('gzipLevel', () => {
  it("is zlib's default up to 16 KiB and 3 (the fast strategy) above", () => {
    expect(gzipLevel(GZIP_MIN_BYTES)).toBe(6);
    expect(gzipLevel(GZIP_SMALL_BYTES)).toBe(6);
    expect(gzipLevel(GZIP_SMALL_BYTES + 1)).toBe(3);
    expect(gzipLevel(32 * 1024 * 1024)).toBe(3);
  });
});

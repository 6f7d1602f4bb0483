import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BLOCK_BYTES, parseCgiOutput } from './response-parser.js';

const parse = (text: string | Buffer) =>
  parseCgiOutput(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);

describe('parseCgiOutput', () => {
  it('reads a document response with LF or CRLF line ends', () => {
    for (const nl of ['\n', '\r\n']) {
      const result = parse(`Content-Type: text/plain${nl}X-One: 1${nl}${nl}hello${nl}world`);
      expect(result).toEqual({
        kind: 'document',
        status: 200,
        reason: 'OK',
        headers: ['Content-Type', 'text/plain', 'X-One', '1'],
        body: Buffer.from(`hello${nl}world`),
      });
    }
  });

  it('takes Status with or without a reason, and drops it from the headers', () => {
    expect(parse('Status: 404 Not Here\nContent-Type: text/plain\n\nmissing')).toMatchObject({
      kind: 'document',
      status: 404,
      reason: 'Not Here',
      headers: ['Content-Type', 'text/plain'],
    });
    expect(parse('status:503\n\n')).toMatchObject({
      kind: 'document',
      status: 503,
      reason: 'Service Unavailable',
    });
    expect(parse('Status: 299\n\n')).toMatchObject({ status: 299, reason: '' });
  });

  it('keeps repeated headers in order, with the spelling the script used', () => {
    const result = parse('Content-Type: text/html\nset-cookie: a=1\nSet-Cookie: b=2\nX-Empty:\n\n<p>');
    expect(result).toMatchObject({
      headers: ['Content-Type', 'text/html', 'set-cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Empty', ''],
    });
  });

  it('returns a local redirect for a bare Location path, Content-Type tolerated', () => {
    expect(parse('Location: /other/page?x=1\n\n')).toEqual({
      kind: 'local-redirect',
      location: '/other/page?x=1',
    });
    expect(parse('Content-Type: text/html\r\nLocation: /x\r\n\r\n')).toEqual({
      kind: 'local-redirect',
      location: '/x',
    });
  });

  it.each([
    ['an absolute URL', 'Location: https://example.com/a\n\n', 302, 'https://example.com/a'],
    ['a network-path reference', 'Location: //example.com/a\n\n', 302, '//example.com/a'],
    ['a path with Status', 'Status: 301\nLocation: /moved\n\n', 301, '/moved'],
    ['a path with Set-Cookie', 'Location: /home\nSet-Cookie: s=1\n\n', 302, '/home'],
    ['a path with a body', 'Location: /home\nContent-Type: text/plain\n\nsee /home', 302, '/home'],
    [
      'a URL with Status 303',
      'Status: 303 See Other\nLocation: http://a.example/\n\n',
      303,
      'http://a.example/',
    ],
  ])('answers %s as a client redirect', (_, output, status, location) => {
    const result = parse(output);
    expect(result).toMatchObject({ kind: 'client-redirect', status, location });
    if (result.kind === 'client-redirect') expect(result.headers).toContain(location);
  });

  it('keeps a Location with a non-3xx Status as a document (201 Created)', () => {
    expect(parse('Status: 201 Created\nLocation: /items/7\n\n')).toMatchObject({
      kind: 'document',
      status: 201,
      headers: ['Location', '/items/7'],
    });
  });

  it('passes the body through byte for byte, as a view of the output', () => {
    const head = Buffer.from('Content-Type: application/octet-stream\r\n\r\n');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const output = Buffer.concat([head, bytes, bytes]);
    const result = parseCgiOutput(output);
    if (result.kind !== 'document') throw new Error(`expected a document, got ${JSON.stringify(result)}`);
    expect(result.body.equals(Buffer.concat([bytes, bytes]))).toBe(true);
    expect(result.body.buffer).toBe(output.buffer);
  });

  it('reads header values as latin1, byte for byte', () => {
    const result = parse(
      Buffer.from([...Buffer.from('Content-Type: text/plain\nX-L: caf'), 0xe9, 0x0a, 0x0a]),
    );
    expect(result).toMatchObject({ headers: ['Content-Type', 'text/plain', 'X-L', 'café'] });
  });

  it.each([
    ['nothing', '', /wrote nothing to stdout/],
    [
      'a body without headers',
      'hello world\n\n',
      /no header block \(it starts with "hello world"\).*Content-Type: text\/html/,
    ],
    ['a body without any empty line', '<html><body>hi</body></html>', /no header block/],
    [
      'a leading empty line',
      '\nContent-Type: text/plain\n\nx',
      /no header block \(it starts with an empty line\)/,
    ],
    ['NPH output', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nx', /NPH scripts are not supported/],
    ['headers without the empty line', 'Content-Type: text/plain\n', /ends inside its header block/],
    ['headers cut off', 'Content-Type: text/plain\nX-A: 1', /ends inside its header block/],
    [
      'a line without a colon',
      'Content-Type: text/plain\nbroken line\n\nx',
      /line 2 .* malformed: "broken line"/,
    ],
    ['a folded line', 'Content-Type: text/plain\n  folded\n\n', /line 2 .* malformed/],
    ['a CR inside a value', 'Content-Type: text/plain\nX-A: a\rX-B: b\n\n', /line 2 .* malformed/],
    ['a space before the colon', 'Content-Type : text/plain\n\n', /no header block/],
    ['a body without Content-Type', 'Status: 200\n\nhello', /no Content-Type header/],
    ['Status without a code', 'Status: OK\n\n', /Status header is invalid: "OK"/],
    ['a 1xx Status', 'Status: 100 Continue\n\n', /Status header is invalid/],
    ['a four-digit Status', 'Status: 2000\n\n', /Status header is invalid/],
    ['Status twice', 'Status: 200\nStatus: 404\n\n', /sent Status twice/],
    ['Content-Type twice', 'Content-Type: a/b\ncontent-type: c/d\n\n', /sent content-type twice/],
    ['an empty Location', 'Location:\n\n', /empty Location/],
  ])('refuses %s', (_, output, message) => {
    const result = parse(output);
    expect(result.kind).toBe('error');
    if (result.kind === 'error') expect(result.message).toMatch(message);
  });

  it('refuses a header block over 64 KiB, but takes one just under', () => {
    const line = (bytes: number) => `X-Big: ${'a'.repeat(bytes - 8)}\n`;
    const under = parse(`Content-Type: text/plain\n${line(MAX_HEADER_BLOCK_BYTES - 30)}\nbody`);
    expect(under.kind).toBe('document');
    const over = parse(`Content-Type: text/plain\n${line(MAX_HEADER_BLOCK_BYTES)}\nbody`);
    expect(over).toMatchObject({ kind: 'error', message: expect.stringMatching(/longer than 64 KiB/) });
    const endless = parse(`Content-Type: text/plain\n${'X-A: 1\n'.repeat(20_000)}`);
    expect(endless).toMatchObject({ kind: 'error', message: expect.stringMatching(/longer than 64 KiB/) });
  });

  it('names a missing header block also when the first "line" is megabytes of binary', () => {
    const junk = Buffer.alloc(3 * 1024 * 1024, 0xff);
    expect(parseCgiOutput(junk)).toMatchObject({
      kind: 'error',
      message: expect.stringMatching(/no header block/),
    });
  });
});

/** The HTTP side of the egress proxy as a table: request heads, CONNECT targets, answers, dial failures. */
import { describe, expect, it } from 'vitest';
import { httpAnswer, MAX_HEAD_BYTES, parseConnectTarget, parseRequestHead } from './http-wire.js';
import { classifyDialError, HTTP_STATUS, SOCKS_REPLY } from './tunnel.js';

const head = (text: string) => parseRequestHead(Buffer.from(text, 'latin1'));

describe('parseRequestHead', () => {
  it('reads a CONNECT head and leaves what follows it', () => {
    const text = 'CONNECT echo.test:443 HTTP/1.1\r\nHost: echo.test:443\r\nUser-Agent:  curl/8 \r\n\r\n';
    expect(head(`${text}\x16\x03\x01`)).toEqual({
      kind: 'done',
      value: {
        method: 'CONNECT',
        target: 'echo.test:443',
        version: '1.1',
        headers: [
          ['host', 'echo.test:443'],
          ['user-agent', 'curl/8'],
        ],
      },
      size: text.length,
    });
  });

  it('waits for the empty line, skips empty lines before the request line, reads HTTP/1.0', () => {
    expect(head('CONNECT a:1 HTTP/1.1\r\nHost: a')).toEqual({ kind: 'more' });
    expect(head('CONNECT a:1 HTTP/1.1\r\n\r')).toEqual({ kind: 'more' });
    expect(head('\r\n\r\nCONNECT a:1 HTTP/1.0\r\n\r\n')).toMatchObject({
      kind: 'done',
      value: { target: 'a:1', version: '1.0' },
      size: 28,
    });
  });

  it.each([
    ['a request line that is not METHOD TARGET VERSION', 'CONNECT a:1\r\n\r\n', 400],
    ['two spaces', 'CONNECT  a:1 HTTP/1.1\r\n\r\n', 400],
    ['not HTTP at all', '\x16\x03\x01\x02\x00\r\n\r\n', 400],
    ['a header line without a colon', 'CONNECT a:1 HTTP/1.1\r\nHost a\r\n\r\n', 400],
    ['obsolete line folding', 'CONNECT a:1 HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n', 400],
    ['a bare CR in a header', 'CONNECT a:1 HTTP/1.1\r\nX-A: 1\r2\r\n\r\n', 400],
    ['HTTP/2.0', 'CONNECT a:1 HTTP/2.0\r\n\r\n', 505],
    ['HTTP/1.2', 'CONNECT a:1 HTTP/1.2\r\n\r\n', 505],
  ])('%s → %i', (_, text, code) => {
    expect(head(text)).toMatchObject({ kind: 'bad', code });
  });

  it(`answers 431 once ${MAX_HEAD_BYTES} bytes came without the end of the head`, () => {
    const long = `CONNECT a:1 HTTP/1.1\r\nX-Long: ${'x'.repeat(MAX_HEAD_BYTES)}`;
    expect(head(long)).toMatchObject({ kind: 'bad', code: 431 });
    expect(head(`${long}\r\n\r\n`)).toMatchObject({ kind: 'bad', code: 431 });
    expect(parseRequestHead(Buffer.from('CONNECT a:1 HTTP/1.1\r\n\r\n'), 10)).toMatchObject({ code: 431 });
  });
});

describe('parseConnectTarget', () => {
  it.each([
    ['echo.test:443', { host: 'echo.test', port: 443 }],
    ['127.0.0.1:80', { host: '127.0.0.1', port: 80 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::ffff:127.0.0.1]:1', { host: '::ffff:127.0.0.1', port: 1 }],
    ['a:65535', { host: 'a', port: 65_535 }],
    ['echo.test', undefined],
    [':443', undefined],
    ['a:0', undefined],
    ['a:65536', undefined],
    ['a:0x1bb', undefined],
    ['a:+443', undefined],
    ['::1:80', undefined],
    ['[::1]', undefined],
    ['http://a:80', undefined],
    ['user@a:80', undefined],
    ['a/b:80', undefined],
  ])('%s', (target, expected) => {
    expect(parseConnectTarget(target)).toEqual(expected);
  });
});

describe('httpAnswer', () => {
  it('is a complete HTTP/1.1 response with a text body, closing the connection', () => {
    expect(httpAnswer(405, 'no', { Allow: 'CONNECT' }).toString()).toBe(
      'HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n' +
        'Connection: close\r\nAllow: CONNECT\r\n\r\nno\n',
    );
    expect(httpAnswer(403, 'ü').toString()).toContain('Content-Length: 3\r\n');
  });
});

describe('dial failures in both protocols', () => {
  it.each([
    ['EACCES', 'not-allowed', 0x02, 403],
    ['ENETUNREACH', 'network-unreachable', 0x03, 502],
    ['EHOSTUNREACH', 'host-unreachable', 0x04, 502],
    ['ENOTFOUND', 'host-unreachable', 0x04, 502],
    ['ECONNREFUSED', 'refused', 0x05, 502],
    ['ETIMEDOUT', 'timed-out', 0x04, 504],
    ['ERR_SOCKET_BAD_PORT', 'bad-port', 0x01, 400],
    ['EMFILE', 'failed', 0x01, 502],
    ['constructor', 'failed', 0x01, 502],
  ] as const)('%s → %s (SOCKS %i, HTTP %i)', (code, kind, reply, status) => {
    const failure = classifyDialError(Object.assign(new Error(`connect ${code}`), { code }));
    expect(failure).toEqual({ kind, message: `connect ${code}` });
    expect(SOCKS_REPLY[failure.kind]).toBe(reply);
    expect(HTTP_STATUS[failure.kind]).toBe(status);
  });
});

import { describe, expect, it } from 'vitest';
import { type CgiRequest, cgiEnvironment } from './meta-variables.js';

const base: CgiRequest = {
  method: 'GET',
  url: '/cgi-bin/hello.sh/a%20b/c?x=1&y=%20',
  httpVersion: '1.1',
  headers: ['Host', 'example.com:8080', 'Accept', 'text/html'],
  bodyLength: 0,
  remoteAddr: '203.0.113.7',
  https: false,
  serverName: 'example.com',
  serverPort: 8080,
  scriptName: '/cgi-bin/hello.sh',
  pathInfo: '/a%20b/c',
  scriptFilename: '/srv/app/cgi-bin/hello.sh',
};

const env = (overrides: Partial<CgiRequest> = {}) => cgiEnvironment({ ...base, ...overrides });

describe('cgiEnvironment', () => {
  it('sets the RFC 3875 meta-variables that are never NULL', () => {
    expect(env({ serverSoftware: 'Hangar/1.2.3' })).toEqual({
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: 'Hangar/1.2.3',
      SERVER_NAME: 'example.com',
      SERVER_PORT: '8080',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/cgi-bin/hello.sh/a%20b/c?x=1&y=%20',
      QUERY_STRING: 'x=1&y=%20',
      SCRIPT_NAME: '/cgi-bin/hello.sh',
      SCRIPT_FILENAME: '/srv/app/cgi-bin/hello.sh',
      PATH_INFO: '/a b/c',
      REMOTE_ADDR: '203.0.113.7',
      REMOTE_HOST: '203.0.113.7',
      HTTPS: 'off',
      REDIRECT_STATUS: '200',
      HTTP_HOST: 'example.com:8080',
      HTTP_ACCEPT: 'text/html',
    });
  });

  it('leaves NULL meta-variables unset, also when extra has them', () => {
    const result = env({
      extra: { CONTENT_TYPE: '', CONTENT_LENGTH: '', AUTH_TYPE: 'x', REMOTE_USER: 'x', PATH_TRANSLATED: 'x' },
    });
    for (const name of ['CONTENT_TYPE', 'CONTENT_LENGTH', 'AUTH_TYPE', 'REMOTE_USER', 'PATH_TRANSLATED']) {
      expect(result).not.toHaveProperty(name);
    }
    expect(result).not.toHaveProperty('REMOTE_IDENT');
    expect(env({ url: '/cgi-bin/hello.sh', pathInfo: '' })).toMatchObject({
      PATH_INFO: '',
      QUERY_STRING: '',
    });
  });

  it('sets CONTENT_LENGTH to the body length whenever the request has a body, and CONTENT_TYPE as sent', () => {
    const post = env({
      method: 'POST',
      headers: ['Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', '11'],
      bodyLength: 11,
    });
    expect(post).toMatchObject({ CONTENT_LENGTH: '11', CONTENT_TYPE: 'application/x-www-form-urlencoded' });
    expect(post).not.toHaveProperty('HTTP_CONTENT_TYPE');
    expect(post).not.toHaveProperty('HTTP_CONTENT_LENGTH');
    // Chunked on the wire: the length is the buffered body's, not a header's.
    expect(
      env({ method: 'POST', headers: ['Transfer-Encoding', 'chunked'], bodyLength: 5 }).CONTENT_LENGTH,
    ).toBe('5');
    expect(env({ method: 'POST', headers: ['Content-Length', '0'], bodyLength: 0 }).CONTENT_LENGTH).toBe('0');
  });

  it('turns headers into HTTP_* variables: upper case, "-" → "_", repeats joined', () => {
    const result = env({
      headers: [
        'X-Custom-Thing',
        'a',
        'x-custom-thing',
        'b',
        'Cookie',
        'a=1',
        'cookie',
        'b=2',
        'Authorization',
        'Bearer app-token',
      ],
    });
    expect(result).toMatchObject({
      HTTP_X_CUSTOM_THING: 'a, b',
      HTTP_COOKIE: 'a=1; b=2',
      HTTP_AUTHORIZATION: 'Bearer app-token',
    });
  });

  it.each([
    ['a hop-by-hop header', ['Transfer-Encoding', 'chunked', 'Keep-Alive', '5', 'TE', 'trailers'], 'HTTP_TE'],
    ['Proxy-Authorization', ['Proxy-Authorization', 'Basic eA=='], 'HTTP_PROXY_AUTHORIZATION'],
    ['Proxy (httpoxy)', ['Proxy', 'http://evil.example:3128'], 'HTTP_PROXY'],
    [
      'a header the Connection header names',
      ['Connection', 'close, X-Conn-Only', 'X-Conn-Only', '1'],
      'HTTP_X_CONN_ONLY',
    ],
    ['an underscore name', ['X_AppEngine_User_Is_Admin', '1'], 'HTTP_X_APPENGINE_USER_IS_ADMIN'],
    ['a name with a dot', ['X.Dotted', '1'], 'HTTP_X_DOTTED'],
  ])('never passes %s', (_, headers, variable) => {
    const result = env({ headers });
    expect(result).not.toHaveProperty(variable);
    expect(result).not.toHaveProperty('HTTP_CONNECTION');
    expect(result).not.toHaveProperty('HTTP_TRANSFER_ENCODING');
  });

  it('lets request values win over extra, and keeps the rest of extra', () => {
    const result = env({
      https: true,
      extra: {
        HTTPS: 'off',
        REQUEST_METHOD: 'PUT',
        APPLICATION_ID: 'dev~shop',
        SERVER_SOFTWARE: 'Development/0.1',
      },
    });
    expect(result).toMatchObject({
      HTTPS: 'on',
      REQUEST_METHOD: 'GET',
      APPLICATION_ID: 'dev~shop',
      SERVER_SOFTWARE: 'Development/0.1',
    });
    expect(env().SERVER_SOFTWARE).toMatch(/^Hangar\/\d+\.\d+\.\d+/);
  });

  it('maps PATH_INFO into the document root, but not with dot segments', () => {
    expect(env({ documentRoot: '/srv/app/' })).toMatchObject({
      DOCUMENT_ROOT: '/srv/app/',
      PATH_TRANSLATED: '/srv/app/a b/c',
    });
    expect(env({ documentRoot: '/srv/app', pathInfo: '' })).not.toHaveProperty('PATH_TRANSLATED');
    const escaping = env({ documentRoot: '/srv/app', pathInfo: '/%2e%2e/%2E%2E/etc/passwd' });
    expect(escaping.PATH_INFO).toBe('/../../etc/passwd');
    expect(escaping).not.toHaveProperty('PATH_TRANSLATED');
  });

  it('keeps a path part as sent when it does not decode, or decodes to NUL', () => {
    expect(env({ pathInfo: '/bad%ff%zz' }).PATH_INFO).toBe('/bad%ff%zz');
    expect(env({ pathInfo: '/nul%00byte' }).PATH_INFO).toBe('/nul%00byte');
    expect(env({ scriptName: '/cgi%20bin/x.sh' }).SCRIPT_NAME).toBe('/cgi bin/x.sh');
  });

  it('sets REMOTE_USER and AUTH_TYPE when the platform authenticated the user', () => {
    expect(env({ remoteUser: 'ada@example.com', authType: 'Hangar' })).toMatchObject({
      REMOTE_USER: 'ada@example.com',
      AUTH_TYPE: 'Hangar',
    });
  });
});

import { describe, expect, it } from 'vitest';
import type { Handler } from '../config/types.js';
import { secureRedirect } from './secure-redirect.js';

const handler = (secure: Handler['secure'], code: 301 | 302 | 303 | 307 = 302) =>
  ({ secure, redirectHttpResponseCode: code }) as Handler;

describe('secureRedirect (secure: in app.yaml)', () => {
  const ports = { http: 8080, https: 8443 };
  it.each([
    [
      'always over HTTP',
      handler('always'),
      false,
      'localhost:8080',
      { status: 302, location: 'https://localhost:8443/p?q' },
    ],
    [
      'always over HTTP, code 301',
      handler('always', 301),
      false,
      'localhost',
      { status: 301, location: 'https://localhost:8443/p?q' },
    ],
    ['always over HTTPS', handler('always'), true, 'localhost:8443', undefined],
    [
      'never over HTTPS',
      handler('never', 307),
      true,
      'localhost:8443',
      { status: 307, location: 'http://localhost:8080/p?q' },
    ],
    ['never over HTTP', handler('never'), false, 'localhost:8080', undefined],
    ['optional', handler('optional'), false, 'localhost:8080', undefined],
    [
      'IPv6 host',
      handler('always'),
      false,
      '[::1]:8080',
      { status: 302, location: 'https://[::1]:8443/p?q' },
    ],
  ])('%s', (_what, h, https, host, expected) => {
    expect(secureRedirect(h, { https, host, url: '/p?q' }, ports)).toEqual(expected);
  });

  it('omits default ports, and serves as is when there is no HTTPS listener', () => {
    expect(
      secureRedirect(handler('always'), { https: false, host: 'a.test', url: '/' }, { http: 80, https: 443 }),
    ).toEqual({
      status: 302,
      location: 'https://a.test/',
    });
    expect(
      secureRedirect(handler('always'), { https: false, host: 'a.test', url: '/' }, { http: 80 }),
    ).toBeUndefined();
  });
});

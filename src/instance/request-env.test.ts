import { describe, expect, it } from 'vitest';
import { type RequestFacts, requestEnv } from './request-env.js';

function facts(headers: RequestFacts['headers']): RequestFacts {
  return {
    requestId: '01a1fc00000000000011223344556677',
    remoteAddr: '127.0.0.1',
    https: false,
    method: 'GET',
    url: '/account?x=1',
    httpVersion: '1.1',
    headers: { host: 'app.example:8080', ...headers },
  };
}

describe('requestEnv: the signed-in user (S8, S11)', () => {
  it('sets USER_* from the X-AppEngine-User-* headers the front end added', () => {
    const env = requestEnv(
      facts({
        'x-appengine-user-email': 'alice@example.com',
        'x-appengine-user-id': '112233445566778899001',
        'x-appengine-user-nickname': 'alice',
        'x-appengine-user-is-admin': '1',
      }),
    );
    expect(env.USER_EMAIL).toBe('alice@example.com');
    expect(env.USER_ID).toBe('112233445566778899001');
    expect(env.USER_NICKNAME).toBe('alice');
    expect(env.USER_IS_ADMIN).toBe('1');
    // The other S8 variables are still there.
    expect(env.PATH_INFO).toBe('/account');
    expect(env.SERVER_NAME).toBe('app.example');
  });

  it('has empty USER_* and USER_IS_ADMIN 0 when nobody is signed in', () => {
    const env = requestEnv(facts({}));
    expect(env.USER_EMAIL).toBe('');
    expect(env.USER_ID).toBe('');
    expect(env.USER_NICKNAME).toBe('');
    expect(env.USER_IS_ADMIN).toBe('0');
  });

  it.each<[string | string[] | undefined, string]>([
    ['1', '1'],
    ['0', '0'],
    ['true', '0'],
    ['True', '0'],
    ['yes', '0'],
    ['01', '0'],
    [' 1', '0'],
    ['1 ', '0'],
    ['', '0'],
    [['1', '1'], '0'],
    [undefined, '0'],
  ])('USER_IS_ADMIN for x-appengine-user-is-admin %j is %j', (header, expected) => {
    const env = requestEnv(
      facts({ 'x-appengine-user-email': 'alice@example.com', 'x-appengine-user-is-admin': header }),
    );
    expect(env.USER_IS_ADMIN).toBe(expected);
  });
});

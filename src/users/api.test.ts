import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLoginURL, createLogoutURL, getCurrentUser, isCurrentUserAdmin } from './api.js';

const names = [
  'USER_EMAIL',
  'USER_ID',
  'USER_NICKNAME',
  'USER_IS_ADMIN',
  'AUTH_DOMAIN',
  'HTTP_HOST',
  'HTTPS',
];
let saved: Record<string, string | undefined> = {};

/** Sets the variables given (undefined: unset) and unsets the other ones this API reads. */
function env(values: Partial<Record<(typeof names)[number], string>>): void {
  for (const name of names) {
    const value = values[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

beforeEach(() => {
  saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  env({});
});
afterEach(() => {
  for (const name of names) {
    const value = saved[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('getCurrentUser', () => {
  it('is null without USER_EMAIL, or with the empty one of a request nobody signed in for', () => {
    expect(getCurrentUser()).toBeNull();
    env({ USER_EMAIL: '', USER_ID: '', USER_NICKNAME: '', USER_IS_ADMIN: '0' });
    expect(getCurrentUser()).toBeNull();
  });

  it('is the signed-in user', () => {
    env({
      USER_EMAIL: 'alice@example.com',
      USER_ID: '112233445566778899001',
      USER_NICKNAME: 'alice',
      USER_IS_ADMIN: '0',
      AUTH_DOMAIN: 'example.com',
    });
    expect(getCurrentUser()).toEqual({
      email: 'alice@example.com',
      userId: '112233445566778899001',
      nickname: 'alice',
      authDomain: 'example.com',
    });
  });

  it('falls back to the email as nickname and gmail.com as auth domain', () => {
    env({ USER_EMAIL: 'bob@example.com', USER_ID: '1', USER_NICKNAME: '' });
    expect(getCurrentUser()).toEqual({
      email: 'bob@example.com',
      userId: '1',
      nickname: 'bob@example.com',
      authDomain: 'gmail.com',
    });
  });
});

describe('isCurrentUserAdmin', () => {
  it.each<[Partial<Record<string, string>>, boolean]>([
    [{}, false],
    [{ USER_EMAIL: 'a@example.com', USER_IS_ADMIN: '1' }, true],
    [{ USER_EMAIL: 'a@example.com', USER_IS_ADMIN: '0' }, false],
    [{ USER_EMAIL: 'a@example.com', USER_IS_ADMIN: 'true' }, false],
    [{ USER_EMAIL: 'a@example.com' }, false],
    // No user, whatever USER_IS_ADMIN says.
    [{ USER_EMAIL: '', USER_IS_ADMIN: '1' }, false],
    [{ USER_IS_ADMIN: '1' }, false],
  ])('%j → %s', (values, expected) => {
    env(values);
    expect(isCurrentUserAdmin()).toBe(expected);
  });
});

describe('createLoginURL / createLogoutURL', () => {
  it('are absolute on the request host, coming back to dest on it', () => {
    env({ HTTP_HOST: 'host', HTTPS: 'on' });
    expect(createLoginURL('/x')).toBe('https://host/_ah/login?continue=https%3A%2F%2Fhost%2Fx');
    expect(createLogoutURL('/x')).toBe('https://host/_ah/logout?continue=https%3A%2F%2Fhost%2Fx');
    expect(createLoginURL()).toBe('https://host/_ah/login?continue=https%3A%2F%2Fhost%2F');
    expect(createLogoutURL()).toBe('https://host/_ah/logout?continue=https%3A%2F%2Fhost%2F');
    expect(createLoginURL('/a?b=1&c=2')).toBe(
      'https://host/_ah/login?continue=https%3A%2F%2Fhost%2Fa%3Fb%3D1%26c%3D2',
    );
  });

  it('use http unless HTTPS is on, and keep the port of the host', () => {
    env({ HTTP_HOST: 'app.localhost:8080', HTTPS: 'off' });
    expect(createLoginURL('/x')).toBe(
      'http://app.localhost:8080/_ah/login?continue=http%3A%2F%2Fapp.localhost%3A8080%2Fx',
    );
    env({ HTTP_HOST: 'app.localhost:8080' });
    expect(createLogoutURL('/x')).toBe(
      'http://app.localhost:8080/_ah/logout?continue=http%3A%2F%2Fapp.localhost%3A8080%2Fx',
    );
  });

  it('pass an absolute dest as it is', () => {
    env({ HTTP_HOST: 'host', HTTPS: 'on' });
    expect(createLoginURL('https://host/y')).toBe('https://host/_ah/login?continue=https%3A%2F%2Fhost%2Fy');
  });

  it('are relative outside a request (no HTTP_HOST)', () => {
    expect(createLoginURL('/x')).toBe('/_ah/login?continue=%2Fx');
    expect(createLogoutURL('/x')).toBe('/_ah/logout?continue=%2Fx');
    expect(createLoginURL()).toBe('/_ah/login?continue=%2F');
    env({ HTTPS: 'on' });
    expect(createLogoutURL('/x')).toBe('/_ah/logout?continue=%2Fx');
  });
});

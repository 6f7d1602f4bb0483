import { describe, expect, it } from 'vitest';
import type { AuthFailAction, Login } from '../../config/types.js';
import { type GateOutcome, gate } from './login-gate.js';
import type { SessionUser } from './session-cookie.js';

const target = '/admin/page?a=1&b=2';
// encodeURIComponent(target), written out by hand.
const login = '/_ah/login?continue=%2Fadmin%2Fpage%3Fa%3D1%26b%3D2';
const switchUser = `${login}&switch=1`;
const why = 'no sign-in provider: set auth.oidc.issuer (docs/sign-in.md)';

const users: Record<'none' | 'member' | 'admin', SessionUser | undefined> = {
  none: undefined,
  member: { email: 'member@example.com', userId: '100000000000000000001', admin: false },
  admin: { email: 'boss@example.com', userId: '100000000000000000002', admin: true },
};

type Expected =
  | { kind: 'pass' }
  | { kind: 'redirect'; location: string }
  | { kind: 'refuse'; code: string; status: number };

const PASS: Expected = { kind: 'pass' };
const to = (location: string): Expected => ({ kind: 'redirect', location });
const LOGIN_REQUIRED: Expected = { kind: 'refuse', code: 'HANGAR_E_LOGIN_REQUIRED', status: 401 };
const ADMIN_REQUIRED: Expected = { kind: 'refuse', code: 'HANGAR_E_ADMIN_REQUIRED', status: 401 };
const UNAVAILABLE: Expected = { kind: 'refuse', code: 'HANGAR_E_SIGN_IN_UNAVAILABLE', status: 503 };

// login × auth_fail_action × user × whether anyone can sign in; every combination, written out.
const table: Array<[Login, AuthFailAction, keyof typeof users, 'available' | 'unavailable', Expected]> = [
  ['optional', 'redirect', 'none', 'available', PASS],
  ['optional', 'redirect', 'none', 'unavailable', PASS],
  ['optional', 'redirect', 'member', 'available', PASS],
  ['optional', 'redirect', 'member', 'unavailable', PASS],
  ['optional', 'redirect', 'admin', 'available', PASS],
  ['optional', 'redirect', 'admin', 'unavailable', PASS],
  ['optional', 'unauthorized', 'none', 'available', PASS],
  ['optional', 'unauthorized', 'none', 'unavailable', PASS],
  ['optional', 'unauthorized', 'member', 'available', PASS],
  ['optional', 'unauthorized', 'member', 'unavailable', PASS],
  ['optional', 'unauthorized', 'admin', 'available', PASS],
  ['optional', 'unauthorized', 'admin', 'unavailable', PASS],

  ['required', 'redirect', 'none', 'available', to(login)],
  ['required', 'redirect', 'none', 'unavailable', UNAVAILABLE],
  ['required', 'redirect', 'member', 'available', PASS],
  ['required', 'redirect', 'member', 'unavailable', PASS],
  ['required', 'redirect', 'admin', 'available', PASS],
  ['required', 'redirect', 'admin', 'unavailable', PASS],
  ['required', 'unauthorized', 'none', 'available', LOGIN_REQUIRED],
  ['required', 'unauthorized', 'none', 'unavailable', LOGIN_REQUIRED],
  ['required', 'unauthorized', 'member', 'available', PASS],
  ['required', 'unauthorized', 'member', 'unavailable', PASS],
  ['required', 'unauthorized', 'admin', 'available', PASS],
  ['required', 'unauthorized', 'admin', 'unavailable', PASS],

  ['admin', 'redirect', 'none', 'available', to(login)],
  ['admin', 'redirect', 'none', 'unavailable', UNAVAILABLE],
  ['admin', 'redirect', 'member', 'available', to(switchUser)],
  // A session from before the provider was removed still reads; nobody can sign in as an admin.
  ['admin', 'redirect', 'member', 'unavailable', UNAVAILABLE],
  ['admin', 'redirect', 'admin', 'available', PASS],
  ['admin', 'redirect', 'admin', 'unavailable', PASS],
  ['admin', 'unauthorized', 'none', 'available', LOGIN_REQUIRED],
  ['admin', 'unauthorized', 'none', 'unavailable', LOGIN_REQUIRED],
  ['admin', 'unauthorized', 'member', 'available', ADMIN_REQUIRED],
  ['admin', 'unauthorized', 'member', 'unavailable', LOGIN_REQUIRED],
  ['admin', 'unauthorized', 'admin', 'available', PASS],
  ['admin', 'unauthorized', 'admin', 'unavailable', PASS],
];

function observed(outcome: GateOutcome): Expected {
  if (outcome.kind !== 'refuse') return outcome;
  return { kind: 'refuse', code: outcome.error.code, status: outcome.error.status };
}

describe('gate (S11 login: and auth_fail_action:)', () => {
  it('covers every combination once', () => {
    const keys = new Set(table.map((row) => row.slice(0, 4).join(' ')));
    expect(keys.size).toBe(3 * 2 * 3 * 2);
    expect(table).toHaveLength(keys.size);
  });

  it.each(table)(
    'login: %s, auth_fail_action: %s, user %s, sign-in %s',
    (loginKind, action, who, can, want) => {
      const outcome = gate(
        { login: loginKind, authFailAction: action, url: '/admin/.*' },
        users[who],
        target,
        can === 'available' ? undefined : why,
      );
      expect(observed(outcome)).toEqual(want);
      if (outcome.kind !== 'refuse') return;
      const message = outcome.error.message;
      if (can === 'unavailable') {
        // What to configure, as the platform's SignIn said it.
        expect(message).toBe(why);
      } else if (want === ADMIN_REQUIRED) {
        expect(message).toContain('member@example.com');
        expect(message).toContain('/admin/.*');
        expect(message).toContain(switchUser);
      } else {
        expect(message).toContain(target);
        expect(message).toContain('login: ');
        expect(message).toContain(login);
      }
    },
  );

  it('sends the user back to the very target, query included', () => {
    const outcome = gate(
      { login: 'required', authFailAction: 'redirect', url: '/.*' },
      undefined,
      target,
      undefined,
    );
    expect(outcome.kind).toBe('redirect');
    const location = outcome.kind === 'redirect' ? outcome.location : '';
    const query = new URLSearchParams(location.slice(location.indexOf('?') + 1));
    expect(query.get('continue')).toBe(target);
    expect(query.get('switch')).toBeNull();
  });
});

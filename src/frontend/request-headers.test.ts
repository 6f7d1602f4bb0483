import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sanitiseRequestHeaders } from './request-headers.js';
import { traceContext } from './trace-context.js';

const requestId = '01a1fc00000000000011223344556677';

function request(raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return { rawHeaders: raw, headers } as unknown as IncomingMessage;
}

describe('sanitiseRequestHeaders (S5 step 5)', () => {
  it('strips platform, hop-by-hop, Connection-named and encoding headers; adds the front end’s own', () => {
    const req = request([
      'Host',
      'app.example',
      'Accept-Encoding',
      'gzip',
      'X-AppEngine-Country',
      'US',
      'X-Appengine-User-Is-Admin',
      '1',
      'X-Google-Apps-Metadata',
      'x',
      'X-Hangar-Request-Id',
      'forged',
      'Connection',
      'keep-alive, X-Hop, Host',
      'X-Hop',
      'h',
      'TE',
      'trailers',
      'Upgrade',
      'websocket',
      'Expect',
      '100-continue',
      'Content-Length',
      '5',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-For',
      '198.51.100.1',
      'x-forwarded-for',
      '198.51.100.2',
      'Cookie',
      'a=1',
      'X-Kept',
      'yes',
    ]);
    const trace = sanitiseRequestHeaders(req, { requestId, remoteAddr: '127.0.0.1', https: true });
    const names = req.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names).toEqual([
      'Host',
      'Cookie',
      'X-Kept',
      'X-AppEngine-Country',
      'X-Forwarded-For',
      'X-Forwarded-Proto',
      'X-Cloud-Trace-Context',
      'traceparent',
    ]);
    expect(req.headers['x-appengine-country']).toBe('ZZ');
    expect(req.headers['x-forwarded-for']).toBe('198.51.100.1, 198.51.100.2, 127.0.0.1');
    expect(req.headers['x-forwarded-proto']).toBe('https');
    expect(req.headers.connection).toBeUndefined();
    expect(trace.traceId).toBe(requestId);
    expect(req.headers['x-cloud-trace-context']).toBe(`${requestId}/${BigInt(`0x${trace.spanId}`)};o=0`);
    expect(req.headers.traceparent).toBe(`00-${requestId}-${trace.spanId}-00`);
  });

  it('continues a trace the client started, and ignores a trace header it marked connection-scoped', () => {
    const trace = '0af7651916cd43dd8448eb211c80319c';
    const req = request(['Host', 'a', 'X-Cloud-Trace-Context', `${trace.toUpperCase()}/123;o=1`]);
    sanitiseRequestHeaders(req, { requestId, remoteAddr: '::1', https: false });
    expect(req.headers.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    const scoped = request([
      'Host',
      'a',
      'Connection',
      'traceparent',
      'traceparent',
      `00-${trace}-00f067aa0ba902b7-01`,
    ]);
    sanitiseRequestHeaders(scoped, { requestId, remoteAddr: '::1', https: false });
    expect(scoped.headers.traceparent).toMatch(new RegExp(`^00-${requestId}-`));
  });
});

describe('sanitiseRequestHeaders: the signed-in user (S11)', () => {
  const facts = { requestId, remoteAddr: '127.0.0.1', https: false };
  const alice = {
    email: 'alice@example.com',
    userId: '112233445566778899001',
    nickname: 'alice',
    admin: false,
  };

  it('adds the four X-AppEngine-User-* headers for a signed-in user', () => {
    const req = request(['Host', 'a', 'Accept', '*/*']);
    sanitiseRequestHeaders(req, { ...facts, user: alice });
    expect(req.headers['x-appengine-user-email']).toBe('alice@example.com');
    expect(req.headers['x-appengine-user-id']).toBe('112233445566778899001');
    expect(req.headers['x-appengine-user-nickname']).toBe('alice');
    expect(req.headers['x-appengine-user-is-admin']).toBe('0');
    const names = req.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names.filter((name) => /^x-appengine-user-/i.test(name))).toEqual([
      'X-AppEngine-User-Email',
      'X-AppEngine-User-Id',
      'X-AppEngine-User-Nickname',
      'X-AppEngine-User-Is-Admin',
    ]);

    const admin = request(['Host', 'a']);
    sanitiseRequestHeaders(admin, { ...facts, user: { ...alice, admin: true } });
    expect(admin.headers['x-appengine-user-is-admin']).toBe('1');
  });

  it("drops the client's own X-AppEngine-User-* headers, with a user or without", () => {
    const forged = [
      'Host',
      'a',
      'X-AppEngine-User-Email',
      'mallory@example.com',
      'x-appengine-user-id',
      '1',
      'X-AppEngine-User-Nickname',
      'mallory',
      'X-AppEngine-User-Is-Admin',
      '1',
    ];
    const anonymous = request([...forged]);
    sanitiseRequestHeaders(anonymous, facts);
    expect(anonymous.rawHeaders.some((v, i) => i % 2 === 0 && /^x-appengine-user-/i.test(v))).toBe(false);
    expect(anonymous.rawHeaders).not.toContain('mallory@example.com');
    expect(anonymous.headers['x-appengine-user-email']).toBeUndefined();
    expect(anonymous.headers['x-appengine-user-is-admin']).toBeUndefined();

    const signedIn = request([...forged]);
    sanitiseRequestHeaders(signedIn, { ...facts, user: alice });
    expect(signedIn.headers['x-appengine-user-email']).toBe('alice@example.com');
    expect(signedIn.headers['x-appengine-user-id']).toBe('112233445566778899001');
    expect(signedIn.headers['x-appengine-user-is-admin']).toBe('0');
    expect(signedIn.rawHeaders).not.toContain('mallory@example.com');
  });

  it('removes the hangar_session cookie and keeps the others', () => {
    const req = request(['Host', 'a', 'Cookie', 'a=1; hangar_session=abc.def; xhangar_session=2; b=3']);
    sanitiseRequestHeaders(req, { ...facts, user: alice });
    expect(req.headers.cookie).toBe('a=1; xhangar_session=2; b=3');
    expect(req.rawHeaders.join('\n')).not.toContain('abc.def');

    // A cookie whose name only contains hangar_session is not the session.
    const lookalike = request(['Host', 'a', 'Cookie', 'my_hangar_session=1;x=2']);
    sanitiseRequestHeaders(lookalike, facts);
    expect(lookalike.headers.cookie).toBe('my_hangar_session=1; x=2');

    const untouched = request(['Host', 'a', 'Cookie', 'a=1;b=2']);
    sanitiseRequestHeaders(untouched, facts);
    expect(untouched.headers.cookie).toBe('a=1;b=2');
  });

  it("removes the console's hangar_console cookie too (a browser sends it to every port of the admin port's host)", () => {
    const req = request(['Host', 'a', 'Cookie', 'a=1; hangar_console=abc.def; hangar_session=x.y; b=2']);
    sanitiseRequestHeaders(req, facts);
    expect(req.headers.cookie).toBe('a=1; b=2');
    expect(req.rawHeaders.join('\n')).not.toContain('abc.def');

    const only = request(['Host', 'a', 'Cookie', 'hangar_console=abc.def']);
    sanitiseRequestHeaders(only, facts);
    expect(only.headers.cookie).toBeUndefined();
  });

  it('drops a Cookie header that held only the session, and the session in any of several Cookie headers', () => {
    const only = request(['Host', 'a', 'Cookie', 'hangar_session=abc.def']);
    sanitiseRequestHeaders(only, { ...facts, user: alice });
    expect(only.rawHeaders.filter((_, i) => i % 2 === 0)).not.toContain('Cookie');
    expect(only.headers.cookie).toBeUndefined();

    const several = request([
      'Host',
      'a',
      'Cookie',
      'hangar_session=one',
      'Cookie',
      'a=1; hangar_session=two',
    ]);
    sanitiseRequestHeaders(several, facts);
    expect(several.rawHeaders.filter((_, i) => i % 2 === 0).filter((n) => n === 'Cookie')).toHaveLength(1);
    expect(several.headers.cookie).toBe('a=1');
  });
});

describe('traceContext', () => {
  it.each([
    [
      'valid traceparent wins',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'abc',
      '0af7651916cd43dd8448eb211c80319c',
      true,
    ],
    ['all-zero trace id is ignored', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, undefined, requestId, false],
    [
      'unknown traceparent version is ignored',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      undefined,
      requestId,
      false,
    ],
    [
      'cloud trace without options',
      undefined,
      '0af7651916cd43dd8448eb211c80319c/1',
      '0af7651916cd43dd8448eb211c80319c',
      false,
    ],
    ['garbage', 'x', 'y', requestId, false],
  ])('%s', (_what, traceparent, cloud, traceId, sampled) => {
    const t = traceContext(traceparent, cloud, requestId);
    expect(t).toMatchObject({ traceId, sampled });
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe('0000000000000000');
  });

  it('gives every request its own span id', () => {
    const ids = new Set(
      Array.from({ length: 2000 }, () => traceContext(undefined, undefined, requestId).spanId),
    );
    expect(ids.size).toBe(2000);
  });
});

/**
 * URL Fetch in the socket service against real HTTP and HTTPS servers on 127.0.0.1 (a
 * self-signed certificate made with openssl). The policy is serve's strict one with the
 * test's ports in `sockets.allow`, and one loopback port the policy does not allow; the
 * resolver is a table: nothing here looks up a name or leaves 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../platform/tls.js';
import { type PolicyConfig, type Resolver, SocketPolicy } from '../../sockets/policy.js';
import {
  allowedUrlFetchPort,
  performUrlFetch,
  redirectTarget,
  UrlFetchBudget,
  type UrlFetchCall,
  type UrlFetchLimits,
  userAgentFor,
} from './call.js';

const limits: UrlFetchLimits = { maxRequestBytes: 1024, maxResponseBytes: 4096, maxDeadlineMs: 60_000 };
const resolver: Resolver = {
  lookup: async (name) => (name === 'site.test' ? [{ address: '127.0.0.1', family: 4 }] : []),
};

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const hops = Number(url.searchParams.get('hops') ?? 0);
    if (url.pathname === '/redirect') {
      const next = hops > 0 ? `/redirect?hops=${hops - 1}` : '/echo';
      res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: next }).end();
      return;
    }
    if (url.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(5000));
      return;
    }
    if (url.pathname === '/slow') return; // never answers
    if (url.pathname === '/away') {
      // An allowed server sending the caller on to a place the policy refuses.
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        method: req.method,
        path: req.url,
        userAgent: req.headers['user-agent'],
        host: req.headers.host,
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
}

const servers: Array<Server | HttpsServer> = [];
const ports = { http: 0, https: 0, refused: 0 };
let certDir = '';
let policy: SocketPolicy;

async function listen(server: Server | HttpsServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'hangar-urlfetch-'));
  await makeSelfSignedCertificate(join(certDir, 'cert.pem'), join(certDir, 'key.pem'), 1);
  ports.http = await listen(createServer(handler));
  ports.refused = await listen(createServer(handler));
  ports.https = await listen(
    createHttpsServer(
      { cert: readFileSync(join(certDir, 'cert.pem')), key: readFileSync(join(certDir, 'key.pem')) },
      handler,
    ),
  );
  const config: PolicyConfig = {
    mode: 'serve',
    strict: true,
    blocked: [],
    allow: [`127.0.0.1:${ports.http}`, `127.0.0.1:${ports.https}`],
  };
  policy = new SocketPolicy(config);
});

afterAll(() => {
  for (const server of servers) server.close();
  rmSync(certDir, { recursive: true, force: true });
});

function call(url: string, over: Partial<UrlFetchCall> = {}): UrlFetchCall {
  return {
    method: 'GET',
    url,
    headers: [],
    deadlineMs: 5_000,
    followRedirects: true,
    validateCertificate: true,
    allowTruncated: false,
    ...over,
  };
}

const fetchAs = (c: UrlFetchCall, body = Buffer.alloc(0)) =>
  performUrlFetch('shop', c, body, limits, { policy, resolver });

describe('performUrlFetch', () => {
  it('GET and POST with a body, the app named in the User-Agent, through the resolver', async () => {
    const got = await fetchAs(call(`http://site.test:${ports.http}/echo?q=1`));
    expect(got.status).toBe(200);
    const seen = JSON.parse(got.body.toString()) as Record<string, string>;
    expect(seen).toMatchObject({ method: 'GET', path: '/echo?q=1', host: `site.test:${ports.http}` });
    expect(seen.userAgent).toBe('Hangar-URLFetch (+urlfetch; appid: shop)');

    const posted = await fetchAs(
      call(`http://127.0.0.1:${ports.http}/echo`, {
        method: 'POST',
        headers: [['User-Agent', 'my-client/1']],
      }),
      Buffer.from('hello'),
    );
    expect(JSON.parse(posted.body.toString())).toMatchObject({
      method: 'POST',
      body: 'hello',
      userAgent: 'my-client/1 Hangar-URLFetch (+urlfetch; appid: shop)',
    });
  });

  it('follows 5 redirects and refuses the 6th; followRedirects: false returns the 3xx', async () => {
    const five = await fetchAs(call(`http://127.0.0.1:${ports.http}/redirect?hops=4`));
    expect(five).toMatchObject({ status: 200, redirects: 5, url: `http://127.0.0.1:${ports.http}/echo` });
    await expect(fetchAs(call(`http://127.0.0.1:${ports.http}/redirect?hops=5`))).rejects.toMatchObject({
      code: 'ERR_URLFETCH_TOO_MANY_REDIRECTS',
    });
    const first = await fetchAs(
      call(`http://127.0.0.1:${ports.http}/redirect?hops=5`, { followRedirects: false }),
    );
    expect(first.status).toBe(302);
  });

  it('a 303 after a POST goes on as a GET without the body', async () => {
    const got = await fetchAs(
      call(`http://127.0.0.1:${ports.http}/redirect?status=303`, { method: 'POST' }),
      Buffer.from('form'),
    );
    expect(JSON.parse(got.body.toString())).toMatchObject({ method: 'GET', body: '' });
  });

  it('refuses a destination the policy does not allow, naming the address and the rule', async () => {
    const refused = fetchAs(call(`http://127.0.0.1:${ports.refused}/echo`));
    await expect(refused).rejects.toMatchObject({ code: 'EACCES' });
    await expect(refused).rejects.toThrow(/127\.0\.0\.1/);
  });

  it('as an attacker: a redirect from an allowed server to a refused address or port is refused at that hop', async () => {
    const toRefused = encodeURIComponent(`http://127.0.0.1:${ports.refused}/echo`);
    await expect(fetchAs(call(`http://127.0.0.1:${ports.http}/away?to=${toRefused}`))).rejects.toMatchObject({
      code: 'EACCES',
    });
    const toSmtp = encodeURIComponent('http://127.0.0.1:25/');
    await expect(fetchAs(call(`http://127.0.0.1:${ports.http}/away?to=${toSmtp}`))).rejects.toMatchObject({
      code: 'ERR_URLFETCH_BAD_PORT',
    });
    const toFile = encodeURIComponent('file:///etc/passwd');
    await expect(fetchAs(call(`http://127.0.0.1:${ports.http}/away?to=${toFile}`))).rejects.toMatchObject({
      code: 'ERR_URLFETCH_PROTOCOL',
    });
  });

  it('refuses a port outside 80-90, 440-450 and 1024-65535 before dialling', async () => {
    await expect(fetchAs(call('http://site.test:25/'))).rejects.toMatchObject({
      code: 'ERR_URLFETCH_BAD_PORT',
      port: 25,
    });
  });

  it('a response over the limit is an error, or its first bytes with allowTruncated', async () => {
    await expect(fetchAs(call(`http://127.0.0.1:${ports.http}/big`))).rejects.toMatchObject({
      code: 'ERR_URLFETCH_TOO_LARGE',
    });
    const cut = await fetchAs(call(`http://127.0.0.1:${ports.http}/big`, { allowTruncated: true }));
    expect(cut).toMatchObject({ status: 200, truncated: true });
    expect(cut.body.length).toBe(limits.maxResponseBytes);
  });

  it('a request body over the limit is refused', async () => {
    await expect(
      fetchAs(
        call(`http://127.0.0.1:${ports.http}/echo`, { method: 'POST' }),
        Buffer.alloc(limits.maxRequestBytes + 1),
      ),
    ).rejects.toMatchObject({ code: 'ERR_URLFETCH_TOO_LARGE' });
  });

  it('a server slower than the deadline ends the call at the deadline', async () => {
    const started = Date.now();
    await expect(
      fetchAs(call(`http://127.0.0.1:${ports.http}/slow`, { deadlineMs: 300 })),
    ).rejects.toMatchObject({
      code: 'ERR_URLFETCH_DEADLINE',
    });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('refuses a self-signed certificate unless validateCertificate is false', async () => {
    await expect(fetchAs(call(`https://127.0.0.1:${ports.https}/echo`))).rejects.toThrow(
      /certificate of 127\.0\.0\.1 is not valid.*validateCertificate: false/,
    );
    const got = await fetchAs(call(`https://127.0.0.1:${ports.https}/echo`, { validateCertificate: false }));
    expect(JSON.parse(got.body.toString())).toMatchObject({ method: 'GET', path: '/echo' });
  });
});

describe('the rules as pure functions', () => {
  it('allowed ports', () => {
    for (const port of [80, 90, 440, 443, 450, 1024, 8080, 65535])
      expect(allowedUrlFetchPort(port)).toBe(true);
    for (const port of [22, 25, 79, 91, 439, 451, 1023]) expect(allowedUrlFetchPort(port)).toBe(false);
  });

  it('redirect methods', () => {
    expect(redirectTarget('http://a/x', 'POST', 302, '/y')).toEqual({
      url: 'http://a/y',
      method: 'GET',
      dropBody: true,
    });
    expect(redirectTarget('http://a/x', 'PUT', 302, '/y')).toEqual({
      url: 'http://a/y',
      method: 'PUT',
      dropBody: false,
    });
    expect(redirectTarget('http://a/x', 'POST', 307, '/y')).toEqual({
      url: 'http://a/y',
      method: 'POST',
      dropBody: false,
    });
    expect(redirectTarget('http://a/x', 'GET', 200, '/y')).toBeUndefined();
    expect(redirectTarget('http://a/x', 'GET', 301, undefined)).toBeUndefined();
  });

  it('the User-Agent always names the app', () => {
    expect(userAgentFor('shop', undefined)).toBe('Hangar-URLFetch (+urlfetch; appid: shop)');
    expect(userAgentFor('shop', 'axios/1.7')).toBe('axios/1.7 Hangar-URLFetch (+urlfetch; appid: shop)');
  });
});

describe('a caller that goes away', () => {
  it('stops the call at once', async () => {
    const gone = new AbortController();
    const started = Date.now();
    const pending = performUrlFetch(
      'shop',
      call(`http://127.0.0.1:${ports.http}/slow`, { deadlineMs: 30_000 }),
      Buffer.alloc(0),
      limits,
      { policy, resolver },
      { cancel: gone.signal },
    );
    setTimeout(() => gone.abort(), 100);
    await expect(pending).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('the budget of calls in flight', () => {
  it('caps the calls one app has in flight, and frees a slot when one ends', () => {
    const budget = new UrlFetchBudget(1024, 2);
    budget.enter('shop');
    budget.enter('shop');
    expect(() => budget.enter('shop')).toThrow(
      expect.objectContaining({ code: 'ERR_URLFETCH_TOO_MANY_CALLS' }),
    );
    // Another app is not held back by this one.
    budget.enter('blog');
    budget.leave('shop');
    budget.enter('shop');
  });

  it('caps the bodies all calls hold together', () => {
    const budget = new UrlFetchBudget(1000, 10);
    expect(budget.take(600)).toBe(true);
    expect(budget.take(600)).toBe(false);
    budget.give(600);
    expect(budget.take(600)).toBe(true);
    expect(budget.heldBytes).toBe(600);
  });

  it('a response the budget cannot hold fails the call with ERR_URLFETCH_BUSY', async () => {
    const budget = new UrlFetchBudget(1000, 10);
    await expect(
      performUrlFetch(
        'shop',
        call(`http://127.0.0.1:${ports.http}/big`),
        Buffer.alloc(0),
        limits,
        { policy, resolver },
        {
          hold: (bytes) => budget.take(bytes),
        },
      ),
    ).rejects.toMatchObject({ code: 'ERR_URLFETCH_BUSY' });
  });
});

/**
 * URL Fetch's explicit API (`hangar/urlfetch`, S13) end to end: an app under `hangar dev`
 * (strict socket rules, the test's servers in `sockets.allow`) calls HTTP and HTTPS servers
 * the test starts on 127.0.0.1; the socket service makes each call. Nothing leaves loopback.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../src/platform/tls.js';
import { adminGet, type DevServer, startDev } from '../helpers/dev-server.js';
import { httpPeer } from '../helpers/http-peer.js';

const MiB = 2 ** 20;

const peer = httpPeer();
const serve = peer.handle;

const app = `
import { fetch } from 'hangar/urlfetch';
export async function app(request: Request): Promise<Response> {
  const q = new URL(request.url).searchParams;
  const options = JSON.parse(q.get('options') ?? '{}');
  const times = Number(q.get('times') ?? 0);
  if (times > 0) {
    // Many calls at once from one request: what each ended with, counted.
    const settled = await Promise.allSettled(Array.from({ length: times }, () => fetch(q.get('url')!, options)));
    const counts: Record<string, number> = {};
    for (const s of settled) {
      const key = s.status === 'fulfilled' ? String(s.value.status) : String((s.reason as { code?: string }).code);
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return Response.json({ counts });
  }
  try {
    const res = await fetch(q.get('url')!, options);
    const body = await res.arrayBuffer();
    const text = body.byteLength > 1000 ? '' : new TextDecoder().decode(body);
    return Response.json({ status: res.status, bytes: body.byteLength, text, truncated: res.truncated, url: res.url, redirected: res.redirected });
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    return Response.json({ error: { code: e.code, name: e.name, message: e.message } });
  }
}
`;

interface Answer {
  status?: number;
  bytes?: number;
  text?: string;
  truncated?: boolean;
  url?: string;
  redirected?: boolean;
  error?: { code?: string; name?: string; message?: string };
}

const servers: Server[] = [];
const ports = { http: 0, https: 0, refused: 0 };
let dir = '';
let dev: DevServer;

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function call(url: string, options: object = {}): Promise<Answer> {
  const res = await fetch(
    `${dev.url}/?url=${encodeURIComponent(url)}&options=${encodeURIComponent(JSON.stringify(options))}`,
  );
  return (await res.json()) as Answer;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hangar-urlfetch-app-'));
  await makeSelfSignedCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'), 1);
  ports.http = await listen(createServer(serve));
  ports.refused = await listen(createServer(serve));
  ports.https = await listen(
    createHttpsServer(
      { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
      serve,
    ),
  );
  const appDir = join(dir, 'app');
  const dataDir = join(dir, 'data');
  for (const d of [appDir, dataDir]) rmSync(d, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(appDir);
  mkdirSync(dataDir);
  writeFileSync(
    join(appDir, 'app.yaml'),
    'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n',
  );
  writeFileSync(join(appDir, 'main.ts'), app);
  writeFileSync(
    join(dataDir, 'hangar.config.yaml'),
    `limits:\n  request_deadline: 3s\nsockets:\n  allow: ["127.0.0.1:${ports.http}", "127.0.0.1:${ports.https}"]\n`,
  );
  dev = await startDev([appDir], ['--strict-sockets'], { dataDir });
});

afterAll(async () => {
  await dev?.stop();
  for (const server of servers) server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('hangar/urlfetch', () => {
  it('GET and POST through the socket service, the app named in the User-Agent, a line in the log', async () => {
    const got = await call(`http://127.0.0.1:${ports.http}/echo?secret=1`);
    expect(got.status).toBe(200);
    expect(JSON.parse(got.text!)).toMatchObject({
      method: 'GET',
      userAgent: expect.stringMatching(/Hangar-URLFetch \(\+urlfetch; appid: app\)$/),
    });
    const posted = await call(`http://127.0.0.1:${ports.http}/echo`, { method: 'POST', body: 'hello' });
    expect(JSON.parse(posted.text!)).toMatchObject({ method: 'POST', body: 'hello' });
    // The request's log line: method, URL without its query, status, bytes, time.
    await dev.waitFor(
      new RegExp(`URL Fetch GET http://127\\.0\\.0\\.1:${ports.http}/echo 200 \\d+ B [\\d.]+ ms`),
    );
    expect(dev.output()).not.toContain('secret=1');
  });

  it('follows 5 redirects, refuses the 6th', async () => {
    const five = await call(`http://127.0.0.1:${ports.http}/redirect?hops=4`);
    expect(five).toMatchObject({ status: 200, redirected: true, url: `http://127.0.0.1:${ports.http}/echo` });
    const six = await call(`http://127.0.0.1:${ports.http}/redirect?hops=5`);
    expect(six.error?.code).toBe('ERR_URLFETCH_TOO_MANY_REDIRECTS');
  });

  it('a server slower than the deadline: ERR_URLFETCH_DEADLINE; past the request deadline: DeadlineExceededError', async () => {
    const own = await call(`http://127.0.0.1:${ports.http}/slow`, { deadline: 0.3 });
    expect(own.error?.code).toBe('ERR_URLFETCH_DEADLINE');
    // The call's 5 s would outlive the request's 3 s: the request's deadline ends it, and the
    // socket service gives the call up then (the server sees its connection close), not at 5 s.
    const before = peer.slowClosed.length;
    const started = Date.now();
    const cut = await call(`http://127.0.0.1:${ports.http}/slow`);
    expect(cut.error).toMatchObject({ name: 'DeadlineExceededError', code: 'HANGAR_E_DEADLINE_EXCEEDED' });
    while (peer.slowClosed.length === before && Date.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(peer.slowClosed[before]! - started).toBeLessThan(4_500);
  });

  it('a 33 MiB response is an error, or its first 32 MiB with allowTruncated', async () => {
    const refused = await call(`http://127.0.0.1:${ports.http}/huge`);
    expect(refused.error?.code).toBe('ERR_URLFETCH_TOO_LARGE');
    const cut = await call(`http://127.0.0.1:${ports.http}/huge`, { allowTruncated: true });
    expect(cut).toMatchObject({ status: 200, truncated: true, bytes: 32 * MiB });
  });

  it('a self-signed certificate is refused unless validateCertificate is false', async () => {
    const refused = await call(`https://127.0.0.1:${ports.https}/echo`);
    expect(refused.error?.message).toMatch(/certificate of 127\.0\.0\.1 is not valid/);
    const accepted = await call(`https://127.0.0.1:${ports.https}/echo`, { validateCertificate: false });
    expect(accepted.status).toBe(200);
  });

  it('a destination the policy refuses, and a port URL Fetch does not call', async () => {
    const refused = await call(`http://127.0.0.1:${ports.refused}/echo`);
    expect(refused.error?.code).toBe('EACCES');
    expect(refused.error?.message).toContain(`127.0.0.1:${ports.refused}`);
    const port = await call('http://127.0.0.1:25/');
    expect(port.error?.code).toBe('ERR_URLFETCH_BAD_PORT');
  });

  it('calls and bytes are metered per app version (hangar quotas)', async () => {
    type Report = { apps: Array<{ app: string; usage: Record<string, number> }> };
    const usage = async () =>
      (await adminGet<Report>(dev, '/api/quotas')).apps.find((a) => a.app === 'app')?.usage ?? {};
    // The service reports about once a second: wait until what came before is counted.
    const settled = async (want?: (u: Record<string, number>) => boolean) => {
      const deadline = Date.now() + 10_000;
      let last = await usage();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        const now = await usage();
        const done = want ? want(now) : now.urlfetch_calls === last.urlfetch_calls;
        if (done || Date.now() > deadline) return now;
        last = now;
      }
    };
    const before = await settled();
    const got = await call(`http://127.0.0.1:${ports.http}/echo`);
    const posted = await call(`http://127.0.0.1:${ports.http}/echo`, { method: 'POST', body: 'hello' });
    const bytes = got.bytes! + posted.bytes! + 'hello'.length;
    const after = await settled((u) => (u.urlfetch_calls ?? 0) >= (before.urlfetch_calls ?? 0) + 2);
    expect((after.urlfetch_calls ?? 0) - (before.urlfetch_calls ?? 0)).toBe(2);
    expect((after.urlfetch_bytes ?? 0) - (before.urlfetch_bytes ?? 0)).toBe(bytes);
  });

  it('as an attacker: 80 calls at once from one request get 64 in flight, the rest refused at once', async () => {
    const res = await fetch(
      `${dev.url}/?times=80&url=${encodeURIComponent(`http://127.0.0.1:${ports.http}/slow`)}&options=${encodeURIComponent(JSON.stringify({ deadline: 1 }))}`,
    );
    const { counts } = (await res.json()) as { counts: Record<string, number> };
    expect(counts).toEqual({ ERR_URLFETCH_DEADLINE: 64, ERR_URLFETCH_TOO_MANY_CALLS: 16 });
    // Once they are over, the app calls as before.
    expect((await call(`http://127.0.0.1:${ports.http}/echo`)).status).toBe(200);
  });

  it('the platform is unharmed: the instance still serves', async () => {
    const { instances } = await adminGet<{ instances: Array<{ state: string }> }>(dev, '/api/instances');
    expect(instances.some((i) => i.state === 'ready')).toBe(true);
    expect((await call(`http://127.0.0.1:${ports.http}/echo`)).status).toBe(200);
  });
});

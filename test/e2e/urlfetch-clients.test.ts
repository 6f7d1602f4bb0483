/**
 * The HTTP clients apps already use go through URL Fetch by default (S13): the global fetch,
 * `http.get`, `https.get`, axios and node-fetch, unchanged, under `hangar dev` with strict
 * socket rules and the test's servers in `sockets.allow`. `GAE_USE_SOCKETS_HTTPLIB` in
 * `env_variables` switches them to plain sockets. The servers tell which way a call came by
 * its User-Agent: URL Fetch always adds the app's. Nothing leaves 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../src/platform/tls.js';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { httpPeer } from '../helpers/http-peer.js';

const peer = httpPeer();
const serve = peer.handle;

const app = `
import http from 'node:http';
import https from 'node:https';
import axios from 'axios';
import nodeFetch from 'node-fetch';
import { request as undiciRequest } from 'undici';

function get(module: typeof http | typeof https, url: string, options: object = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    module.get(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const clients: Record<string, (url: string) => Promise<string>> = {
  global: async (url) => (await fetch(url)).text(),
  http: (url) => get(http, url),
  https: (url) => get(https, url, { rejectUnauthorized: false }),
  axios: async (url) => JSON.stringify((await axios.get(url)).data),
  axiosPost: async (url) => JSON.stringify((await axios.post(url, { a: 1 })).data),
  httpsAxios: async (url) => JSON.stringify((await axios.get(url, { httpsAgent: new https.Agent({ rejectUnauthorized: false }) })).data),
  nodeFetch: async (url) => (await nodeFetch(url, { method: 'PUT', body: 'put body' })).text(),
  undici: async (url) => (await undiciRequest(url, { method: 'PATCH', body: 'undici body' })).body.text(),
};

export async function app(request: Request): Promise<Response> {
  const q = new URL(request.url).searchParams;
  try {
    return Response.json({ body: await clients[q.get('client')!]!(q.get('url')!) });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return Response.json({ error: { code: e.code, message: e.message } });
  }
}
`;

const servers: Server[] = [];
const ports = { http: 0, https: 0 };
let dir = '';
let viaUrlFetch: DevServer;
let viaSockets: DevServer;
let ownServer: DevServer;

/** An app's own Node server (S4.3, `npm start`'s kind): its global fetch goes through URL Fetch too. */
const server = `
import { createServer } from 'node:http';
createServer(async (req, res) => {
  const target = new URL(req.url, 'http://x').searchParams.get('url');
  const upstream = await fetch(target);
  res.writeHead(200, { 'content-type': 'application/json' }).end(await upstream.text());
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

async function makeOwnServerApp(): Promise<DevServer> {
  const appDir = join(dir, 'own-server');
  const dataDir = join(dir, 'own-server-data');
  mkdirSync(appDir, { recursive: true });
  mkdirSync(dataDir);
  writeFileSync(
    join(appDir, 'app.yaml'),
    'runtime: nodejs20\nentrypoint: node server.mjs\nhandlers:\n  - url: /.*\n    script: auto\n',
  );
  writeFileSync(join(appDir, 'server.mjs'), server);
  writeFileSync(join(dataDir, 'hangar.config.yaml'), `sockets:\n  allow: ["127.0.0.1:${ports.http}"]\n`);
  return startDev([appDir], ['--strict-sockets'], { dataDir });
}

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function makeApp(name: string, env = ''): Promise<DevServer> {
  const appDir = join(dir, name);
  const dataDir = join(dir, `${name}-data`);
  mkdirSync(join(appDir, 'node_modules'), { recursive: true });
  mkdirSync(dataDir);
  // What `npm install axios node-fetch` would give the app, without the network.
  for (const pkg of ['axios', 'node-fetch', 'undici'])
    symlinkSync(join(repoRoot, 'node_modules', pkg), join(appDir, 'node_modules', pkg), 'dir');
  writeFileSync(
    join(appDir, 'app.yaml'),
    `runtime: nodejs20\n${env}handlers:\n  - url: /.*\n    script: main.app\n`,
  );
  writeFileSync(join(appDir, 'main.ts'), app);
  writeFileSync(
    join(dataDir, 'hangar.config.yaml'),
    `sockets:\n  allow: ["127.0.0.1:${ports.http}", "127.0.0.1:${ports.https}"]\n`,
  );
  return startDev([appDir], ['--strict-sockets'], { dataDir });
}

async function use(
  dev: DevServer,
  client: string,
  url: string,
): Promise<{ body?: string; error?: { code?: string; message?: string } }> {
  const res = await fetch(`${dev.url}/?client=${client}&url=${encodeURIComponent(url)}`);
  return (await res.json()) as { body?: string; error?: { code?: string; message?: string } };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hangar-urlfetch-clients-'));
  await makeSelfSignedCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'), 1);
  ports.http = await listen(createServer(serve));
  ports.https = await listen(
    createHttpsServer(
      { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
      serve,
    ),
  );
  [viaUrlFetch, viaSockets, ownServer] = await Promise.all([
    makeApp('clients'),
    makeApp('sockets', 'env_variables:\n  GAE_USE_SOCKETS_HTTPLIB: "1"\n'),
    makeOwnServerApp(),
  ]);
});

afterAll(async () => {
  await Promise.all([viaUrlFetch?.stop(), viaSockets?.stop(), ownServer?.stop()]);
  for (const server of servers) server.close();
  rmSync(dir, { recursive: true, force: true });
});

const urlFetchAgent = /Hangar-URLFetch \(\+urlfetch; appid: clients\)$/;

describe('HTTP clients through URL Fetch, unchanged', () => {
  it.each([
    ['global', 'GET'],
    ['http', 'GET'],
    ['axios', 'GET'],
    ['axiosPost', 'POST'],
    ['nodeFetch', 'PUT'],
    ['undici', 'PATCH'],
  ])('%s', async (client, method) => {
    const got = await use(viaUrlFetch, client, `http://127.0.0.1:${ports.http}/echo`);
    expect(got.error).toBeUndefined();
    const seen = JSON.parse(got.body!) as { method: string; body: string; userAgent: string };
    expect(seen.method).toBe(method);
    expect(seen.userAgent).toMatch(urlFetchAgent);
    if (client === 'axiosPost') expect(JSON.parse(seen.body)).toEqual({ a: 1 });
    if (client === 'nodeFetch') expect(seen.body).toBe('put body');
    if (client === 'undici') expect(seen.body).toBe('undici body');
    await viaUrlFetch.waitFor(
      new RegExp(`URL Fetch ${method} http://127\\.0\\.0\\.1:${ports.http}/echo 200`),
    );
  });

  it('https.get and axios over HTTPS, with the certificate check turned off by the client as usual', async () => {
    for (const client of ['https', 'httpsAxios']) {
      const got = await use(viaUrlFetch, client, `https://127.0.0.1:${ports.https}/echo`);
      expect(got.error, client).toBeUndefined();
      expect((JSON.parse(got.body!) as { userAgent: string }).userAgent).toMatch(urlFetchAgent);
    }
    // Left on, the self-signed certificate is refused, and the client gets URL Fetch's error.
    const refused = await use(viaUrlFetch, 'global', `https://127.0.0.1:${ports.https}/echo`);
    expect(refused.error?.message).toMatch(/certificate of 127\.0\.0\.1 is not valid/);
  });

  it('axios follows redirects itself: each hop is a URL Fetch call that returns the 3xx', async () => {
    const got = await use(viaUrlFetch, 'axios', `http://127.0.0.1:${ports.http}/redirect?hops=2`);
    expect(JSON.parse(got.body!)).toMatchObject({ method: 'GET' });
    await viaUrlFetch.waitFor(new RegExp(`URL Fetch GET http://127\\.0\\.0\\.1:${ports.http}/redirect 302`));
  });

  it('a refused destination reaches the client as its error, with the code', async () => {
    for (const client of ['http', 'axios', 'global']) {
      const got = await use(viaUrlFetch, client, 'http://127.0.0.1:1/echo');
      expect(got.error?.code ?? got.error?.message, client).toMatch(/ERR_URLFETCH_BAD_PORT|port 1 /);
    }
  });
});

describe('GAE_USE_SOCKETS_HTTPLIB', () => {
  it('keeps the HTTP clients on plain sockets (S12): no URL Fetch call, no User-Agent added', async () => {
    for (const client of ['global', 'http', 'axios', 'undici']) {
      const got = await use(viaSockets, client, `http://127.0.0.1:${ports.http}/echo`);
      expect(got.error, client).toBeUndefined();
      expect((JSON.parse(got.body!) as { userAgent: string }).userAgent).not.toMatch(/Hangar-URLFetch/);
    }
    expect(viaSockets.output()).not.toMatch(/URL Fetch /);
  });
});

describe("an app's own server (entrypoint)", () => {
  it('its global fetch goes through URL Fetch, with the line under its request', async () => {
    const res = await fetch(
      `${ownServer.url}/?url=${encodeURIComponent(`http://127.0.0.1:${ports.http}/echo`)}`,
    );
    const seen = (await res.json()) as { userAgent: string };
    expect(seen.userAgent).toMatch(/Hangar-URLFetch \(\+urlfetch; appid: own-server\)$/);
    // Indented under the request's line, not an instance line of the server's.
    await ownServer.waitFor(
      new RegExp(
        `^ {4}\\d\\d:\\d\\d:\\d\\d\\.\\d{3} info +URL Fetch GET http://127\\.0\\.0\\.1:${ports.http}/echo 200`,
        'm',
      ),
    );
  });
});

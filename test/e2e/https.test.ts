/**
 * HTTPS on `hangar dev` (S2 flags, S5 step 1, step 3's `secure:`, S8 HTTPS, S10 secure counters)
 * against real processes and real TLS on loopback.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate } from '../../src/platform/tls.js';
import { adminGet, cli, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { rawRequest } from '../helpers/raw-http.js';

const run = promisify(execFile);
const app = join(repoRoot, 'test/fixtures/pipeline');

interface Usage {
  requests: number;
  secure_requests: number;
  incoming_bytes: number;
  outgoing_bytes: number;
  secure_incoming_bytes: number;
  secure_outgoing_bytes: number;
}

describe('hangar dev --https-port --tls-self-signed', () => {
  let dev: DevServer;
  let httpsUrl: string;
  let ca: Buffer;
  let certFile: string;
  beforeAll(async () => {
    dev = await startDev([app], ['--no-watch', '--https-port', '0', '--tls-self-signed']);
    const [, url, file] = await dev.waitFor(/^ {2}https: (https:\/\/\S+) \(certificate (\S+)\)$/m);
    httpsUrl = url!;
    certFile = file!;
    ca = readFileSync(certFile);
  });
  afterAll(() => dev.stop());

  const tls = () => ({ ca });
  const usage = async () =>
    (await adminGet<{ apps: Array<{ usage: Usage }> }>(dev, '/api/quotas')).apps[0]?.usage;

  it('makes the certificate in the data dir and serves HTTPS with it; the app sees HTTPS=on', async () => {
    expect(certFile).toBe(join(dev.dataDir, 'tls', 'self-signed.crt'));
    const res = await rawRequest(httpsUrl, 'GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n', { tls: tls() });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as {
      https: string;
      url: string;
      headers: Array<[string, string]>;
    };
    expect(echo.https).toBe('on');
    expect(echo.url).toMatch(/^https:\/\//);
    expect(new Map(echo.headers).get('x-forwarded-proto')).toBe('https');
    const plain = await rawRequest(dev.url, 'GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect((JSON.parse(plain.body.toString()) as { https: string }).https).toBe('off');
  });

  it('secure: always redirects HTTP to HTTPS with redirect_http_response_code (302 by default, 301 when set)', async () => {
    const httpsPort = new URL(httpsUrl).port;
    const res = await rawRequest(dev.url, 'GET /secure-always?x=1 HTTP/1.1\r\nHost: localhost:1234\r\n\r\n');
    expect(res.status).toBe(302);
    expect(res.headers.location).toEqual([`https://localhost:${httpsPort}/secure-always?x=1`]);
    const permanent = await rawRequest(dev.url, 'GET /secure-always-301 HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(permanent.status).toBe(301);
    expect(permanent.headers.location).toEqual([`https://localhost:${httpsPort}/secure-always-301`]);
    const served = await rawRequest(httpsUrl, 'GET /secure-always HTTP/1.1\r\nHost: localhost\r\n\r\n', {
      tls: tls(),
    });
    expect(served.status).toBe(200);
    expect(served.body.toString()).toBe('pipeline app at /secure-always');
  });

  it('secure: never redirects HTTPS to HTTP', async () => {
    const httpPort = new URL(dev.url).port;
    const res = await rawRequest(httpsUrl, 'GET /secure-never HTTP/1.1\r\nHost: localhost\r\n\r\n', {
      tls: tls(),
    });
    expect(res.status).toBe(302);
    expect(res.headers.location).toEqual([`http://localhost:${httpPort}/secure-never`]);
    expect((await rawRequest(dev.url, 'GET /secure-never HTTP/1.1\r\nHost: localhost\r\n\r\n')).status).toBe(
      200,
    );
  });

  it('counts HTTPS requests and their bytes as secure, HTTP ones only in the totals', async () => {
    const before = (await usage())!;
    const one = await rawRequest(
      httpsUrl,
      'GET /size?n=1000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      {
        tls: tls(),
        untilClose: true,
      },
    );
    const body = 'x'.repeat(300);
    const two = await rawRequest(
      httpsUrl,
      `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      { tls: tls(), untilClose: true },
    );
    const three = await rawRequest(
      dev.url,
      'GET /size?n=10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      {
        untilClose: true,
      },
    );
    expect([one.status, two.status, three.status]).toEqual([200, 200, 200]);
    let after = (await usage())!;
    // The count lands when the server has finished each response; poll for it, then compare exactly.
    for (let i = 0; i < 100 && after.requests < before.requests + 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = (await usage())!;
    }
    expect(after.requests - before.requests).toBe(3);
    expect(after.secure_requests - before.secure_requests).toBe(2);
    expect(after.secure_incoming_bytes - before.secure_incoming_bytes).toBe(one.sent + two.sent);
    expect(after.secure_outgoing_bytes - before.secure_outgoing_bytes).toBe(one.raw.length + two.raw.length);
    expect(after.incoming_bytes - before.incoming_bytes).toBe(one.sent + two.sent + three.sent);
    expect(after.outgoing_bytes - before.outgoing_bytes).toBe(
      one.raw.length + two.raw.length + three.raw.length,
    );
  });
});

describe('hangar dev --https-port with --tls-cert and --tls-key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-tls-'));
    await makeSelfSignedCertificate(join(dir, 'cert.pem'), join(dir, 'key.pem'), 2);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves HTTPS with the given certificate', async () => {
    const dev = await startDev(
      [app],
      [
        '--no-watch',
        '--https-port',
        '0',
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
      ],
    );
    try {
      const [, url] = await dev.waitFor(/^ {2}https: (https:\/\/\S+) /m);
      const res = await rawRequest(url!, 'GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n', {
        tls: { ca: readFileSync(join(dir, 'cert.pem')) },
      });
      expect(res.status).toBe(200);
    } finally {
      await dev.stop();
    }
  });

  it('refuses flag combinations that cannot work, saying what to pass', async () => {
    const attempt = (args: string[]) =>
      run(process.execPath, [
        cli,
        'dev',
        app,
        '--port',
        '0',
        '--admin-port',
        '0',
        '--data-dir',
        dir,
        ...args,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    const noCert = await attempt(['--https-port', '0']);
    // Flags that do not go together are a usage error (S2: exit 2); an unusable key file is a user error (1).
    expect(noCert.code).toBe(2);
    expect(noCert.stderr).toMatch(
      /--https-port needs a certificate: pass --tls-cert FILE and --tls-key FILE, or --tls-self-signed/,
    );
    const noKey = await attempt(['--https-port', '0', '--tls-cert', join(dir, 'cert.pem')]);
    expect(noKey.stderr).toMatch(/--tls-key is missing/);
    const wrongKey = await attempt([
      '--https-port',
      '0',
      '--tls-cert',
      join(dir, 'cert.pem'),
      '--tls-key',
      join(dir, 'cert.pem'),
    ]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/cannot use --tls-cert .* with --tls-key .*matching PEM private key/);
  });
});

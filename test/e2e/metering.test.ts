/**
 * S10 against a real `hangar dev`: exact request and byte counts after a scripted run, the
 * counts in SQLite under the data dir, `/metrics`, `hangar quotas`, and a daily quota that
 * turns requests away with the app's over_quota page.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, cli, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { type RawResponse, rawRequest } from '../helpers/raw-http.js';

const run = promisify(execFile);
const app = join(repoRoot, 'test/fixtures/pipeline');

interface Report {
  day: string;
  limits: Record<string, number>;
  apps: Array<{ app: string; usage: Record<string, number>; overQuota: string[] }>;
  versions: Array<{ app: string; service: string; version: string; usage: Record<string, number> }>;
}

/** Polls the report until `done` holds (the count lands as each response finishes), at most 5 s. */
async function reportWhen(dev: DevServer, done: (r: Report) => boolean): Promise<Report> {
  let report = await adminGet<Report>(dev, '/api/quotas');
  for (let i = 0; i < 250 && !done(report); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    report = await adminGet<Report>(dev, '/api/quotas');
  }
  return report;
}

describe('metering: exact counts, SQLite, /metrics, hangar quotas', () => {
  let dev: DevServer;
  const counted: Array<RawResponse & { sent: number }> = [];
  beforeAll(async () => {
    dev = await startDev([app], ['--no-watch']);
    const close = 'Connection: close\r\n';
    const requests = [
      `GET /size?n=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`,
      `GET /size?n=12345 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: meter-test\r\n${close}\r\n`,
      `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n${close}\r\nhello world`,
      `POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n${close}\r\n5\r\nhello\r\n0\r\n\r\n`,
      `GET /public/hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`,
      `HEAD /size?n=999 HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`,
      `GET /text?n=4000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\nUser-Agent: Mozilla/5.0\r\n${close}\r\n`,
    ];
    for (const request of requests) {
      counted.push(
        await rawRequest(dev.url, request, { untilClose: true, head: request.startsWith('HEAD') }),
      );
    }
    // Rejected before routing: logged, but it reached no app, so it is not counted.
    await rawRequest(dev.url, `GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n${close}\r\n`, { untilClose: true });
  });
  afterAll(() => dev.stop());

  const n = () => counted.length;
  const sent = () => counted.reduce((sum, r) => sum + r.sent, 0);
  const received = () => counted.reduce((sum, r) => sum + r.raw.length, 0);

  it('/api/quotas shows exactly N requests and the exact byte totals as on the wire', async () => {
    expect(counted.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);
    const report = await reportWhen(dev, (r) => (r.apps[0]?.usage.requests ?? 0) >= n());
    expect(report.day).toBe(new Date().toISOString().slice(0, 10));
    expect(report.apps).toHaveLength(1);
    const { app: name, usage, overQuota } = report.apps[0]!;
    expect(name).toBe('pipeline');
    expect(overQuota).toEqual([]);
    expect(usage.requests).toBe(n());
    expect(usage.incoming_bytes).toBe(sent());
    expect(usage.outgoing_bytes).toBe(received());
    expect(usage.secure_requests).toBe(0);
    expect(usage.secure_incoming_bytes).toBe(0);
    expect(usage.instance_hours).toBeGreaterThan(0);
    expect(report.versions).toEqual([
      { app: 'pipeline', service: 'default', version: 'dev', usage: report.apps[0]!.usage },
    ]);
  });

  it('persists the counts in <data-dir>/hangar.db within a second or so', async () => {
    const db = new Database(join(dev.dataDir, 'hangar.db'), { readonly: true, fileMustExist: true });
    try {
      const read = () =>
        db
          .prepare('SELECT requests, incoming_bytes, outgoing_bytes FROM metering_daily WHERE app = ?')
          .get('pipeline') as
          | { requests: number; incoming_bytes: number; outgoing_bytes: number }
          | undefined;
      let row = read();
      for (let i = 0; i < 150 && (row?.requests ?? 0) < n(); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        row = read();
      }
      expect(row).toEqual({ requests: n(), incoming_bytes: sent(), outgoing_bytes: received() });
    } finally {
      db.close();
    }
  });

  it('exposes Prometheus text at /metrics on the admin port, behind the token', async () => {
    expect((await fetch(`${dev.adminUrl}/metrics`)).status).toBe(401);
    const res = await fetch(`${dev.adminUrl}/metrics`, { headers: { authorization: `Bearer ${dev.token}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE hangar_requests_total counter');
    expect(text).toContain(`hangar_requests_total{app="pipeline",service="default",version="dev"} ${n()}`);
    expect(text).toContain(
      `hangar_incoming_bytes_total{app="pipeline",service="default",version="dev"} ${sent()}`,
    );
    expect(text).toMatch(
      /hangar_instance_seconds_total\{app="pipeline",service="default",version="dev"\} [\d.e-]+/,
    );
    expect(text).toContain(`hangar_quota_usage{app="pipeline",quota="requests"} ${n()}`);
  });

  it('hangar quotas prints the usage; --json prints the API document', async () => {
    const args = [cli, 'quotas', '--server', dev.adminUrl, '--data-dir', dev.dataDir];
    const { stdout } = await run(process.execPath, args);
    expect(stdout).toContain('pipeline');
    expect(stdout).toMatch(new RegExp(`requests\\s+${n()}\\n`));
    const json = JSON.parse((await run(process.execPath, [...args, '--json'])).stdout) as Report;
    expect(json.apps[0]!.usage.requests).toBe(n());
    const viaEnv = await run(
      process.execPath,
      [cli, 'quotas', '--server', dev.adminUrl, '--data-dir', '/nonexistent'],
      {
        env: { ...process.env, HANGAR_TOKEN: dev.token },
      },
    );
    expect(viaEnv.stdout).toContain('pipeline');
    const badDay = await run(process.execPath, [...args, '--day', 'yesterday']).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(badDay).toMatchObject({
      // A flag value of the wrong form is a usage error: exit 2 (S2).
      code: 2,
      stderr: expect.stringMatching(/--day must be a UTC date YYYY-MM-DD/),
    });
  });
});

describe('daily quotas', () => {
  let dev: DevServer;
  let configDir: string;
  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'hangar-quota-config-'));
    writeFileSync(join(configDir, 'hangar.config.yaml'), 'quotas:\n  daily:\n    requests: 3\n');
    dev = await startDev([app], ['--no-watch', '--config', join(configDir, 'hangar.config.yaml')]);
  });
  afterAll(async () => {
    await dev.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('over quota → 503 with the over_quota page; refusals are not counted against it', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${dev.url}/echo`)).status).toBe(200);
    await reportWhen(dev, (r) => (r.apps[0]?.usage.requests ?? 0) >= 3);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${dev.url}/echo`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('text/html');
      expect(await res.text()).toContain('pipeline app: over quota page');
    }
    await dev.waitFor(
      /GET \/echo 503 .* front end \(HANGAR_E_OVER_QUOTA: app pipeline has used up its daily requests quota/,
    );
    const report = await adminGet<Report>(dev, '/api/quotas');
    expect(report.limits).toEqual({ requests: 3 });
    expect(report.apps[0]).toMatchObject({ usage: { requests: 3 }, overQuota: ['requests'] });
  });
});

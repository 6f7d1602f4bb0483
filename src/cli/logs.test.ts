/**
 * `hangar logs` against a small stand-in for the admin API's log endpoints: a real SQLite log
 * store behind `GET /api/logs` and the same filters over a scripted `GET /api/logs/stream`
 * (loopback, port 0). Two apps share it, with the same service and version names.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { matchesQuery, parseLogQuery } from '../logs/query-params.js';
import { SqliteLogStore } from '../logs/sqlite-store.js';
import type { LogEntry, RequestLogRecord } from '../logs/types.js';
import { type Db, openDatabase } from '../shared/database.js';
import { AppColumn, formatEntry, logsParams, runLogs } from './logs.js';

const base = Date.parse('2026-01-01T00:00:00Z');

function record(n: number, appId: string | null): RequestLogRecord {
  return {
    requestId: `${(base + n * 1000).toString(16).padStart(12, '0')}${'0'.repeat(19)}${n % 10}`,
    appId,
    service: 'default',
    version: 'v1',
    instanceId: 'i1',
    startTime: new Date(base + n * 1000).toISOString(),
    latencyMs: 1.5,
    pendingMs: 0,
    method: 'GET',
    resource: `/r/${n}`,
    httpVersion: '1.1',
    status: 200,
    bytesIn: 0,
    bytesOut: 2,
    userAgent: null,
    ip: null,
    host: null,
    loadingRequest: false,
    secure: false,
    error: null,
    split: null,
  };
}

const entry = (n: number, appId: string | null): LogEntry => ({ ...record(n, appId), lines: [] });

let dir: string;
let db: Db;
let server: Server;
let url: string;
/** Query strings the stand-in received, `path?query`. */
let requests: string[];
/** What `GET /api/logs/stream` sends (filtered by the query, as the admin API does) before it ends. */
let streamed: LogEntry[];
let out: string[];
let err: string[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hangar-cli-logs-'));
  db = openDatabase(dir);
  const store = new SqliteLogStore(db);
  await store.append([record(1, 'alpha'), record(2, 'beta'), record(3, 'alpha'), record(4, 'beta')], []);
  requests = [];
  streamed = [];
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const u = new URL(req.url ?? '/', 'http://admin');
    const query = parseLogQuery(u.searchParams);
    if (u.pathname === '/api/logs') {
      store.query(query).then((page) => res.end(JSON.stringify(page)));
    } else {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of streamed) if (matchesQuery(e, query)) res.write(`data: ${JSON.stringify(e)}\n\n`);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise((resolve) => server.close(resolve));
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const printed = () => out.join('').split('\n').filter(Boolean);

describe('hangar logs --app', () => {
  it('sends the app filter as the `app` parameter', () => {
    expect(logsParams({ app: 'alpha', service: 'default' }).toString()).toBe('app=alpha&service=default');
    expect(logsParams({}).toString()).toBe('');
  });

  it('--json prints only that app’s entries, each with its appId', async () => {
    await runLogs({ server: url, token: 't', app: 'beta', json: true });
    expect(requests).toEqual(['/api/logs?app=beta&limit=100']);
    const entries = printed().map((l) => JSON.parse(l) as LogEntry);
    expect(entries.map((e) => [e.appId, e.resource])).toEqual([
      ['beta', '/r/2'],
      ['beta', '/r/4'],
    ]);
  });

  it('the table names the app only when entries of more than one app are shown', async () => {
    await runLogs({ server: url, token: 't' });
    let lines = printed();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('  alpha/default/v1  ');
    expect(lines[1]).toContain('  beta/default/v1  ');
    out = [];
    await runLogs({ server: url, token: 't', app: 'alpha' });
    lines = printed();
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l).toContain('  default/v1  ');
      expect(l).not.toContain('alpha');
    }
  });

  it('--tail: the first entry of a second app turns the app on, with a note on stderr', async () => {
    streamed = [entry(5, 'alpha'), entry(6, 'beta'), entry(7, 'alpha')];
    await runLogs({ server: url, token: 't', app: 'alpha', tail: true });
    // Two from the history, then the stream's two of alpha; none names the app.
    expect(printed().map((l) => /\/r\/\d/.exec(l)?.[0])).toEqual(['/r/1', '/r/3', '/r/5', '/r/7']);
    expect(printed().some((l) => l.includes('alpha'))).toBe(false);
    expect(err.join('')).toBe('');

    db.exec('DELETE FROM request_logs');
    out = [];
    await runLogs({ server: url, token: 't', tail: true });
    expect(printed().map((l) => / (alpha|beta)\/default\/v1 /.exec(l)?.[1] ?? null)).toEqual([
      null,
      'beta',
      'alpha',
    ]);
    expect(err.join('')).toContain('the ones above are all of app alpha');
  });
});

describe('AppColumn', () => {
  it('shows the app for a history of several apps, never with --app', () => {
    expect(new AppColumn(false, [entry(1, 'a'), entry(2, 'a')]).shown).toBe(false);
    expect(new AppColumn(false, [entry(1, 'a'), entry(2, 'b')]).shown).toBe(true);
    expect(new AppColumn(false, [entry(1, 'a'), entry(2, null)]).shown).toBe(true);
    const filtered = new AppColumn(true, [entry(1, 'a'), entry(2, 'b')]);
    expect(filtered.shown).toBe(false);
    expect(filtered.see(entry(3, 'c'))).toBeUndefined();
    expect(filtered.shown).toBe(false);
  });

  it('turns on once, at the first streamed entry of another app', () => {
    const apps = new AppColumn(false, [entry(1, 'a')]);
    expect(apps.see(entry(2, 'a'))).toBeUndefined();
    expect(apps.see(entry(3, 'b'))).toMatch(/the ones above are all of app a\)$/);
    expect(apps.shown).toBe(true);
    expect(apps.see(entry(4, 'c'))).toBeUndefined();
    const empty = new AppColumn(false, []);
    expect(empty.see(entry(1, null))).toBeUndefined();
    expect(empty.see(entry(2, 'a'))).toMatch(/the ones above are all without an app\)$/);
  });

  it('formatEntry puts the app before service/version', () => {
    const e = entry(1, 'shop');
    expect(formatEntry(e, false)).toContain('  default/v1  ');
    expect(formatEntry(e, false, true)).toContain('  shop/default/v1  ');
    expect(formatEntry({ ...e, service: null }, false, true)).toContain('  shop  ');
    expect(formatEntry({ ...e, appId: null }, false, true)).toContain('  default/v1  ');
  });

  it('formatEntry shows the split that picked the version after it, and nothing without one', () => {
    const e = entry(1, 'shop');
    expect(formatEntry({ ...e, version: 'v2', split: 'cookie:v1=0.7,v2=0.3' }, false)).toContain(
      `  default/v2  split=cookie:v1=0.7,v2=0.3  ${e.requestId}`,
    );
    expect(formatEntry(e, false)).not.toContain('split=');
  });
});

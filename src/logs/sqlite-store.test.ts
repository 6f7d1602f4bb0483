import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../shared/database.js';
import { recordsQuery, SqliteLogStore } from './sqlite-store.js';
import type { LogQuery } from './types.js';

const dirs: string[] = [];

/** EXPLAIN QUERY PLAN of the SQL query() runs for `q`, as it runs it. */
function planOf(db: Db, q: LogQuery): string {
  const { sql, params } = recordsQuery(q);
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>)
    .map((r) => r.detail)
    .join('; ');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SqliteLogStore schema migration', () => {
  it('moves the per-line rows of schema 1 into line groups, keeping order, levels and filters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-migrate-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    // A data dir written by schema 1: one row per line.
    db.exec(`
      CREATE TABLE request_logs (
        request_id TEXT PRIMARY KEY, start_time INTEGER NOT NULL, app TEXT, service TEXT, version TEXT,
        instance_id TEXT, latency_ms REAL NOT NULL, pending_ms REAL NOT NULL, method TEXT NOT NULL,
        resource TEXT NOT NULL, http_version TEXT, status INTEGER NOT NULL, bytes_in INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL, user_agent TEXT, ip TEXT, host TEXT, loading INTEGER NOT NULL,
        secure INTEGER NOT NULL, error TEXT) WITHOUT ROWID;
      CREATE INDEX request_logs_start ON request_logs (start_time);
      CREATE INDEX request_logs_service ON request_logs (service, version, request_id);
      CREATE INDEX request_logs_status ON request_logs (status, request_id);
      CREATE TABLE log_lines (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time INTEGER NOT NULL,
        level INTEGER NOT NULL, message TEXT NOT NULL);
      CREATE INDEX log_lines_request ON log_lines (request_id, level);
      CREATE INDEX log_lines_time ON log_lines (time);
      INSERT INTO schema_versions VALUES ('logs', 1);
      INSERT INTO request_logs VALUES ('0001', 1000, 'app', 'default', 'v1', 'i1', 1, 0, 'GET', '/a', '1.1',
        200, 0, 10, 'ua', '127.0.0.1', 'h', 0, 0, NULL);
      INSERT INTO log_lines (request_id, time, level, message) VALUES
        ('0001', 1001, 1, 'first "quoted" line'), ('0001', 1002, 3, 'an error'), ('0001', 1003, 0, 'last');
    `);
    const store = new SqliteLogStore(db);
    const { entries } = await store.query({});
    expect(entries).toHaveLength(1);
    expect(entries[0]!.lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'first "quoted" line'],
      ['error', 'an error'],
      ['debug', 'last'],
    ]);
    expect((await store.query({ minLevel: 'error' })).entries).toHaveLength(1);
    expect((await store.query({ minLevel: 'critical' })).entries).toHaveLength(0);
    // --grep matches the message text itself, quotes included (not its JSON escaping).
    expect((await store.query({ text: '"quoted"' })).entries).toHaveLength(1);
    // Migrated through every later schema too (3: lines kept with their record; 4: the app index;
    // 5: the split, none for the rows written before it; 6: a service's and a version's indexes).
    expect(db.prepare("SELECT version FROM schema_versions WHERE module = 'logs'").pluck().get()).toBe(6);
    expect(entries[0]!.split).toBeNull();
    expect((await store.query({ app: 'app' })).entries).toHaveLength(1);
    expect((await store.query({ app: 'other' })).entries).toHaveLength(0);
    const columns = (index: string) =>
      (db.pragma(`index_info(${index})`) as Array<{ name: string }>).map((c) => c.name);
    expect(columns('request_logs_service')).toEqual(['service', 'request_id']);
    expect(columns('request_logs_version')).toEqual(['version', 'request_id']);
    expect((await store.query({ service: 'default', version: 'v1' })).entries).toHaveLength(1);
    expect((await store.query({ version: 'v2' })).entries).toHaveLength(0);
    db.close();
  });

  it('answers an app filter from the app index, newest first, without sorting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-plan-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    new SqliteLogStore(db);
    const plan = (q: LogQuery) => planOf(db, q);
    expect(plan({ app: 'a' })).toBe('SEARCH r USING INDEX request_logs_app (app=?)');
    expect(plan({ app: 'a', service: 'default' })).toBe('SEARCH r USING INDEX request_logs_app (app=?)');
    expect(plan({ app: 'a', since: 0 })).toBe('SEARCH r USING INDEX request_logs_app (app=?)');
    db.close();
  });

  it('walks the narrowest of app, service and version newest first, never sorting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-plan-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    new SqliteLogStore(db);
    const plan = (q: LogQuery) => planOf(db, q);
    const byService = 'SEARCH r USING INDEX request_logs_service (service=?)';
    const byVersion = 'SEARCH r USING INDEX request_logs_version (version=?)';
    const byApp = 'SEARCH r USING INDEX request_logs_app (app=?)';
    // Before schema 6 a service alone sorted all its rows, and a version alone walked the table.
    expect(plan({ service: 'default' })).toBe(byService);
    expect(plan({ service: 'default', since: 0 })).toBe(byService);
    expect(plan({ version: 'v1' })).toBe(byVersion);
    expect(plan({ version: 'v1', until: 1 })).toBe(byVersion);
    expect(plan({ version: 'v1', cursor: 'f' })).toBe(
      'SEARCH r USING INDEX request_logs_version (version=? AND request_id<?)',
    );
    // A version is narrower than an app or a service, an app than a service (every app has a `default`).
    expect(plan({ service: 'default', version: 'v1' })).toBe(byVersion);
    expect(plan({ app: 'a', version: 'v1' })).toBe(byVersion);
    expect(plan({ app: 'a', service: 'default', version: 'v1' })).toBe(byVersion);
    expect(plan({ app: 'a', service: 'default' })).toBe(byApp);
    expect(plan({ app: 'a', service: 'default', cursor: 'f' })).toBe(
      'SEARCH r USING INDEX request_logs_app (app=? AND request_id<?)',
    );
    // A status keeps its own index, as before (errors are few).
    expect(plan({ status: 500, version: 'v1' })).toBe('SEARCH r USING INDEX request_logs_status (status=?)');
    expect(plan({})).toBe('SCAN r');
    expect(plan({ requestId: 'abc' })).toBe('SEARCH r USING PRIMARY KEY (request_id=?)');
    db.close();
  });

  it('answers app, service, version and status filters as a filter of every record would', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-filters-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new SqliteLogStore(db);
    const start = Date.parse('2026-12-05T20:00:00.000Z');
    const apps = ['a', 'b'];
    const services = ['default', 'api', 'worker'];
    const versions = ['v1', 'v2', 'v3', 'v4'];
    const statuses = [200, 404, 500];
    const records = Array.from({ length: 600 }, (_, i) => ({
      requestId: String(i).padStart(8, '0'),
      startTime: new Date(start + i).toISOString(),
      appId: apps[(i * 7) % 2]!,
      service: services[(i * 5) % 3]!,
      version: versions[(i * 3 + Math.floor(i / 100)) % 4]!,
      instanceId: 'i1',
      latencyMs: 1,
      pendingMs: 0,
      method: 'GET',
      resource: '/',
      httpVersion: '1.1',
      status: statuses[(i * 11) % 3]!,
      bytesIn: 0,
      bytesOut: 10,
      userAgent: null,
      ip: null,
      host: null,
      loadingRequest: false,
      secure: false,
      error: null,
      split: null,
    }));
    await store.append(records, []);
    const filters: LogQuery[] = [];
    for (const app of [undefined, 'a'])
      for (const service of [undefined, 'api'])
        for (const version of [undefined, 'v3'])
          for (const status of [undefined, 500])
            filters.push({
              ...(app ? { app } : {}),
              ...(service ? { service } : {}),
              ...(version ? { version } : {}),
              ...(status ? { status } : {}),
            });
    for (const q of filters) {
      const expected = records
        .filter(
          (r) =>
            (q.app === undefined || r.appId === q.app) &&
            (q.service === undefined || r.service === q.service) &&
            (q.version === undefined || r.version === q.version) &&
            (q.status === undefined || r.status === q.status),
        )
        .map((r) => r.requestId);
      // Page by page, newest first, as the console reads it.
      const got: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.query({ ...q, limit: 7, ...(cursor ? { cursor } : {}) });
        got.unshift(...page.entries.map((e) => e.requestId));
        cursor = page.next ?? undefined;
      } while (cursor);
      expect(got, JSON.stringify(q)).toEqual(expected);
    }
    db.close();
  });
});

describe('SqliteLogStore trimming to max_bytes', () => {
  it('deletes the oldest in short transactions and lets other work run between them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-trim-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    const store = new SqliteLogStore(db);
    const start = Date.parse('2026-12-05T20:00:00.000Z');
    // 4,000 requests with ~2 KB of lines each: ~8 MB, trimmed to 2 MiB in several steps.
    const message = 'x'.repeat(2000);
    const records = Array.from({ length: 4000 }, (_, i) => ({
      requestId: String(i).padStart(8, '0'),
      startTime: new Date(start + i).toISOString(),
      appId: 'app',
      service: 'default',
      version: 'v1',
      instanceId: 'i1',
      latencyMs: 1,
      pendingMs: 0,
      method: 'GET',
      resource: '/',
      httpVersion: '1.1',
      status: 200,
      bytesIn: 0,
      bytesOut: 10,
      userAgent: null,
      ip: '127.0.0.1',
      host: 'h',
      loadingRequest: false,
      secure: false,
      error: null,
      split: null,
      storedLines: { json: JSON.stringify([[start + i, 1, message]]), maxLevel: 1 },
    }));
    await store.append(records, []);
    let between = 0;
    const tick = () => {
      between++;
      if (!done) setImmediate(tick);
    };
    let done = false;
    setImmediate(tick);
    const deleted = await store.prune({ maxAgeMs: 2 ** 40, maxBytes: 2 * 1024 * 1024 }, start + 10_000);
    done = true;
    const live =
      ((db.pragma('page_count', { simple: true }) as number) -
        (db.pragma('freelist_count', { simple: true }) as number)) *
      (db.pragma('page_size', { simple: true }) as number);
    expect(live).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(deleted).toBeGreaterThan(2000);
    // Several steps, each followed by a turn of the event loop in which the other work ran.
    expect(between).toBeGreaterThan(2);
    const { entries } = await store.query({ limit: 1000 });
    // What is left is the newest, without a gap.
    expect(entries.at(-1)!.requestId).toBe('00003999');
    expect(entries[0]!.requestId).toBe(String(4000 - entries.length).padStart(8, '0'));
    db.close();
  });
});

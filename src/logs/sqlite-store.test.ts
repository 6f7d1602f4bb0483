import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../shared/database.js';
import { SqliteLogStore } from './sqlite-store.js';

const dirs: string[] = [];
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
      CREATE TABLE log_lines (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time INTEGER NOT NULL,
        level INTEGER NOT NULL, message TEXT NOT NULL);
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
    // 5: the split, none for the rows written before it).
    expect(db.prepare("SELECT version FROM schema_versions WHERE module = 'logs'").pluck().get()).toBe(5);
    expect(entries[0]!.split).toBeNull();
    expect((await store.query({ app: 'app' })).entries).toHaveLength(1);
    expect((await store.query({ app: 'other' })).entries).toHaveLength(0);
    db.close();
  });

  it('answers an app filter from the app index, newest first, without sorting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-logs-plan-'));
    dirs.push(dir);
    const db = openDatabase(dir);
    new SqliteLogStore(db);
    const plan = (where: string) =>
      (
        db
          .prepare(
            `EXPLAIN QUERY PLAN SELECT r.* FROM request_logs r WHERE ${where} ORDER BY r.request_id DESC LIMIT 101`,
          )
          .all() as Array<{ detail: string }>
      )
        .map((r) => r.detail)
        .join('; ');
    expect(plan("r.app = 'a'")).toBe('SEARCH r USING INDEX request_logs_app (app=?)');
    expect(plan("r.app = 'a' AND r.service = 'default'")).toBe(
      'SEARCH r USING INDEX request_logs_app (app=?)',
    );
    expect(plan("r.app = 'a' AND r.start_time >= 0")).toBe('SEARCH r USING INDEX request_logs_app (app=?)');
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

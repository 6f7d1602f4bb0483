/**
 * The LogStore conformance suite: every store implementation runs these same cases (the
 * undici cache-store pattern), each opened as the log worker opens it (open-store.ts): SQLite on
 * a real file in a temp dir, and PostgreSQL in a fresh database per test (test/helpers/postgres.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import { type LogStoreLocation, type OpenedLogStore, openLogStore } from './open-store.js';
import type { LogStore } from './store.js';
import type { RequestLogRecord, StoredLine } from './types.js';

interface Harness {
  store: LogStore;
  /** The opener's `storedIds` for the store. */
  storedIds(ids: readonly string[]): Promise<Set<string>>;
  /** Closes and opens the store again on the same storage. */
  reopen(): Promise<LogStore>;
  cleanup(): Promise<void>;
}

const base = Date.parse('2026-01-01T00:00:00Z');

function record(n: number, over: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    requestId: `${(base + n * 1000).toString(16).padStart(12, '0')}000000${'0'.repeat(13)}${n % 10}`,
    appId: 'app',
    service: 'default',
    version: 'v1',
    instanceId: 'i1',
    startTime: new Date(base + n * 1000).toISOString(),
    latencyMs: 1.5,
    pendingMs: 0,
    method: 'GET',
    resource: `/r/${n}?q=1`,
    httpVersion: '1.1',
    status: 200,
    bytesIn: 10,
    bytesOut: 20,
    userAgent: 'ua',
    ip: '127.0.0.1',
    host: 'localhost',
    loadingRequest: false,
    secure: false,
    error: null,
    split: null,
    ...over,
  };
}

function line(r: RequestLogRecord, level: StoredLine['level'], message: string): StoredLine {
  return { requestId: r.requestId, time: r.startTime, level, message };
}

export function describeLogStore(name: string, make: () => Promise<Harness>): void {
  describe(`LogStore conformance: ${name}`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(() => h.cleanup());

    it('round-trips a record with its lines in order, newest entry last', async () => {
      const a = record(1);
      const b = record(2, { loadingRequest: true, secure: true, error: 'HANGAR_E_X: why' });
      await h.store.append(
        [b, a],
        [line(a, 'info', 'one'), line(a, 'error', 'two'), line(a, 'debug', 'three')],
      );
      const page = await h.store.query({});
      expect(page.entries.map((e) => e.requestId)).toEqual([a.requestId, b.requestId]);
      expect(page.entries[0]!.lines.map((l) => [l.level, l.message])).toEqual([
        ['info', 'one'],
        ['error', 'two'],
        ['debug', 'three'],
      ]);
      expect(page.entries[1]).toEqual({ ...b, lines: [] });
      expect(page.next).toBeNull();
    });

    it('round-trips the split that picked the version, and none (null)', async () => {
      const a = record(1, { version: 'v2', split: 'cookie:v1=0.7,v2=0.3' });
      const b = record(2);
      await h.store.append([a, b], []);
      const page = await h.store.query({});
      expect(page.entries).toEqual([
        { ...a, lines: [] },
        { ...b, lines: [] },
      ]);
      expect(page.entries.map((e) => e.split)).toEqual(['cookie:v1=0.7,v2=0.3', null]);
      const again = await h.reopen();
      expect((await again.query({ requestId: a.requestId })).entries[0]?.split).toBe('cookie:v1=0.7,v2=0.3');
    });

    it('joins lines that arrive before or after their record', async () => {
      const a = record(1);
      await h.store.append([], [line(a, 'info', 'early')]);
      await h.store.append([a], []);
      await h.store.append([], [line(a, 'warning', 'late')]);
      const [entry] = (await h.store.query({ requestId: a.requestId })).entries;
      expect(entry!.lines.map((l) => l.message)).toEqual(['early', 'late']);
    });

    it('keeps the lines a record carries, then its late lines; filters see both', async () => {
      const a = record(1);
      const b = record(2);
      const { requestId: _, ...first } = line(a, 'info', 'carried "first"');
      const { requestId: __, ...second } = line(a, 'warning', 'carried second');
      await h.store.append([{ ...a, lines: [first, second] }, b], []);
      await h.store.append([], [line(a, 'critical', 'late one')]);
      const page = await h.store.query({});
      expect(page.entries[0]!.lines.map((l) => [l.level, l.message])).toEqual([
        ['info', 'carried "first"'],
        ['warning', 'carried second'],
        ['critical', 'late one'],
      ]);
      expect(page.entries[0]!.lines[0]!.time).toBe(a.startTime);
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ minLevel: 'warning' })).toEqual([a.requestId]);
      expect(await ids({ minLevel: 'critical' })).toEqual([a.requestId]);
      expect(await ids({ text: '"first"' })).toEqual([a.requestId]);
      expect(await ids({ text: 'late one' })).toEqual([a.requestId]);
      await h.store.append([{ ...b, requestId: record(3).requestId, lines: [first] }], []);
      expect(await ids({ minLevel: 'warning' })).toEqual([a.requestId]);
    });

    it('keeps lines that come in the stored form (epoch ms times), then late lines; filters see them', async () => {
      const a = record(1);
      const t = Date.parse(a.startTime);
      const json = JSON.stringify([
        [t, 1, 'packed "first"'],
        [t + 1, 3, 'packed second'],
      ]);
      await h.store.append([{ ...a, storedLines: { json, maxLevel: 3 } }, record(2)], []);
      await h.store.append([], [line(a, 'debug', 'late one')]);
      const [entry] = (await h.store.query({ requestId: a.requestId })).entries;
      expect(entry!.lines).toEqual([
        { time: a.startTime, level: 'info', message: 'packed "first"' },
        { time: new Date(t + 1).toISOString(), level: 'error', message: 'packed second' },
        { time: a.startTime, level: 'debug', message: 'late one' },
      ]);
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ minLevel: 'error' })).toEqual([a.requestId]);
      expect(await ids({ minLevel: 'critical' })).toEqual([]);
      expect(await ids({ text: 'packed "first"' })).toEqual([a.requestId]);
    });

    it('reads runs (lines of one millisecond and level share one entry) beside single lines', async () => {
      const a = record(1);
      const t = Date.parse(a.startTime);
      const json = JSON.stringify([
        [t, 1, 'run one', 'run two', 'run three'],
        [t + 2, 0, 'single'],
      ]);
      await h.store.append([{ ...a, storedLines: { json, maxLevel: 1 } }, record(2)], []);
      const [entry] = (await h.store.query({ requestId: a.requestId })).entries;
      expect(entry!.lines).toEqual([
        { time: a.startTime, level: 'info', message: 'run one' },
        { time: a.startTime, level: 'info', message: 'run two' },
        { time: a.startTime, level: 'info', message: 'run three' },
        { time: new Date(t + 2).toISOString(), level: 'debug', message: 'single' },
      ]);
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      // A message in the middle of a run is found; a run's time and level are not messages.
      expect(await ids({ text: 'run two' })).toEqual([a.requestId]);
      expect(await ids({ text: 'single' })).toEqual([a.requestId]);
      expect(await ids({ text: String(t) })).toEqual([]);
      expect(await ids({ minLevel: 'info' })).toEqual([a.requestId]);
    });

    it('filters by service, version, status, since/until, request id', async () => {
      const rs = [
        record(1),
        record(2, { service: 'api', status: 404 }),
        record(3, { version: 'v2', status: 500 }),
      ];
      await h.store.append(rs, []);
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ service: 'api' })).toEqual([rs[1]!.requestId]);
      expect(await ids({ version: 'v2' })).toEqual([rs[2]!.requestId]);
      expect(await ids({ status: 404 })).toEqual([rs[1]!.requestId]);
      expect(await ids({ since: base + 2000 })).toEqual([rs[1]!.requestId, rs[2]!.requestId]);
      expect(await ids({ until: base + 2000 })).toEqual([rs[0]!.requestId]);
      expect(await ids({ requestId: rs[2]!.requestId })).toEqual([rs[2]!.requestId]);
      expect(await ids({ service: 'none' })).toEqual([]);
    });

    it('keeps apps apart: two apps with the same service and version names each see only their own', async () => {
      // Interleaved in time, as when two apps share one serve.
      const rs = Array.from({ length: 8 }, (_, i) =>
        record(i + 1, {
          appId: i % 2 === 0 ? 'alpha' : 'beta',
          status: i < 4 ? 200 : 500,
          resource: `/shared/${i + 1}`,
        }),
      );
      const alpha = rs.filter((r) => r.appId === 'alpha').map((r) => r.requestId);
      const beta = rs.filter((r) => r.appId === 'beta').map((r) => r.requestId);
      const { requestId: _, ...carried } = line(rs[0]!, 'error', 'same message in both apps');
      await h.store.append(
        rs.map((r) => ({ ...r, lines: [{ ...carried, time: r.startTime }] })),
        rs.map((r) => line(r, 'info', `late ${r.appId}`)),
      );
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ app: 'alpha' })).toEqual(alpha);
      expect(await ids({ app: 'beta' })).toEqual(beta);
      expect(await ids({ app: 'gamma' })).toEqual([]);
      expect(await ids({})).toEqual(rs.map((r) => r.requestId));
      // Every other filter narrows within the app, never across.
      expect(await ids({ app: 'alpha', service: 'default', version: 'v1' })).toEqual(alpha);
      expect(await ids({ app: 'beta', service: 'default' })).toEqual(beta);
      expect(await ids({ app: 'alpha', status: 500 })).toEqual(alpha.slice(2));
      expect(await ids({ app: 'beta', minLevel: 'error' })).toEqual(beta);
      expect(await ids({ app: 'alpha', text: 'same message' })).toEqual(alpha);
      expect(await ids({ app: 'alpha', text: '/shared/' })).toEqual(alpha);
      expect(await ids({ app: 'alpha', text: 'late beta' })).toEqual([]);
      expect(await ids({ app: 'beta', requestId: alpha[0] })).toEqual([]);
      expect(await ids({ app: 'beta', since: base + 5000 })).toEqual(beta.slice(2));
      // An app's entries carry its own lines only.
      const { entries } = await h.store.query({ app: 'beta' });
      expect(entries.every((e) => e.appId === 'beta')).toBe(true);
      expect(entries.map((e) => e.lines.map((l) => l.message))).toEqual(
        beta.map(() => ['same message in both apps', 'late beta']),
      );
      // Pages of one app hold only that app's entries, down to the last.
      const first = await h.store.query({ app: 'alpha', limit: 3 });
      expect(first.entries.map((e) => e.requestId)).toEqual(alpha.slice(1));
      const second = await h.store.query({ app: 'alpha', limit: 3, cursor: first.next! });
      expect(second.entries.map((e) => e.requestId)).toEqual(alpha.slice(0, 1));
      expect(second.next).toBeNull();
    });

    it('min level keeps requests with a line at that level or above; text matches resource and lines', async () => {
      const a = record(1);
      const b = record(2, { resource: '/needle' });
      await h.store.append([a, b], [line(a, 'error', 'a haystack with a needle'), line(b, 'info', 'x')]);
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ minLevel: 'warning' })).toEqual([a.requestId]);
      expect(await ids({ minLevel: 'error' })).toEqual([a.requestId]);
      expect(await ids({ minLevel: 'critical' })).toEqual([]);
      expect(await ids({ minLevel: 'debug' })).toEqual([a.requestId, b.requestId]);
      expect(await ids({ text: 'needle' })).toEqual([a.requestId, b.requestId]);
      expect(await ids({ text: 'haystack' })).toEqual([a.requestId]);
      expect(await ids({ text: 'NEEDLE' })).toEqual([]);
    });

    it('pages newest first with a cursor, each page newest last', async () => {
      const rs = Array.from({ length: 5 }, (_, i) => record(i + 1));
      await h.store.append(rs, []);
      const first = await h.store.query({ limit: 2 });
      expect(first.entries.map((e) => e.requestId)).toEqual([rs[3]!.requestId, rs[4]!.requestId]);
      const second = await h.store.query({ limit: 2, cursor: first.next! });
      expect(second.entries.map((e) => e.requestId)).toEqual([rs[1]!.requestId, rs[2]!.requestId]);
      const third = await h.store.query({ limit: 2, cursor: second.next! });
      expect(third.entries.map((e) => e.requestId)).toEqual([rs[0]!.requestId]);
      expect(third.next).toBeNull();
    });

    it('prunes by age, and by size oldest first', async () => {
      const rs = Array.from({ length: 50 }, (_, i) => record(i));
      // ~2 MB in all: well over the size limit below, whatever the store's fixed overhead.
      const big = 'x'.repeat(40_000);
      await h.store.append(
        rs,
        rs.map((r) => line(r, 'info', big)),
      );
      // Older than 10 s at base + 20 s: records 0..9.
      expect(await h.store.prune({ maxAgeMs: 10_000, maxBytes: 2 ** 40 }, base + 20_000)).toBe(10);
      let left = (await h.store.query({ limit: 1000 })).entries;
      expect(left[0]!.requestId).toBe(rs[10]!.requestId);
      expect(left).toHaveLength(40);
      await h.store.prune({ maxAgeMs: 2 ** 40, maxBytes: 1024 * 1024 }, base + 20_000);
      left = (await h.store.query({ limit: 1000 })).entries;
      expect(left.length).toBeLessThan(40);
      // What is left is the newest.
      expect(left.at(-1)!.requestId).toBe(rs[49]!.requestId);
    });

    it('replaces a record appended again under its id (the journal recovery), also within one batch', async () => {
      const a = record(1);
      const b = record(2);
      await h.store.append([a, b], [line(a, 'info', 'separate')]);
      await h.store.append([{ ...a, status: 503, error: 'HANGAR_E_X: again' }], []);
      await h.store.append(
        [
          { ...b, status: 404 },
          { ...b, status: 410 },
        ],
        [],
      );
      const page = await h.store.query({});
      expect(page.entries.map((e) => [e.requestId, e.status, e.error])).toEqual([
        [a.requestId, 503, 'HANGAR_E_X: again'],
        [b.requestId, 410, null],
      ]);
      // A replaced record's separate lines stay.
      expect(page.entries[0]!.lines.map((l) => l.message)).toEqual(['separate']);
    });

    it('tells which of some ids it has a record of (lines alone are not a record)', async () => {
      const [a, b, c] = [record(1), record(2), record(3)];
      await h.store.append([a, b], [line(c, 'info', 'a line without its record yet')]);
      expect(await h.storedIds([a.requestId, c.requestId, b.requestId])).toEqual(
        new Set([a.requestId, b.requestId]),
      );
      expect(await h.storedIds([])).toEqual(new Set());
      await h.reopen();
      expect(await h.storedIds([b.requestId, 'f'.repeat(32)])).toEqual(new Set([b.requestId]));
    });

    it('stores messages with NUL and cut surrogate pairs, and still searches every message', async () => {
      const a = record(1);
      const b = record(2);
      const odd = 'before \0 \ud83d after \u0000 literal \\u0000';
      const { requestId: _, ...carried } = line(a, 'info', odd);
      await h.store.append(
        [{ ...a, lines: [carried] }, b],
        [line(b, 'warning', odd), line(b, 'info', 'plain')],
      );
      const ids = async (q: Parameters<LogStore['query']>[0]) =>
        (await h.store.query(q)).entries.map((e) => e.requestId);
      expect(await ids({ text: 'after' })).toEqual([a.requestId, b.requestId]);
      expect(await ids({ text: 'plain' })).toEqual([b.requestId]);
      expect(await ids({ text: 'literal \\u0000' })).toEqual([a.requestId, b.requestId]);
      const { entries } = await h.store.query({});
      for (const message of [entries[0]!.lines[0]!.message, entries[1]!.lines[0]!.message]) {
        // SQLite keeps the message as it came; PostgreSQL text holds no NUL nor half a pair (U+FFFD).
        expect(message).toMatch(/^before (\0|\uFFFD) (\ud83d|\uFFFD) after (\0|\uFFFD) literal \\u0000$/u);
      }
    });

    it('keeps what was appended across a reopen', async () => {
      const a = record(1);
      await h.store.append([a], [line(a, 'critical', 'kept')]);
      const again = await h.reopen();
      const [entry] = (await again.query({})).entries;
      expect(entry!.lines[0]).toMatchObject({ level: 'critical', message: 'kept' });
    });
  });
}

/** A harness on `openLogStore(location)`, reopened on the same location; `drop` removes the storage. */
async function opened(location: LogStoreLocation, drop: () => Promise<void>): Promise<Harness> {
  let open: OpenedLogStore;
  try {
    open = await openLogStore(location);
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    store: open.store,
    storedIds: (ids) => open.storedIds(ids),
    async reopen() {
      await open.close();
      open = await openLogStore(location);
      return open.store;
    },
    async cleanup() {
      await open.close();
      await drop();
    },
  };
}

describeLogStore('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-logstore-'));
  return opened({ kind: 'sqlite', dataDir: dir }, async () => rmSync(dir, { recursive: true, force: true }));
});

describeLogStore('PostgreSQL', async () => {
  const db = await createTestDatabase();
  return opened({ kind: 'postgres', url: db.url }, () => db.drop());
});

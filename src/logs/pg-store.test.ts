/**
 * What only the PostgreSQL request log has (the shared cases are store.test.ts's conformance
 * suite): a schema from a newer Hangar is refused, an unreachable database is said as such and
 * the log keeps what it could not write until the database is back, the size totals stay equal
 * to the rows' estimates, newest-first pages walk an index at any size, and the log worker
 * (request-log-thread.ts) runs on it.
 */
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '../../test/helpers/postgres.js';
import { HangarError } from '../shared/errors.js';
import type { RequestRecord } from '../shared/request-record.js';
import { openLogStore } from './open-store.js';
import { jsonText, pgRecordsQuery } from './pg-store.js';
import { createRequestLogs } from './request-logs.js';
import type { LogQuery, RequestLogRecord } from './types.js';

const t = Date.parse('2026-03-01T10:00:00.000Z');

/** Cleanups of the running test, last first. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

/** A client of `url`, ended after the test. */
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

function id(n: number): string {
  return `${(t + n).toString(16).padStart(12, '0')}000000${'0'.repeat(13)}1`;
}

/** A front-end record of request `n`, with its lines in the stored form. */
function served(n: number, lines = JSON.stringify([[t + n, 1, `line of ${n}`]])): RequestRecord {
  return {
    requestId: id(n),
    startTime: t + n,
    method: 'GET',
    resource: `/r/${n}`,
    status: 200,
    latencyMs: 1,
    bytesOut: 10,
    app: 'app',
    service: 'default',
    version: 'v1',
    instanceId: 'a'.repeat(32),
    lines,
    linesComplete: true,
  };
}

function record(n: number, over: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    requestId: id(n),
    appId: 'app',
    service: 'default',
    version: 'v1',
    instanceId: 'i1',
    startTime: new Date(t + n).toISOString(),
    latencyMs: 1,
    pendingMs: 0,
    method: 'GET',
    resource: `/r/${n}`,
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

/**
 * A TCP relay on 127.0.0.1 to the test server: `down()` closes it and cuts every connection
 * through it (the database is unreachable), `up()` listens again on the same port.
 */
async function relay(): Promise<{
  url: (database: string) => string;
  down(): Promise<void>;
  up(): Promise<void>;
}> {
  const target = new URL(TEST_POSTGRES_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const down = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  cleanups.push(() => (server.listening ? down() : Promise.resolve()));
  return {
    url: (database) => {
      const url = new URL(TEST_POSTGRES_URL);
      url.port = String(port);
      url.pathname = `/${database}`;
      return url.toString();
    },
    down,
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  };
}

describe('PgLogStore', () => {
  it('refuses a database whose logs tables are newer than this Hangar, saying why', async () => {
    const db = await database();
    const client = await connect(db.url);
    await client.query(
      'CREATE TABLE hangar_schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)',
    );
    await client.query("INSERT INTO hangar_schema_versions VALUES ('logs', 99)");
    const opening = openLogStore({ kind: 'postgres', url: db.url });
    await expect(opening).rejects.toBeInstanceOf(HangarError);
    await expect(opening).rejects.toMatchObject({
      code: 'HANGAR_E_DATABASE',
      message: expect.stringMatching(/logs tables .* schema version 99, newer than this Hangar knows \(1\)/),
    });
    // Nothing was created beside it.
    const tables = await client.query(
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'request_logs'",
    );
    expect(tables.rows[0].n).toBe(0);
  });

  it('migrates once, and opens again on the same tables', async () => {
    const db = await database();
    const first = await openLogStore({ kind: 'postgres', url: db.url });
    cleanups.push(() => first.close());
    await first.store.append([record(1)], []);
    const second = await openLogStore({ kind: 'postgres', url: db.url });
    cleanups.push(() => second.close());
    expect((await second.store.query({})).entries.map((e) => e.requestId)).toEqual([id(1)]);
    const client = await connect(db.url);
    const version = await client.query("SELECT version FROM hangar_schema_versions WHERE module = 'logs'");
    expect(version.rows).toEqual([{ version: 1 }]);
  });

  it('says which database it cannot reach, without its password', async () => {
    const gone = await relay();
    await gone.down();
    const opening = openLogStore({
      kind: 'postgres',
      url: gone.url('hangar').replace(':hangar@', ':s3cret@'),
    });
    await expect(opening).rejects.toMatchObject({
      code: 'HANGAR_E_DATABASE',
      message: expect.stringContaining(
        'cannot connect to the platform database postgres://hangar:***@127.0.0.1:',
      ),
    });
    await expect(opening).rejects.not.toMatchObject({ message: expect.stringContaining('s3cret') });
  });

  it('keeps records and lines it cannot write while the database is unreachable, says so, and writes them once it is back', async () => {
    const db = await database();
    const link = await relay();
    const opened = await openLogStore({ kind: 'postgres', url: link.url(db.name) });
    cleanups.push(() => opened.close());
    const errors: string[] = [];
    let failedWrite: () => void = () => undefined;
    const writeFailed = new Promise<void>((resolve) => {
      failedWrite = resolve;
    });
    const logs = createRequestLogs({
      store: opened.store,
      retention: { maxAgeMs: 2 ** 40, maxBytes: 2 ** 40 },
      onError: (err) => {
        errors.push(err.message);
        if (err.message.includes('write the request log')) failedWrite();
      },
    });
    cleanups.push(() => logs.close());
    // Stored while the database is there.
    logs.request(served(1));
    await logs.query({});
    await link.down();
    logs.request(served(2));
    logs.lines('a'.repeat(32), [
      { requestId: id(1), time: t + 5, level: 'error', message: 'late line of 1' },
    ]);
    await writeFailed;
    const write = errors.find((m) => m.includes('write the request log'));
    expect(write).toMatch(
      /^cannot write the request log to the platform database \(PostgreSQL\): .*(ECONNREFUSED|terminat|Connection)/,
    );
    await link.up();
    const { entries } = await logs.query({});
    expect(entries.map((e) => [e.resource, e.lines.map((l) => l.message)])).toEqual([
      ['/r/1', ['line of 1', 'late line of 1']],
      ['/r/2', ['line of 2']],
    ]);
  });

  it('keeps the size totals equal to what its rows count, through replaces and prunes', async () => {
    const db = await database();
    const opened = await openLogStore({ kind: 'postgres', url: db.url });
    cleanups.push(() => opened.close());
    const client = await connect(db.url);
    const check = async () => {
      const totals = await client.query(
        `SELECT (SELECT sum(records) FROM request_log_size)::bigint AS records,
                (SELECT sum(bytes) FROM request_log_size)::bigint AS bytes,
                (SELECT count(*) FROM request_logs)::bigint AS counted,
                (SELECT coalesce(sum(bytes), 0) FROM request_logs)::bigint + (SELECT coalesce(sum(bytes), 0) FROM log_line_groups)::bigint AS summed`,
      );
      const row = totals.rows[0];
      expect(row.records).toBe(row.counted);
      expect(row.bytes).toBe(row.summed);
      return { records: Number(row.records), bytes: Number(row.bytes) };
    };
    const line = (n: number, message: string) => ({
      requestId: id(n),
      time: new Date(t + n).toISOString(),
      level: 'info' as const,
      message,
    });
    const rs = Array.from({ length: 30 }, (_, n) =>
      record(n * 1000, { resource: `/r/${'é'.repeat(n * 100)}` }),
    );
    await opened.store.append(
      rs.slice(0, 20),
      rs.slice(0, 20).map((_, n) => line(n * 1000, 'x'.repeat(5000))),
    );
    await opened.store.append(rs.slice(20), [line(29_000, 'late'), line(99_000, 'no record yet')]);
    expect((await check()).records).toBe(30);
    // A replaced record counts once, at its new size.
    await opened.store.append(
      [
        { ...rs[3]!, resource: '/short' },
        { ...rs[4]!, error: 'e'.repeat(2000) },
      ],
      [],
    );
    const before = await check();
    expect(before.records).toBe(30);
    // Records 0..9 and their lines are older than the cutoff.
    expect(await opened.store.prune({ maxAgeMs: 1000, maxBytes: 2 ** 40 }, t + 11_000 - 1)).toBe(10);
    const aged = await check();
    expect(aged.records).toBe(20);
    expect(aged.bytes).toBeLessThan(before.bytes);
    // Trimmed to half its size: the oldest go, and it stops near the size, not far under it.
    expect(
      await opened.store.prune({ maxAgeMs: 2 ** 40, maxBytes: Math.floor(aged.bytes / 2) }, t),
    ).toBeGreaterThan(0);
    const trimmed = await check();
    expect(trimmed.bytes).toBeLessThanOrEqual(aged.bytes / 2);
    expect(trimmed.bytes).toBeGreaterThan(aged.bytes / 4);
    const left = (await opened.store.query({})).entries.map((e) => e.requestId);
    expect(left).toEqual(rs.slice(30 - left.length).map((r) => r.requestId));
  });

  it('walks an index newest first for every page filter, never sorting or reading the whole table', async () => {
    const db = await database();
    const opened = await openLogStore({ kind: 'postgres', url: db.url });
    cleanups.push(() => opened.close());
    const client = await connect(db.url);
    // 100,000 records a millisecond apart: one app in a hundred is `rare`; 50 versions, one
    // after another; one status in 500 is 500 and one in 20 is 404.
    await client.query(`INSERT INTO request_logs (request_id, start_time, app, service, version, instance_id,
        latency_ms, pending_ms, method, resource, http_version, status, bytes_in, bytes_out, user_agent, ip, host,
        loading, secure, error, split, lines, max_level, bytes)
      SELECT lpad(to_hex(${t} + i), 12, '0') || lpad(to_hex(i), 20, '0'), ${t} + i,
        CASE WHEN i % 100 = 0 THEN 'rare' ELSE 'common' END, (ARRAY['default', 'api', 'worker'])[i % 3 + 1],
        'v' || (i / 2000), 'i', 1, 0, 'GET', '/r/' || i, '1.1',
        CASE WHEN i % 500 = 0 THEN 500 WHEN i % 20 = 0 THEN 404 ELSE 200 END, 1, 1, 'ua', '127.0.0.1', 'h',
        false, false, NULL, NULL, NULL, -1, 500
      FROM generate_series(0, 99999) i`);
    await client.query('ANALYZE request_logs');
    const planOf = async (q: LogQuery) => {
      const { sql, params } = pgRecordsQuery(q);
      const rows = await client.query(`EXPLAIN ${sql}`, params);
      return rows.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    };
    const walks = async (q: LogQuery, index: string, backward = true) => {
      const plan = await planOf(q);
      expect(plan, JSON.stringify(q)).toContain(
        `Index Scan ${backward ? 'Backward ' : ''}using ${index} on request_logs`,
      );
      expect(plan, JSON.stringify(q)).not.toMatch(/Sort|Seq Scan on request_logs|Bitmap/);
    };
    await walks({}, 'request_logs_pkey');
    await walks({ requestId: id(5) }, 'request_logs_pkey', false);
    await walks({ app: 'rare' }, 'request_logs_app');
    await walks({ app: 'rare', cursor: id(50_000) }, 'request_logs_app');
    await walks({ app: 'rare', since: t + 50_000 }, 'request_logs_app');
    await walks({ version: 'v3' }, 'request_logs_version');
    await walks({ version: 'v3', service: 'api' }, 'request_logs_version');
    await walks({ app: 'common', service: 'api', version: 'v3' }, 'request_logs_version');
    await walks({ status: 500 }, 'request_logs_status');
    // A common value: the newest rows of the whole table hold a page of it.
    await walks({ app: 'common' }, 'request_logs_pkey');
    await walks({ service: 'api', status: 200 }, 'request_logs_pkey');
  });

  it('writes JSON that PostgreSQL can read: NUL and halves of surrogate pairs become U+FFFD', () => {
    expect(jsonText('[[1,1,"plain"]]')).toBe('[[1,1,"plain"]]');
    expect(jsonText('["a\\u0000b"]')).toBe('["a\\ufffdb"]');
    expect(jsonText('["\\ud83d\\ude00 \\ud83d x \\ude00"]')).toBe('["\\ud83d\\ude00 \\ufffd x \\ufffd"]');
    expect(jsonText('["\\\\u0000 \\u0001 \\\\\\u0000"]')).toBe('["\\\\u0000 \\u0001 \\\\\\ufffd"]');
    expect(jsonText('["end \\ud83d"]')).toBe('["end \\ufffd"]');
  });
});

describe('the request log thread on PostgreSQL', () => {
  it('stores what it is handed and answers queries from the database, seen from another node too', async () => {
    // The thread runs dist/logs/log-worker.js, so take it from the build `npm test` makes.
    const { startRequestLogThread } = (await import(
      new URL('../../dist/logs/request-log-thread.js', import.meta.url).href
    )) as typeof import('./request-log-thread.js');
    const db = await database();
    const errors: string[] = [];
    const thread = startRequestLogThread({
      store: { kind: 'postgres', url: db.url },
      retention: { maxAgeMs: 2 ** 40, maxBytes: 2 ** 40 },
      terminal: undefined,
      onError: (message) => errors.push(message),
    });
    cleanups.push(() => thread.close());
    thread.request(served(1));
    thread.lines('a'.repeat(32), [{ requestId: id(1), time: t + 2, level: 'warning', message: 'over IPC' }]);
    thread.request(served(2, JSON.stringify([[t + 2, 3, 'an error']])));
    const page = await thread.query({ minLevel: 'error' });
    expect(page.entries.map((e) => [e.requestId, e.appId, e.lines.map((l) => l.message)])).toEqual([
      [id(2), 'app', ['an error']],
    ]);
    const all = await thread.query({});
    expect(all.entries.map((e) => e.lines.map((l) => l.message))).toEqual([
      ['line of 1', 'over IPC'],
      ['an error'],
    ]);
    // Another node on the same database reads the same log.
    const other = await openLogStore({ kind: 'postgres', url: db.url });
    cleanups.push(() => other.close());
    expect(await other.store.query({})).toEqual(all);
    expect(await other.storedIds([id(1), id(2), id(3)])).toEqual(new Set([id(1), id(2)]));
    expect(errors).toEqual([]);
  });
});

/**
 * traffic.ts under `serve --database` (S16): the meter's counters in PostgreSQL shared by two
 * nodes (two createTraffic on one database, each with its own data dir), the quota that counts
 * both, the messages naming the database without its password, and close() ending the pool.
 * PostgreSQL on 127.0.0.1 (test/helpers/postgres.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { defaultPlatformConfig } from '../config/platform-config.js';
import type { QuotaReport } from '../metering/meter.js';
import { isHangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { RequestRecord } from '../shared/request-record.js';
import { createTraffic, type Traffic } from './traffic.js';

const record: RequestRecord = {
  requestId: 'r',
  method: 'GET',
  resource: '/',
  status: 200,
  latencyMs: 1,
  app: 'shop',
  service: 'default',
  version: 'v1',
  bytesIn: 10,
  bytesOut: 100,
};

function collectingLogger(errors: string[]): Logger {
  return {
    info: () => undefined,
    warn: () => undefined,
    error: (message) => errors.push(message),
    raw: () => undefined,
    flush: () => undefined,
    color: false,
    fd: undefined,
  };
}

describe('createTraffic with a PostgreSQL database (S16)', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  const dirs: string[] = [];
  const open: Traffic[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterEach(async () => {
    for (const traffic of open.splice(0)) await traffic.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    // Each case starts from an empty database (migrated again by its first node).
    await admin.query('DROP TABLE IF EXISTS metering_daily, hangar_schema_versions');
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  const node = (name: string, errors: string[] = [], url = db.url) => {
    const dataDir = mkdtempSync(join(tmpdir(), `hangar-traffic-${name}-`));
    dirs.push(dataDir);
    return createTraffic({
      dataDir,
      platformConfig: { ...defaultPlatformConfig, quotas: { daily: { requests: 3 } } },
      serverSoftware: 'Hangar/test',
      exposeErrors: true,
      routes: { route: () => undefined },
      instances: () => [],
      logger: collectingLogger(errors),
      onRequest: () => undefined,
      database: { url, node: name },
    }).then((traffic) => {
      open.push(traffic);
      return traffic;
    });
  };

  it('keeps the counts in PostgreSQL: a quota used up through node a is refused on node b', async () => {
    const a = await node('a');
    const b = await node('b');
    for (let i = 0; i < 3; i++) a.meter.count(record);
    expect(a.meter.overQuota('shop')).toBe('requests');
    await a.meter.flush();
    await b.meter.flush();
    expect(b.meter.overQuota('shop')).toBe('requests');
    const report = (await b.quotas(new URLSearchParams())) as QuotaReport;
    expect(report.apps).toEqual([expect.objectContaining({ app: 'shop', overQuota: ['requests'] })]);
    expect(report.apps[0]!.usage.requests).toBe(3);
    const metrics = await b.metrics();
    expect(metrics.body).toContain('hangar_requests_total{app="shop",service="default",version="v1"} 3');
    const stored = await admin.query('SELECT SUM(requests)::int AS n FROM metering_daily');
    expect(stored.rows[0]).toEqual({ n: 3 });
  });

  it('names each node in pg_stat_activity, and close() writes the last counts and ends its pool', async () => {
    const a = await node('a');
    a.meter.count(record);
    const names = async () =>
      (
        await admin.query<{ application_name: string }>(
          'SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = $1 ORDER BY 1',
          [db.name],
        )
      ).rows.map((r) => r.application_name);
    expect(await names()).toContain('hangar metering (node a)');
    await a.close();
    open.splice(open.indexOf(a), 1);
    // The server lists a backend a moment after its client hung up: poll, at most 5 s.
    let left = await names();
    for (let i = 0; i < 100 && left.includes('hangar metering (node a)'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await names();
    }
    expect(left).not.toContain('hangar metering (node a)');
    const stored = await admin.query('SELECT SUM(requests)::int AS n FROM metering_daily');
    expect(stored.rows[0]).toEqual({ n: 1 });
  });

  it('a failed write is logged once naming the database without its password; the counts are kept', async () => {
    const errors: string[] = [];
    const a = await node('a', errors);
    a.meter.count(record);
    await admin.query('ALTER TABLE metering_daily RENAME TO gone');
    try {
      await a.meter.flush();
      await a.meter.flush();
    } finally {
      await admin.query('ALTER TABLE gone RENAME TO metering_daily');
    }
    const password = new URL(db.url).password;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      `metering: cannot write counts to or read them from ${db.url.replace(`:${password}@`, ':***@')}`,
    );
    expect(errors[0]).not.toContain(`:${password}@`);
    await a.meter.flush();
    const stored = await admin.query('SELECT SUM(requests)::int AS n FROM metering_daily');
    expect(stored.rows[0]).toEqual({ n: 1 });
  });

  it('refuses to start when the database does not answer, naming it without its password', async () => {
    // A loopback port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const err = await node('a', [], `postgres://hangar:s3cret@127.0.0.1:${port}/hangar`).catch(
      (e: unknown) => e,
    );
    expect(isHangarError(err) && err.code).toBe('HANGAR_E_DATABASE');
    expect((err as Error).message).toContain(`postgres://hangar:***@127.0.0.1:${port}/hangar`);
    expect((err as Error).message).not.toContain('s3cret');
  });
});

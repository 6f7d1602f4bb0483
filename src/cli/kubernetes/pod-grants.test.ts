/**
 * The version pods' database user (pod-grants.ts) on a real PostgreSQL: with exactly the grants
 * the export's README gives it, a pod's request-log store and meter work on a database the
 * platform migrated, and the platform's own tables (versions, deployed files, nodes, secrets)
 * are refused to it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '../../../test/helpers/postgres.js';
import { openLogStore } from '../../logs/open-store.js';
import { zeroCounters } from '../../metering/counters.js';
import { PgMeteringStore } from '../../metering/pg-store.js';
import { ClusterMembership } from '../../platform/cluster.js';
import { openPostgres, type PgPool } from '../../shared/postgres.js';
import { PgBlobStore } from '../../versions/pg-blob-store.js';
import { PgVersionStore } from '../../versions/pg-store.js';
import { podDatabaseGrants } from './pod-grants.js';

describe("the version pods' database user", () => {
  let database: TestDatabase;
  let owner: PgPool;
  let podsUrl: string;
  const role = `hangar_pods_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    owner = await openPostgres(database.url, { max: 2 });
    // What the first serve node makes: every module's tables.
    await PgVersionStore.open(owner);
    await PgBlobStore.open(owner);
    await PgMeteringStore.open(owner);
    await (await ClusterMembership.join(owner, 'a')).sharedSecret('admin-token', 'the-token');
    await (await openLogStore({ kind: 'postgres', url: database.url })).close();
    // Needs CREATEROLE (.ci/run gives the test role it).
    await owner.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pods'`);
    await owner.query(podDatabaseGrants(role));
    const url = new URL(database.url);
    url.username = role;
    url.password = 'pods';
    podsUrl = url.toString();
  }, 30_000);

  afterAll(async () => {
    await owner?.end();
    // The role's grants go with the database; then the role, which is the server's.
    await database?.drop();
    const server = await openPostgres(TEST_POSTGRES_URL, { max: 1 });
    await server.query(`DROP ROLE IF EXISTS ${role}`);
    await server.end();
  });

  it('writes and reads back the request log and the counters as a pod does', async () => {
    const logs = await openLogStore({ kind: 'postgres', url: podsUrl });
    const requestId = `${Date.now().toString(16).padStart(12, '0')}${'0'.repeat(19)}1`;
    const time = new Date().toISOString();
    await logs.store.append(
      [
        {
          requestId,
          appId: 'shop',
          service: 'default',
          version: 'v1',
          instanceId: 'pod-1',
          startTime: time,
          latencyMs: 1,
          pendingMs: 0,
          method: 'GET',
          resource: '/',
          httpVersion: '1.1',
          status: 200,
          bytesIn: 10,
          bytesOut: 20,
          userAgent: null,
          ip: null,
          host: null,
          loadingRequest: false,
          secure: false,
          error: null,
          split: null,
          lines: [{ time, level: 'info', message: 'hello' }],
        },
      ],
      [{ requestId, time, level: 'warning', message: 'late' }],
    );
    const page = await logs.store.query({ app: 'shop' });
    expect(page.entries.map((e) => [e.requestId, e.lines.map((l) => l.message)])).toEqual([
      [requestId, ['hello', 'late']],
    ]);
    await logs.close();

    const pool = await openPostgres(podsUrl, { max: 1 });
    try {
      const metering = await PgMeteringStore.open(pool);
      const counters = { ...zeroCounters(), requests: 3 };
      await metering.add([{ day: '2026-12-06', app: 'shop', service: 'default', version: 'v1', counters }]);
      await metering.add([{ day: '2026-12-06', app: 'shop', service: 'default', version: 'v1', counters }]);
      expect((await metering.day('2026-12-06')).map((r) => r.counters.requests)).toEqual([6]);
    } finally {
      await pool.end();
    }
  });

  it("is refused the platform's own tables: versions, deployed files, nodes, the admin token", async () => {
    const pool = await openPostgres(podsUrl, { max: 1 });
    try {
      for (const sql of [
        'SELECT value FROM platform_secrets',
        'SELECT * FROM versions',
        "UPDATE services SET allocations = '{}'",
        'SELECT data FROM blobs',
        'SELECT * FROM nodes',
        'DELETE FROM request_logs',
        'CREATE TABLE pwned (x int)',
      ]) {
        await expect(pool.query(sql), sql).rejects.toThrow(/permission denied/);
      }
    } finally {
      await pool.end();
    }
  });
});

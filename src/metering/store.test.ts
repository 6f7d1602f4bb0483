/**
 * The MeteringStore conformance suite: every store implementation runs these same cases (the
 * undici cache-store pattern, as src/logs/store.test.ts): SQLite on a real file in a temp dir,
 * and PostgreSQL (S16) in a fresh database per case on the local server
 * (test/helpers/postgres.ts). Two meters on one storage stand for two `serve` nodes on one
 * database: their counts sum up, and a quota one of them used up is refused on the other.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { type Db, openDatabase } from '../shared/database.js';
import { openPostgres, type PgPool } from '../shared/postgres.js';
import type { RequestRecord } from '../shared/request-record.js';
import { type Counters, zeroCounters } from './counters.js';
import { Meter } from './meter.js';
import { PgMeteringStore } from './pg-store.js';
import { SqliteMeteringStore } from './sqlite-store.js';
import type { MeteringStore, UsageRow } from './types.js';

interface Harness {
  store: MeteringStore;
  /** Another store object on the same storage (another connection), as a second writer. */
  another(): Promise<MeteringStore>;
  /** Closes the storage and opens it again. */
  reopen(): Promise<MeteringStore>;
  cleanup(): Promise<void>;
}

function row(
  day: string,
  app: string,
  version: string,
  counters: Partial<Counters>,
  service = 'default',
): UsageRow {
  return { day, app, service, version, counters: { ...zeroCounters(), ...counters } };
}

/** A row as `day()`/`allTime()` must return it: every counter present, 0 where nothing was added. */
const stored = row;

const names = (rows: UsageRow[]) => rows.map((r) => `${r.app}/${r.service}/${r.version}`);

function describeMeteringStore(name: string, make: () => Promise<Harness>): void {
  describe(`MeteringStore conformance: ${name}`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(() => h.cleanup());

    it('starts empty', async () => {
      expect(await h.store.day('2026-01-01')).toEqual([]);
      expect(await h.store.allTime()).toEqual([]);
    });

    it('adds deltas across calls, counter by counter; instance-hours keep their fractions', async () => {
      await h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 2, outgoing_bytes: 100, instance_hours: 0.25 }),
      ]);
      await h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 3, incoming_bytes: 7, instance_hours: 0.5 }),
      ]);
      await h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 1 }),
        row('2026-01-01', 'shop', 'v1', { secure_requests: 1, urlfetch_calls: 4 }),
      ]);
      expect(await h.store.day('2026-01-01')).toEqual([
        stored('2026-01-01', 'shop', 'v1', {
          requests: 6,
          secure_requests: 1,
          incoming_bytes: 7,
          outgoing_bytes: 100,
          urlfetch_calls: 4,
          instance_hours: 0.75,
        }),
      ]);
    });

    it('adds up what two store objects on the same storage write', async () => {
      const other = await h.another();
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1, socket_bytes: 10 })]);
      await other.add([row('2026-01-01', 'shop', 'v1', { requests: 2, socket_bytes: 5 })]);
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 4 })]);
      const want = [stored('2026-01-01', 'shop', 'v1', { requests: 7, socket_bytes: 15 })];
      expect(await h.store.day('2026-01-01')).toEqual(want);
      expect(await other.day('2026-01-01')).toEqual(want);
    });

    it('day() returns only that day, ordered by app, then service, then version', async () => {
      await h.store.add([
        row('2026-01-02', 'shop', 'v2', { requests: 1 }),
        row('2026-01-02', 'blog', 'v1', { requests: 2 }, 'worker'),
        row('2026-01-01', 'shop', 'v1', { requests: 3 }),
        row('2026-01-02', 'shop', 'v1', { requests: 4 }, 'api'),
        row('2026-01-02', 'blog', 'v1', { requests: 5 }),
        row('2026-01-02', 'shop', 'v10', { requests: 6 }),
        row('2026-01-03', 'blog', 'v1', { requests: 7 }),
        row('2026-01-02', 'blog', 'v0', { requests: 8 }, 'worker'),
      ]);
      const second = await h.store.day('2026-01-02');
      expect(names(second)).toEqual([
        'blog/default/v1',
        'blog/worker/v0',
        'blog/worker/v1',
        'shop/api/v1',
        'shop/default/v10',
        'shop/default/v2',
      ]);
      expect(second.every((r) => r.day === '2026-01-02')).toBe(true);
      expect(second.map((r) => r.counters.requests)).toEqual([5, 8, 2, 4, 6, 1]);
      expect(await h.store.day('2026-01-01')).toEqual([stored('2026-01-01', 'shop', 'v1', { requests: 3 })]);
      expect(await h.store.day('2026-01-04')).toEqual([]);
    });

    it("allTime() sums each app version over its days, with day '' and the same order", async () => {
      await h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 1, outgoing_bytes: 10, instance_hours: 1.5 }),
        row('2026-01-02', 'shop', 'v1', { requests: 2, outgoing_bytes: 20, instance_hours: 0.25 }),
        row('2026-01-02', 'blog', 'v1', { requests: 5 }),
      ]);
      await h.store.add([row('2026-01-03', 'shop', 'v1', { requests: 4 })]);
      await h.store.add([row('2026-01-03', 'shop', 'v1', { requests: 8 }, 'api')]);
      expect(await h.store.allTime()).toEqual([
        stored('', 'blog', 'v1', { requests: 5 }),
        stored('', 'shop', 'v1', { requests: 8 }, 'api'),
        stored('', 'shop', 'v1', { requests: 7, outgoing_bytes: 30, instance_hours: 1.75 }),
      ]);
    });

    it('add([]) changes nothing', async () => {
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      const before = { day: await h.store.day('2026-01-01'), all: await h.store.allTime() };
      await expect(h.store.add([])).resolves.toBeUndefined();
      expect({ day: await h.store.day('2026-01-01'), all: await h.store.allTime() }).toEqual(before);
    });

    it('lands all rows of one add or none: a row the store refuses leaves every other row unchanged', async () => {
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      const before = await h.store.allTime();
      // NaN is no count: SQLite binds it as NULL, which the NOT NULL counter columns refuse
      // (PostgreSQL refuses NaN in an integer column too). The rows before it in the same
      // call, a new one and an update of a stored one, must not land either.
      const refused = row('2026-01-01', 'shop', 'v2', { requests: Number.NaN });
      await expect(
        h.store.add([
          row('2026-01-01', 'blog', 'v1', { requests: 5 }),
          row('2026-01-01', 'shop', 'v1', { requests: 5 }),
          refused,
        ]),
      ).rejects.toThrow();
      expect(await h.store.allTime()).toEqual(before);
      expect(await h.store.day('2026-01-01')).toEqual([stored('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      // The store still takes the next add.
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      expect((await h.store.day('2026-01-01'))[0]?.counters.requests).toBe(2);
    });

    it('keeps what was added across a reopen', async () => {
      await h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 3, outgoing_bytes: 1024 ** 3 * 5 })]);
      const again = await h.reopen();
      expect(await again.day('2026-01-01')).toEqual([
        stored('2026-01-01', 'shop', 'v1', { requests: 3, outgoing_bytes: 1024 ** 3 * 5 }),
      ]);
    });

    it('sums concurrent adds of two store objects exactly, new rows and updates alike', async () => {
      const other = await h.another();
      const batch = (i: number, reversed: boolean) => {
        const rows = [
          row('2026-01-01', 'shop', 'v1', { requests: 1, outgoing_bytes: i }),
          row('2026-01-01', 'shop', 'v2', { requests: 2, instance_hours: 0.5 }),
          // A row first written by whichever add comes first.
          row('2026-01-01', `app${i % 5}`, 'v1', { requests: 1 }),
        ];
        return reversed ? rows.reverse() : rows;
      };
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? other : h.store).add(batch(i, i % 4 === 1))),
      );
      const day = await h.store.day('2026-01-01');
      expect(day.map((r) => [r.app, r.version, r.counters.requests])).toEqual([
        ['app0', 'v1', 8],
        ['app1', 'v1', 8],
        ['app2', 'v1', 8],
        ['app3', 'v1', 8],
        ['app4', 'v1', 8],
        ['shop', 'v1', 40],
        ['shop', 'v2', 80],
      ]);
      expect(day[5]!.counters.outgoing_bytes).toBe((39 * 40) / 2);
      expect(day[6]!.counters.instance_hours).toBe(20);
    });

    it('two meters on one storage (two nodes): their counts sum up, and a quota one used up is refused on the other after a flush', async () => {
      const now = () => Date.UTC(2026, 0, 1, 12);
      const nodeA = new Meter(h.store, { quotas: { requests: 3 }, now, flushIntervalMs: 3_600_000 });
      const nodeB = new Meter(await h.another(), {
        quotas: { requests: 3 },
        now,
        flushIntervalMs: 3_600_000,
      });
      try {
        await Promise.all([nodeA.flush(), nodeB.flush()]);
        // Node A uses up shop's quota of 3 requests; node B learns it from the store.
        for (let i = 0; i < 3; i++) nodeA.count(request('shop', 'v1'));
        expect(nodeA.overQuota('shop')).toBe('requests');
        await nodeA.flush();
        await nodeB.flush();
        expect(nodeB.overQuota('shop')).toBe('requests');
        expect(nodeB.overQuota('blog')).toBeUndefined();
        // blog: 2 requests on A and 1 on B; neither node alone reaches 3, the platform does.
        nodeA.count(request('blog', 'v1'));
        nodeA.count(request('blog', 'v1'));
        nodeB.count(request('blog', 'v2'));
        expect(nodeA.overQuota('blog')).toBeUndefined();
        expect(nodeB.overQuota('blog')).toBeUndefined();
        await nodeA.flush();
        await nodeB.flush();
        expect(nodeB.overQuota('blog')).toBe('requests');
        await nodeA.flush();
        expect(nodeA.overQuota('blog')).toBe('requests');
        // The store holds both nodes' counts; either node reports the platform's.
        expect(await h.store.day('2026-01-01')).toEqual([
          stored('2026-01-01', 'blog', 'v1', { requests: 2, incoming_bytes: 20, outgoing_bytes: 200 }),
          stored('2026-01-01', 'blog', 'v2', { requests: 1, incoming_bytes: 10, outgoing_bytes: 100 }),
          stored('2026-01-01', 'shop', 'v1', { requests: 3, incoming_bytes: 30, outgoing_bytes: 300 }),
        ]);
        for (const node of [nodeA, nodeB]) {
          const report = await node.report();
          expect(report.apps.map((a) => [a.app, a.usage.requests, a.overQuota])).toEqual([
            ['blog', 3, ['requests']],
            ['shop', 3, ['requests']],
          ]);
        }
      } finally {
        await nodeA.close();
        await nodeB.close();
      }
    });
  });
}

/** A finished request of `app` as the front end records it: 10 bytes in, 100 out. */
function request(app: string, version: string): RequestRecord {
  return {
    requestId: 'r',
    method: 'GET',
    resource: '/',
    status: 200,
    latencyMs: 1,
    app,
    service: 'default',
    version,
    bytesIn: 10,
    bytesOut: 100,
  };
}

describeMeteringStore('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-meteringstore-'));
  const open: Db[] = [];
  const connect = () => {
    const db = openDatabase(dir);
    open.push(db);
    return new SqliteMeteringStore(db);
  };
  return {
    store: connect(),
    another: async () => connect(),
    async reopen() {
      for (const db of open.splice(0)) db.close();
      return connect();
    },
    async cleanup() {
      for (const db of open.splice(0)) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** A fresh database per case; each store object has its own pool (its own connections). */
describeMeteringStore('PostgreSQL', async () => {
  const db = await createTestDatabase();
  const pools: PgPool[] = [];
  const connect = async () => {
    const pool = await openPostgres(db.url, { applicationName: 'hangar metering test', max: 2 });
    pools.push(pool);
    return PgMeteringStore.open(pool);
  };
  const end = () => Promise.all(pools.splice(0).map((pool) => pool.end()));
  return {
    store: await connect(),
    another: connect,
    async reopen() {
      await end();
      return connect();
    },
    async cleanup() {
      await end();
      await db.drop();
    },
  };
});

describe('PgMeteringStore', () => {
  let db: TestDatabase;
  let pool: PgPool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = await openPostgres(db.url, { max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  beforeEach(async () => {
    await pool.query('DROP TABLE IF EXISTS metering_daily, hangar_schema_versions');
  });

  it("records its schema as module 'metering' version 1 and opens a migrated database again", async () => {
    await PgMeteringStore.open(pool);
    const store = await PgMeteringStore.open(pool);
    await store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
    const versions = await pool.query('SELECT module, version FROM hangar_schema_versions');
    expect(versions.rows).toEqual([{ module: 'metering', version: 1 }]);
  });

  it('rolls back every row of an add PostgreSQL itself refuses (a count beyond BIGINT)', async () => {
    const store = await PgMeteringStore.open(pool);
    await store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
    await expect(
      store.add([
        row('2026-01-01', 'blog', 'v1', { requests: 5 }),
        row('2026-01-01', 'shop', 'v1', { requests: 5 }),
        row('2026-01-01', 'zoo', 'v1', { outgoing_bytes: 2 ** 63 }),
      ]),
    ).rejects.toThrow(/out of range/);
    expect(await store.allTime()).toEqual([stored('', 'shop', 'v1', { requests: 1 })]);
  });

  it('orders bytewise whatever collation the columns have (as SQLite does)', async () => {
    const store = await PgMeteringStore.open(pool);
    // A database created with an ICU locale sorts 'alpha' before 'Zed'; SQLite sorts by bytes.
    for (const column of ['app', 'service', 'version'])
      await pool.query(`ALTER TABLE metering_daily ALTER COLUMN ${column} TYPE TEXT COLLATE "und-x-icu"`);
    await store.add([
      row('2026-01-01', 'alpha', 'v1', { requests: 1 }),
      row('2026-01-01', 'Zed', 'v1', { requests: 1 }),
      row('2026-01-01', 'Zed', 'b', { requests: 1 }),
      row('2026-01-01', 'Zed', 'B', { requests: 1 }),
    ]);
    const order = ['Zed/default/B', 'Zed/default/b', 'Zed/default/v1', 'alpha/default/v1'];
    expect(names(await store.day('2026-01-01'))).toEqual(order);
    expect(names(await store.allTime())).toEqual(order);
  });
});

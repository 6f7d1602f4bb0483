/**
 * Apps, services, versions and traffic in PostgreSQL (`serve --database`, S16): the same
 * VersionStore as sqlite-store.ts, for several `serve` nodes on one database. Every write is
 * one transaction that first takes one advisory lock, so writes from different nodes take turns
 * (they are rare: deploys, promotes, splits) and each sees the one before it whole.
 * `versions_generation` is bumped by every write; nodes poll it (serve-sync.ts) and reload.
 */
import { HangarError } from '../shared/errors.js';
import { inTransaction, migratePostgres, type PgClient, type PgPool } from '../shared/postgres.js';
import { checkAppName } from './names.js';
import {
  checkRecord,
  DEFAULT_SHARD_BY,
  manifestEntry,
  replacesItself,
  type ServiceRow,
  toRecord,
  toTraffic,
  VERSION_COLUMNS,
  type VersionRow,
  versionNotFound,
  versionServing,
} from './store-rules.js';
import { checkAllocations, checkShardBy } from './traffic.js';
import type {
  AppRecord,
  CommitResult,
  DispatchEntry,
  ShardBy,
  TrafficSplit,
  VersionRecord,
  VersionStore,
} from './types.js';

const migrations = [
  `CREATE TABLE apps (
    app TEXT PRIMARY KEY,
    created TEXT NOT NULL
  );
  CREATE TABLE services (
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    created TEXT NOT NULL,
    allocations JSONB NOT NULL DEFAULT '{}',
    shard_by TEXT NOT NULL DEFAULT 'ip',
    PRIMARY KEY (app, service)
  );
  CREATE TABLE versions (
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    minor TEXT NOT NULL,
    created TEXT NOT NULL,
    runtime TEXT NOT NULL,
    node TEXT NOT NULL,
    app_yaml TEXT NOT NULL,
    config_file TEXT NOT NULL,
    manifest JSONB NOT NULL,
    dir TEXT NOT NULL,
    tree TEXT,
    PRIMARY KEY (app, service, version)
  );
  CREATE TABLE dispatch (
    app TEXT PRIMARY KEY,
    rules JSONB NOT NULL
  );
  CREATE TABLE versions_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
  );
  INSERT INTO versions_generation (id, generation) VALUES (1, 0);`,
];

/** The advisory lock every versions write holds for its transaction. */
const WRITE_LOCK = 0x48565253; // 'HVRS'

type Queryable = PgPool | PgClient;

export class PgVersionStore implements VersionStore {
  readonly #pool: PgPool;

  private constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** The store on `pool`, its tables created or migrated first. */
  static async open(pool: PgPool): Promise<PgVersionStore> {
    await migratePostgres(pool, 'versions', migrations);
    return new PgVersionStore(pool);
  }

  async listApps(): Promise<AppRecord[]> {
    return (await this.#pool.query<AppRecord>('SELECT app, created FROM apps ORDER BY app')).rows;
  }

  async listServices(filter: { app?: string } = {}): Promise<TrafficSplit[]> {
    const { rows } = await this.#pool.query<ServiceRow>(
      `SELECT app, service, allocations, shard_by FROM services
       WHERE ($1::text IS NULL OR app = $1) ORDER BY app, service`,
      [filter.app ?? null],
    );
    return rows.map(toTraffic);
  }

  async listVersions(filter: { app?: string; service?: string } = {}): Promise<VersionRecord[]> {
    const { rows } = await this.#pool.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM versions
       WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR service = $2)
       ORDER BY app, service, created, version`,
      [filter.app ?? null, filter.service ?? null],
    );
    return rows.map(toRecord);
  }

  getVersion(app: string, service: string, version: string): Promise<VersionRecord | undefined> {
    return getVersion(this.#pool, app, service, version);
  }

  traffic(app: string, service: string): Promise<TrafficSplit | undefined> {
    return getTraffic(this.#pool, app, service);
  }

  async generation(): Promise<number> {
    const { rows } = await this.#pool.query<{ generation: string }>(
      'SELECT generation FROM versions_generation WHERE id = 1',
    );
    return Number(rows[0]!.generation);
  }

  async commitVersion(record: VersionRecord, options: { promote: boolean }): Promise<CommitResult> {
    checkRecord(record);
    const { app, service, version } = record;
    return this.#write(async (db) => {
      const replaced = await getVersion(db, app, service, version);
      if (replaced !== undefined) replacesItself(replaced, record);
      const previousTraffic = await getTraffic(db, app, service);
      await db.query('INSERT INTO apps (app, created) VALUES ($1, $2) ON CONFLICT (app) DO NOTHING', [
        app,
        record.created,
      ]);
      await db.query(
        `INSERT INTO services (app, service, created, allocations, shard_by) VALUES ($1, $2, $3, '{}', $4)
         ON CONFLICT (app, service) DO NOTHING`,
        [app, service, record.created, DEFAULT_SHARD_BY],
      );
      await db.query(
        `INSERT INTO versions (${VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (app, service, version) DO UPDATE SET
         minor = excluded.minor, created = excluded.created, runtime = excluded.runtime, node = excluded.node,
         app_yaml = excluded.app_yaml, config_file = excluded.config_file, manifest = excluded.manifest,
         dir = excluded.dir, tree = excluded.tree`,
        [
          app,
          service,
          version,
          record.minor,
          record.created,
          record.runtime,
          record.node,
          record.appYaml,
          record.configFile,
          JSON.stringify(record.manifest.map(manifestEntry)),
          record.dir,
          record.tree ?? null,
        ],
      );
      if (options.promote) await setAllocations(db, app, service, { [version]: 1 });
      return { replaced, previousTraffic };
    });
  }

  async promote(app: string, service: string, version: string): Promise<TrafficSplit> {
    return this.#write(async (db) => {
      const previous = await getTraffic(db, app, service);
      if (previous === undefined || (await getVersion(db, app, service, version)) === undefined) {
        throw await notFound(db, app, service, version);
      }
      await setAllocations(db, app, service, { [version]: 1 });
      return previous;
    });
  }

  async split(
    app: string,
    service: string,
    allocations: Readonly<Record<string, number>>,
    shardBy: ShardBy,
  ): Promise<TrafficSplit> {
    const checked = checkAllocations(allocations);
    const by = checkShardBy(shardBy);
    return this.#write(async (db) => {
      const previous = await getTraffic(db, app, service);
      for (const version of Object.keys(checked)) {
        if (previous === undefined || (await getVersion(db, app, service, version)) === undefined) {
          throw await notFound(db, app, service, version);
        }
      }
      // Weights of 0 are not kept: a version with none simply has no traffic.
      const kept = Object.fromEntries(Object.entries(checked).filter(([, weight]) => weight > 0));
      await db.query('UPDATE services SET allocations = $1, shard_by = $2 WHERE app = $3 AND service = $4', [
        JSON.stringify(kept),
        by,
        app,
        service,
      ]);
      return previous!;
    });
  }

  async setDispatch(app: string, rules: readonly DispatchEntry[]): Promise<void> {
    checkAppName(app);
    await this.#write(async (db) => {
      if ((await db.query('SELECT 1 FROM apps WHERE app = $1', [app])).rowCount === 0) {
        throw new HangarError(
          'VERSION_NOT_FOUND',
          `no app ${app} on this platform; deploy its services first`,
        );
      }
      if (rules.length === 0) await db.query('DELETE FROM dispatch WHERE app = $1', [app]);
      else
        await db.query(
          'INSERT INTO dispatch (app, rules) VALUES ($1, $2) ON CONFLICT (app) DO UPDATE SET rules = excluded.rules',
          [app, JSON.stringify(rules.map(({ url, service }) => ({ url, service })))],
        );
    });
  }

  async dispatch(app: string): Promise<DispatchEntry[]> {
    const { rows } = await this.#pool.query<{ rules: DispatchEntry[] }>(
      'SELECT rules FROM dispatch WHERE app = $1',
      [app],
    );
    return rows[0]?.rules ?? [];
  }

  async deleteVersion(app: string, service: string, version: string): Promise<VersionRecord> {
    return this.#write(async (db) => {
      const record = await getVersion(db, app, service, version);
      const traffic = await getTraffic(db, app, service);
      if (record === undefined || traffic === undefined) throw await notFound(db, app, service, version);
      const share = traffic.allocations[version] ?? 0;
      if (share > 0) throw versionServing(app, service, version, share);
      await db.query('DELETE FROM versions WHERE app = $1 AND service = $2 AND version = $3', [
        app,
        service,
        version,
      ]);
      if (version in traffic.allocations) {
        // A weight of 0 left by a split: drop it, so the allocations never name a deleted version.
        const { [version]: _dropped, ...rest } = traffic.allocations;
        await setAllocations(db, app, service, rest);
      }
      // A service (and an app) exists while it has versions, so listings show what is deployed.
      const versions = await db.query('SELECT 1 FROM versions WHERE app = $1 AND service = $2 LIMIT 1', [
        app,
        service,
      ]);
      if (versions.rowCount === 0)
        await db.query('DELETE FROM services WHERE app = $1 AND service = $2', [app, service]);
      const services = await db.query('SELECT 1 FROM services WHERE app = $1 LIMIT 1', [app]);
      if (services.rowCount === 0) {
        await db.query('DELETE FROM apps WHERE app = $1', [app]);
        await db.query('DELETE FROM dispatch WHERE app = $1', [app]);
      }
      return record;
    });
  }

  /** One write: under the lock, in one transaction, with the generation bumped. */
  #write<T>(work: (db: PgClient) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      const result = await work(db);
      await db.query('UPDATE versions_generation SET generation = generation + 1 WHERE id = 1');
      return result;
    });
  }
}

async function getVersion(
  db: Queryable,
  app: string,
  service: string,
  version: string,
): Promise<VersionRecord | undefined> {
  const { rows } = await db.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM versions WHERE app = $1 AND service = $2 AND version = $3`,
    [app, service, version],
  );
  return rows[0] === undefined ? undefined : toRecord(rows[0]);
}

async function getTraffic(db: Queryable, app: string, service: string): Promise<TrafficSplit | undefined> {
  const { rows } = await db.query<ServiceRow>(
    'SELECT app, service, allocations, shard_by FROM services WHERE app = $1 AND service = $2',
    [app, service],
  );
  return rows[0] === undefined ? undefined : toTraffic(rows[0]);
}

async function setAllocations(
  db: Queryable,
  app: string,
  service: string,
  allocations: Readonly<Record<string, number>>,
): Promise<void> {
  await db.query('UPDATE services SET allocations = $1 WHERE app = $2 AND service = $3', [
    JSON.stringify(allocations),
    app,
    service,
  ]);
}

async function notFound(db: Queryable, app: string, service: string, version: string): Promise<HangarError> {
  const apps = await db.query('SELECT 1 FROM apps WHERE app = $1', [app]);
  const services = await db.query('SELECT 1 FROM services WHERE app = $1 AND service = $2', [app, service]);
  return versionNotFound(app, service, version, {
    app: (apps.rowCount ?? 0) > 0,
    service: (services.rowCount ?? 0) > 0,
  });
}

/**
 * The platform's PostgreSQL database (SPEC S16, docs/scale-out.md): `serve --database
 * postgres://...` keeps every store there instead of in `<data-dir>/hangar.db`, so several
 * `serve` nodes on one database are one platform. As with SQLite (database.ts), each module
 * owns its tables and brings its own migrations, recorded per module in `hangar_schema_versions`.
 */
import pg from 'pg';
import { HangarError } from './errors.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/** What a connection URL may start with. */
const SCHEMES = ['postgres:', 'postgresql:'];

/**
 * Returns `url` when it is a PostgreSQL connection URL, else throws USAGE naming what is wrong.
 * The password is never repeated in the message.
 */
export function checkDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HangarError(
      'USAGE',
      `--database must be a PostgreSQL URL like postgres://USER:PASSWORD@HOST:5432/DATABASE, not ${JSON.stringify(redactUrl(url))}`,
    );
  }
  if (!SCHEMES.includes(parsed.protocol)) {
    throw new HangarError(
      'USAGE',
      `--database must be a postgres:// URL (PostgreSQL), not ${parsed.protocol}//...; without --database, serve keeps its state in SQLite in the data dir`,
    );
  }
  if (parsed.pathname.length <= 1) {
    throw new HangarError(
      'USAGE',
      `--database ${redactUrl(url)} names no database; add /DATABASE to the URL`,
    );
  }
  return url;
}

/** `url` with its password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

export interface PostgresOptions {
  /** Connections at most (each process keeps its own pool). */
  max?: number;
  /** Names the process in `pg_stat_activity`, e.g. `hangar serve (node a)`. */
  applicationName?: string;
}

/**
 * A pool on `url`, checked with one round trip: throws HangarError DATABASE naming the
 * (redacted) URL and PostgreSQL's reason when the database cannot be reached.
 *
 * @example
 * const pool = await openPostgres('postgres://hangar:secret@127.0.0.1/hangar');
 * await migratePostgres(pool, 'versions', ['CREATE TABLE ...']);
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PgPool> {
  checkDatabaseUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 8,
    application_name: options.applicationName ?? 'hangar',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // A database host that vanishes without closing its connections is noticed by TCP in
    // minutes rather than hours; queries then fail and their callers retry (docs/scale-out.md).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // A connection that breaks while idle (the server restarts) emits here; without a listener the
  // process would crash. The next query opens a new connection and reports its own error.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new HangarError(
      'DATABASE',
      `cannot connect to the platform database ${redactUrl(url)}: ${(err as Error).message}; check that PostgreSQL runs there and the user, password and database exist`,
      { cause: err },
    );
  }
  return pool;
}

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: PgPool, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** One schema step of a module: SQL to run, or a function for steps SQL alone cannot express. */
export type PgMigration = string | ((client: PgClient) => Promise<void>);

/**
 * The advisory lock key that serialises migrations: two nodes starting at once on a new
 * database must not both create the tables.
 */
const MIGRATION_LOCK = 0x48414e47; // 'HANG'

/**
 * Brings `module`'s tables to the newest version: runs the steps after the recorded version,
 * each in its own transaction together with the version bump, under an advisory lock so nodes
 * starting together migrate once. Steps are append-only: never edit a released step, add a new
 * one. A database whose `module` is newer than this Hangar is refused with its reason.
 */
export async function migratePostgres(
  pool: PgPool,
  module: string,
  migrations: readonly PgMigration[],
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      // Created only when missing: a user with no CREATE right (the Kubernetes pods' writer,
      // docs/kubernetes.md) opens a database the platform has migrated.
      const known = await client.query<{ exists: boolean }>(
        "SELECT to_regclass('hangar_schema_versions') IS NOT NULL AS exists",
      );
      if (!known.rows[0]?.exists) {
        await client.query(
          'CREATE TABLE IF NOT EXISTS hangar_schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)',
        );
      }
      const found = await client.query<{ version: number }>(
        'SELECT version FROM hangar_schema_versions WHERE module = $1',
        [module],
      );
      const current = found.rows[0]?.version ?? 0;
      if (current > migrations.length) {
        throw new HangarError(
          'DATABASE',
          `the ${module} tables in the platform database are at schema version ${current}, newer than this Hangar knows (${migrations.length}); upgrade Hangar on this node to the version the other nodes run`,
        );
      }
      for (let version = current + 1; version <= migrations.length; version++) {
        const step = migrations[version - 1]!;
        await client.query('BEGIN');
        try {
          if (typeof step === 'string') await client.query(step);
          else await step(client);
          await client.query(
            `INSERT INTO hangar_schema_versions (module, version) VALUES ($1, $2)
             ON CONFLICT (module) DO UPDATE SET version = excluded.version`,
            [module, version],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new HangarError(
            'DATABASE',
            `migrating the ${module} tables to schema version ${version} failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

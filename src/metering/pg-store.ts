/**
 * Metering counters in PostgreSQL (`serve --database`, SPEC S16): the same `metering_daily`
 * table as in SQLite (sqlite-store.ts), one row per day, app, service and version with one
 * column per counter, shared by every node on the database. A write adds deltas in one
 * upsert statement (`x = x + excluded.x`), so the flushes of several nodes sum up exactly
 * whatever their interleaving, and a refused write leaves every row unchanged.
 */

import { migratePostgres, type PgMigration, type PgPool } from '../shared/postgres.js';
import { COUNTER_NAMES, type CounterName } from './counters.js';
import type { MeteringStore, UsageRow } from './types.js';
import { usageRow } from './usage-row.js';

/** Counters that count whole things; `instance_hours` has fractions. */
const sqlType = (name: CounterName) => (name === 'instance_hours' ? 'DOUBLE PRECISION' : 'BIGINT');

/** Append-only (migratePostgres): never edit a released step, add one. */
const migrations: PgMigration[] = [
  // `day` is the UTC date as text (`YYYY-MM-DD`), as in SQLite: the key sorts and compares the same.
  `CREATE TABLE metering_daily (
    day TEXT NOT NULL,
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    ${COUNTER_NAMES.map((name) => `${name} ${sqlType(name)} NOT NULL DEFAULT 0`).join(',\n    ')},
    PRIMARY KEY (day, app, service, version)
  )`,
];

const KEYS = ['day', 'app', 'service', 'version'] as const;
const COLUMNS = [...KEYS, ...COUNTER_NAMES];
const isKey = (column: string): column is (typeof KEYS)[number] =>
  (KEYS as readonly string[]).includes(column);

/**
 * One statement for any number of rows: each column comes as one array parameter, so a flush
 * is one round trip. Bytes counters are BIGINT (a day's bandwidth passes 2^31 easily).
 */
const UPSERT = `INSERT INTO metering_daily (${COLUMNS.join(', ')})
  SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 1}::${isKey(c) ? 'TEXT' : sqlType(c as CounterName)}[]`).join(', ')})
  ON CONFLICT (day, app, service, version) DO UPDATE SET
  ${COUNTER_NAMES.map((n) => `${n} = metering_daily.${n} + excluded.${n}`).join(', ')}`;

/** Bytewise order (COLLATE "C"), as SQLite's: the database's locale must not change the order. */
const ORDER = 'ORDER BY app COLLATE "C", service COLLATE "C", version COLLATE "C"';

const BY_DAY = `SELECT day, app, service, version, ${COUNTER_NAMES.join(', ')}
  FROM metering_daily WHERE day = $1 ${ORDER}`;

const ALL_TIME = `SELECT '' AS day, app, service, version, ${COUNTER_NAMES.map((n) => `SUM(${n}) AS ${n}`).join(', ')}
  FROM metering_daily GROUP BY app, service, version ${ORDER}`;

/**
 * The metering table in PostgreSQL, on a pool the caller owns (and ends).
 *
 * @example
 * const pool = await openPostgres(url, { applicationName: 'hangar metering', max: 2 });
 * const store = await PgMeteringStore.open(pool);
 * await store.add([{ day: '2026-11-21', app: 'shop', service: 'default', version: 'v1', counters }]);
 */
export class PgMeteringStore implements MeteringStore {
  readonly #pool: PgPool;

  private constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** Brings the `metering` tables to the newest schema version, then returns the store. */
  static async open(pool: PgPool): Promise<PgMeteringStore> {
    await migratePostgres(pool, 'metering', migrations);
    return new PgMeteringStore(pool);
  }

  /**
   * Adds every row's counters to the stored ones in one statement (so in one transaction).
   * Rows with the same key are summed first (one statement may update a row only once), and
   * the rows go in key order, so two nodes writing the same rows lock them in the same order
   * and cannot deadlock.
   */
  async add(rows: readonly UsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    const merged = new Map<string, UsageRow>();
    for (const row of rows) {
      const key = `${row.day}\0${row.app}\0${row.service}\0${row.version}`;
      const prior = merged.get(key);
      if (prior) for (const name of COUNTER_NAMES) prior.counters[name] += row.counters[name];
      else merged.set(key, { ...row, counters: { ...row.counters } });
    }
    const sorted = [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    for (const row of sorted) {
      for (const name of COUNTER_NAMES) {
        // DOUBLE PRECISION would take NaN and Infinity, and a NaN would stick to the row for good.
        if (!Number.isFinite(row.counters[name]))
          throw new Error(
            `metering: ${name} of ${row.app}/${row.service}/${row.version} on ${row.day} is ${row.counters[name]}, not a count`,
          );
      }
    }
    const params = COLUMNS.map((column) =>
      sorted.map((row) => (isKey(column) ? row[column] : row.counters[column as CounterName])),
    );
    await this.#pool.query(UPSERT, params);
  }

  /** Stored counters of one day (`YYYY-MM-DD`). */
  async day(day: string): Promise<UsageRow[]> {
    const result = await this.#pool.query<Record<string, string | number>>(BY_DAY, [day]);
    return result.rows.map(usageRow);
  }

  /** Stored counters summed over all days, per app version (`day` is ''). */
  async allTime(): Promise<UsageRow[]> {
    const result = await this.#pool.query<Record<string, string | number>>(ALL_TIME);
    return result.rows.map(usageRow);
  }
}

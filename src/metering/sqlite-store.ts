/**
 * Metering counters in SQLite (`metering_daily` in `<data-dir>/hangar.db`): one row per day,
 * app, service and version, with one column per counter. Writes add deltas (an upsert), so
 * rows from earlier runs of the platform on the same day keep growing. better-sqlite3 is
 * synchronous: the methods do their work at once and return settled promises.
 */
import { type Db, migrate } from '../shared/database.js';
import { COUNTER_NAMES } from './counters.js';
import type { MeteringStore, UsageRow } from './types.js';
import { usageRow } from './usage-row.js';

const migrations = [
  `CREATE TABLE metering_daily (
    day TEXT NOT NULL,
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    ${COUNTER_NAMES.map((name) => `${name} ${name === 'instance_hours' ? 'REAL' : 'INTEGER'} NOT NULL DEFAULT 0`).join(',\n    ')},
    PRIMARY KEY (day, app, service, version)
  ) WITHOUT ROWID`,
];

/** The metering tables in SQLite; statements prepared once. */
export class SqliteMeteringStore implements MeteringStore {
  readonly #db: Db;
  readonly #upsert;
  readonly #byDay;
  readonly #allTime;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'metering', migrations);
    const columns = COUNTER_NAMES.join(', ');
    this.#upsert = db.prepare(
      `INSERT INTO metering_daily (day, app, service, version, ${columns})
       VALUES (@day, @app, @service, @version, ${COUNTER_NAMES.map((n) => `@${n}`).join(', ')})
       ON CONFLICT (day, app, service, version) DO UPDATE SET
       ${COUNTER_NAMES.map((n) => `${n} = ${n} + excluded.${n}`).join(', ')}`,
    );
    this.#byDay = db.prepare(
      `SELECT day, app, service, version, ${columns} FROM metering_daily WHERE day = ? ORDER BY app, service, version`,
    );
    this.#allTime = db.prepare(
      `SELECT '' AS day, app, service, version, ${COUNTER_NAMES.map((n) => `SUM(${n}) AS ${n}`).join(', ')}
       FROM metering_daily GROUP BY app, service, version ORDER BY app, service, version`,
    );
  }

  /** Adds every row's counters to the stored ones, in one transaction. */
  async add(rows: readonly UsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.#db.transaction(() => {
      for (const row of rows) {
        this.#upsert.run({
          day: row.day,
          app: row.app,
          service: row.service,
          version: row.version,
          ...row.counters,
        });
      }
    })();
  }

  /** Stored counters of one day (`YYYY-MM-DD`). */
  async day(day: string): Promise<UsageRow[]> {
    return (this.#byDay.all(day) as Array<Record<string, string | number>>).map(usageRow);
  }

  /** Stored counters summed over all days, per app version (`day` is ''). */
  async allTime(): Promise<UsageRow[]> {
    return (this.#allTime.all() as Array<Record<string, string | number>>).map(usageRow);
  }
}

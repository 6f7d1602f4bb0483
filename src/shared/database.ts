/**
 * The platform's SQLite database, `<data-dir>/hangar.db` (ARCHITECTURE.md "State"). One file
 * for every store (metering, request logs, versions); each module owns its tables and brings
 * its own migrations, recorded per module in `schema_versions`.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { HangarError } from '../shared/errors.js';

export type Db = Database.Database;

/** The database's file name in the data dir. */
export const DATABASE_FILE = 'hangar.db';

/** Page size of a new database file. */
export const PAGE_SIZE = 32 * 1024;

/**
 * Opens (creating if needed) `<dataDir>/hangar.db` in WAL mode: readers never block the
 * writer, and a crash loses at most the transaction being written. `synchronous = NORMAL` is
 * the setting WAL is designed for (durable at checkpoints, no fsync per commit).
 *
 * @example
 * const db = openDatabase(dataDir);
 * migrate(db, 'metering', [(db) => db.exec('CREATE TABLE ...')]);
 */
export function openDatabase(dataDir: string): Db {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, DATABASE_FILE);
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw new HangarError(
      'DATABASE',
      `cannot open the platform database ${file}: ${(err as Error).message}; check that --data-dir is writable`,
      { cause: err },
    );
  }
  // Set before anything is written, so only a new file gets it (an existing one keeps its size).
  // The request log appends rows of about a kilobyte (a record and its lines): with 32 KiB pages
  // a commit writes and checksums fewer WAL frames, and a row with ten lines costs about half the
  // CPU it does with 4 KiB pages (docs/decisions.md, "The request log's page size").
  db.pragma(`page_size = ${PAGE_SIZE}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // Another platform process (or a CLI reading the file) may hold the lock for a moment.
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  return db;
}

/** One schema step of a module: SQL to run, or a function for steps SQL alone cannot express. */
export type Migration = string | ((db: Db) => void);

/**
 * Brings `module`'s tables to the newest version: runs the steps after the recorded version,
 * each in its own transaction together with the version bump. Steps are append-only: never
 * edit a released step, add a new one.
 *
 * @example
 * migrate(db, 'logs', ['CREATE TABLE request_logs (...)', 'CREATE INDEX ...']);
 */
export function migrate(db: Db, module: string, migrations: readonly Migration[]): void {
  const row = db.prepare('SELECT version FROM schema_versions WHERE module = ?').get(module) as
    | { version: number }
    | undefined;
  const current = row?.version ?? 0;
  if (current > migrations.length) {
    throw new HangarError(
      'DATABASE',
      `the ${module} tables in ${db.name} are at schema version ${current}, newer than this Hangar knows (${migrations.length}); upgrade Hangar or use another --data-dir`,
    );
  }
  const record = db.prepare(
    'INSERT INTO schema_versions (module, version) VALUES (?, ?) ON CONFLICT(module) DO UPDATE SET version = excluded.version',
  );
  for (let version = current + 1; version <= migrations.length; version++) {
    const step = migrations[version - 1]!;
    db.transaction(() => {
      if (typeof step === 'string') db.exec(step);
      else step(db);
      record.run(module, version);
    })();
  }
}

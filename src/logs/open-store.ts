/**
 * Which `LogStore` a process opens, from plain data that can cross a thread or process
 * boundary (the log worker's start data): SQLite in the data dir, or the platform's PostgreSQL
 * database (S16, `serve --database`). Nothing that uses a `LogStore` knows which.
 */
import { openDatabase } from '../shared/database.js';
import { openPostgres } from '../shared/postgres.js';
import { PgLogStore } from './pg-store.js';
import { SqliteLogStore } from './sqlite-store.js';
import type { LogStore } from './store.js';

/** Where the request log is kept. */
export type LogStoreLocation = { kind: 'sqlite'; dataDir: string } | { kind: 'postgres'; url: string };

/** An open store and how to close what it opened. */
export interface OpenedLogStore {
  store: LogStore;
  /**
   * Of `ids`, those the store has a record of. The request journal's recovery stores only the
   * others: a stored record may hold lines that came over IPC, which the journal's entry lacks.
   */
  storedIds(ids: readonly string[]): Promise<Set<string>>;
  /** Closes the database connection (SQLite) or pool (PostgreSQL) opened for the store. */
  close(): Promise<void>;
}

/** Connections of the log's pool: the writer's batches, a prune and the queries of the admin API. */
const POOL_SIZE = 4;

/**
 * Opens (creating or migrating) the store `location` names. Rejects with HangarError DATABASE
 * when it cannot be opened or reached, or its schema is newer than this Hangar.
 *
 * @example
 * const { store, close } = await openLogStore({ kind: 'sqlite', dataDir });
 */
export async function openLogStore(location: LogStoreLocation): Promise<OpenedLogStore> {
  if (location.kind === 'postgres') {
    const pool = await openPostgres(location.url, { max: POOL_SIZE, applicationName: 'hangar request log' });
    try {
      const store = await PgLogStore.open(pool);
      let ended: Promise<void> | undefined;
      return { store, storedIds: (ids) => store.storedIds(ids), close: () => (ended ??= pool.end()) };
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }
  const db = openDatabase(location.dataDir);
  try {
    const store = new SqliteLogStore(db);
    let stored: ReturnType<typeof db.prepare> | undefined;
    const storedIds = async (ids: readonly string[]) => {
      stored ??= db
        .prepare('SELECT request_id FROM request_logs WHERE request_id IN (SELECT value FROM json_each(?))')
        .pluck();
      return new Set(stored.all(JSON.stringify(ids)) as string[]);
    };
    return {
      store,
      storedIds,
      close: async () => {
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Which `LogStore` a process opens, from plain data that can cross a thread or process
 * boundary (the log worker's start data). SQLite in the data dir is the only kind today;
 * S16's PostgreSQL store adds a kind here, and nothing that uses a `LogStore` changes.
 */
import { openDatabase } from '../shared/database.js';
import { SqliteLogStore } from './sqlite-store.js';
import type { LogStore } from './store.js';

/** Where the request log is kept. */
export type LogStoreLocation = { kind: 'sqlite'; dataDir: string };

/** An open store and how to close what it opened. */
export interface OpenedLogStore {
  store: LogStore;
  /**
   * Of `ids`, those the store has a record of. The request journal's recovery stores only the
   * others: a stored record may hold lines that came over IPC, which the journal's entry lacks.
   */
  storedIds(ids: readonly string[]): Set<string>;
  close(): void;
}

/**
 * Opens (creating or migrating) the store `location` names. Throws HangarError DATABASE when
 * it cannot be opened or its schema is newer than this Hangar.
 *
 * @example
 * const { store, close } = openLogStore({ kind: 'sqlite', dataDir });
 */
export function openLogStore(location: LogStoreLocation): OpenedLogStore {
  const db = openDatabase(location.dataDir);
  try {
    const store = new SqliteLogStore(db);
    let stored: ReturnType<typeof db.prepare> | undefined;
    const storedIds = (ids: readonly string[]) => {
      stored ??= db
        .prepare('SELECT request_id FROM request_logs WHERE request_id IN (SELECT value FROM json_each(?))')
        .pluck();
      return new Set(stored.all(JSON.stringify(ids)) as string[]);
    };
    return { store, storedIds, close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}

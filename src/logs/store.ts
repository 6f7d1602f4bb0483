/**
 * The request log store seam (SPEC S9). Callers see only this interface, so a store on another
 * database (PostgreSQL, when the platform spans machines) slots in without touching them;
 * every store must pass the one conformance suite in store-conformance.ts.
 */
import type { LogPage, LogQuery, RecordWithLines, StoredLine } from './types.js';

/** How much the store keeps (S15 `logs:`). */
export interface RetentionPolicy {
  /** Entries that started longer ago than this are deleted. */
  maxAgeMs: number;
  /** Oldest entries are deleted while the store is larger than this. */
  maxBytes: number;
}

export interface LogStore {
  /**
   * Stores records and lines in one step. A record may carry the lines that came with it (the
   * common case: kept with the record, no extra write); other lines, before or after their
   * record, come in `lines`. A query returns a record's own lines, then the others, by id.
   */
  append(records: readonly RecordWithLines[], lines: readonly StoredLine[]): Promise<void>;
  /** Entries matching `query`, newest last, with their lines in the order they were written. */
  query(query: LogQuery): Promise<LogPage>;
  /** Deletes what `policy` no longer keeps; resolves to the number of entries deleted. */
  prune(policy: RetentionPolicy, now?: number): Promise<number>;
  close(): Promise<void>;
}

/** Default and largest page size of a query. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

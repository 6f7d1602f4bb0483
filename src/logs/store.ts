/**
 * The request log store seam (SPEC S9). Callers see only this interface, so a store on another
 * database (PostgreSQL, when the platform spans machines) slots in without touching them;
 * every store must pass the one conformance suite in store-conformance.ts.
 */
import type { LogPage, LogQuery, RequestLogRecord, StoredLine } from './types.js';

/** How much the store keeps (S15 `logs:`). */
export interface RetentionPolicy {
  /** Entries that started longer ago than this are deleted. */
  maxAgeMs: number;
  /** Oldest entries are deleted while the store is larger than this. */
  maxBytes: number;
}

export interface LogStore {
  /**
   * Stores records and lines in one step. Lines may come before or after their request's
   * record (they travel from the instance on another channel); a query joins them by id.
   */
  append(records: readonly RequestLogRecord[], lines: readonly StoredLine[]): Promise<void>;
  /** Entries matching `query`, newest last, with their lines in the order they were written. */
  query(query: LogQuery): Promise<LogPage>;
  /** Deletes what `policy` no longer keeps; resolves to the number of entries deleted. */
  prune(policy: RetentionPolicy, now?: number): Promise<number>;
  close(): Promise<void>;
}

/** Default and largest page size of a query. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/**
 * The metering seams: what the front end asks of the meter (step 3's quota check, step 8's
 * count) and where the meter keeps its counters. SQLite (sqlite-store.ts) and, under
 * `serve --database` (S16), PostgreSQL (pg-store.ts) implement the store, both checked by the
 * same conformance suite (store.test.ts). The store is asynchronous; the request path never
 * waits for it (meter.ts counts in memory).
 */
import type { RequestRecord } from '../shared/request-record.js';
import type { Counters } from './counters.js';

/** Step 3's quota check and step 8's count (S10); src/metering implements it. */
export interface TrafficMeter {
  /** The name of a daily quota `app` has used up today, or undefined. */
  overQuota(app: string): string | undefined;
  /** Counts a finished request against its app and version. */
  count(record: RequestRecord): void;
}

/** Counters of one app version on one day. */
export interface UsageRow {
  day: string;
  app: string;
  service: string;
  version: string;
  counters: Counters;
}

/**
 * Where the meter keeps its daily counters. Writes add deltas, so concurrent writers (several
 * connections, several `serve` nodes on one database) sum up exactly.
 */
export interface MeteringStore {
  /** Adds every row's counters to the stored ones, all or none; rejects when none landed. */
  add(rows: readonly UsageRow[]): Promise<void>;
  /** Stored counters of one day (`YYYY-MM-DD`), ordered by app, service, version (bytewise). */
  day(day: string): Promise<UsageRow[]>;
  /** Stored counters summed over all days, per app version (`day` is ''), same order. */
  allTime(): Promise<UsageRow[]>;
}

/**
 * The metering seams: what the front end asks of the meter (step 3's quota check, step 8's
 * count) and where the meter keeps its counters. SQLite implements the store today
 * (sqlite-store.ts); S16's PostgreSQL store will implement the same interface, checked by the
 * same conformance suite (store.test.ts).
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

/** Where the meter keeps its daily counters. Writes add deltas, so concurrent writers sum up. */
export interface MeteringStore {
  /** Adds every row's counters to the stored ones, all or none. */
  add(rows: readonly UsageRow[]): void;
  /** Stored counters of one day (`YYYY-MM-DD`), ordered by app, service, version. */
  day(day: string): UsageRow[];
  /** Stored counters summed over all days, per app version (`day` is ''), same order. */
  allTime(): UsageRow[];
}

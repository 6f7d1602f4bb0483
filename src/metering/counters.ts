/**
 * The S10 counters, one per daily quota name (the same names as `quotas.daily` in the platform
 * config, so a limit and its counter are found by one key).
 */

import { DAILY_QUOTA_NAMES } from '../config/index.js';

export type CounterName = (typeof DAILY_QUOTA_NAMES)[number];
export type Counters = Record<CounterName, number>;

/** Counter names in a fixed order (table columns, Prometheus families). */
export const COUNTER_NAMES: readonly CounterName[] = DAILY_QUOTA_NAMES;

/** All counters at 0. */
export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counters;
}

/** Adds `delta` into `into`. */
export function addCounters(into: Counters, delta: Counters): void {
  for (const name of COUNTER_NAMES) into[name] += delta[name];
}

/**
 * The metering day of a moment: the UTC date. Quotas reset at 00:00 UTC (App Engine resets
 * at midnight Pacific time; a self-hosted platform has no reason to prefer that zone).
 *
 * @example
 * utcDay(Date.UTC(2026, 10, 21, 23, 59)) // '2026-11-21'
 */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

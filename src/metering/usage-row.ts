/** How both metering stores (sqlite-store.ts, pg-store.ts) turn a stored row into a UsageRow. */
import { COUNTER_NAMES, zeroCounters } from './counters.js';
import type { UsageRow } from './types.js';

/**
 * A stored row as the metering stores read it: its keys, and one column per counter (SQLite's
 * numbers, or PostgreSQL's BIGINT and SUM() as strings, since they may pass 2^53; counts stay
 * far below that).
 */
export function usageRow(raw: Record<string, string | number>): UsageRow {
  const counters = zeroCounters();
  for (const name of COUNTER_NAMES) counters[name] = Number(raw[name] ?? 0);
  return {
    day: String(raw.day),
    app: String(raw.app),
    service: String(raw.service),
    version: String(raw.version),
    counters,
  };
}

/**
 * The MeteringStore conformance suite: every store implementation runs these same cases (the
 * undici cache-store pattern, as src/logs/store.test.ts). Today: SQLite on a real file in a
 * temp dir; S16's PostgreSQL store will run it too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../shared/database.js';
import { type Counters, zeroCounters } from './counters.js';
import { SqliteMeteringStore } from './sqlite-store.js';
import type { MeteringStore, UsageRow } from './types.js';

interface Harness {
  store: MeteringStore;
  /** Another store object on the same storage (another connection), as a second writer. */
  another(): MeteringStore;
  /** Closes the storage and opens it again. */
  reopen(): MeteringStore;
  cleanup(): void;
}

function row(
  day: string,
  app: string,
  version: string,
  counters: Partial<Counters>,
  service = 'default',
): UsageRow {
  return { day, app, service, version, counters: { ...zeroCounters(), ...counters } };
}

/** A row as `day()`/`allTime()` must return it: every counter present, 0 where nothing was added. */
const stored = row;

const names = (rows: UsageRow[]) => rows.map((r) => `${r.app}/${r.service}/${r.version}`);

export function describeMeteringStore(name: string, make: () => Harness): void {
  describe(`MeteringStore conformance: ${name}`, () => {
    let h: Harness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => h.cleanup());

    it('starts empty', () => {
      expect(h.store.day('2026-01-01')).toEqual([]);
      expect(h.store.allTime()).toEqual([]);
    });

    it('adds deltas across calls, counter by counter; instance-hours keep their fractions', () => {
      h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 2, outgoing_bytes: 100, instance_hours: 0.25 }),
      ]);
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 3, incoming_bytes: 7, instance_hours: 0.5 })]);
      h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 1 }),
        row('2026-01-01', 'shop', 'v1', { secure_requests: 1, urlfetch_calls: 4 }),
      ]);
      expect(h.store.day('2026-01-01')).toEqual([
        stored('2026-01-01', 'shop', 'v1', {
          requests: 6,
          secure_requests: 1,
          incoming_bytes: 7,
          outgoing_bytes: 100,
          urlfetch_calls: 4,
          instance_hours: 0.75,
        }),
      ]);
    });

    it('adds up what two store objects on the same storage write', () => {
      const other = h.another();
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1, socket_bytes: 10 })]);
      other.add([row('2026-01-01', 'shop', 'v1', { requests: 2, socket_bytes: 5 })]);
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 4 })]);
      const want = [stored('2026-01-01', 'shop', 'v1', { requests: 7, socket_bytes: 15 })];
      expect(h.store.day('2026-01-01')).toEqual(want);
      expect(other.day('2026-01-01')).toEqual(want);
    });

    it('day() returns only that day, ordered by app, then service, then version', () => {
      h.store.add([
        row('2026-01-02', 'shop', 'v2', { requests: 1 }),
        row('2026-01-02', 'blog', 'v1', { requests: 2 }, 'worker'),
        row('2026-01-01', 'shop', 'v1', { requests: 3 }),
        row('2026-01-02', 'shop', 'v1', { requests: 4 }, 'api'),
        row('2026-01-02', 'blog', 'v1', { requests: 5 }),
        row('2026-01-02', 'shop', 'v10', { requests: 6 }),
        row('2026-01-03', 'blog', 'v1', { requests: 7 }),
        row('2026-01-02', 'blog', 'v0', { requests: 8 }, 'worker'),
      ]);
      const second = h.store.day('2026-01-02');
      expect(names(second)).toEqual([
        'blog/default/v1',
        'blog/worker/v0',
        'blog/worker/v1',
        'shop/api/v1',
        'shop/default/v10',
        'shop/default/v2',
      ]);
      expect(second.every((r) => r.day === '2026-01-02')).toBe(true);
      expect(second.map((r) => r.counters.requests)).toEqual([5, 8, 2, 4, 6, 1]);
      expect(h.store.day('2026-01-01')).toEqual([stored('2026-01-01', 'shop', 'v1', { requests: 3 })]);
      expect(h.store.day('2026-01-04')).toEqual([]);
    });

    it("allTime() sums each app version over its days, with day '' and the same order", () => {
      h.store.add([
        row('2026-01-01', 'shop', 'v1', { requests: 1, outgoing_bytes: 10, instance_hours: 1.5 }),
        row('2026-01-02', 'shop', 'v1', { requests: 2, outgoing_bytes: 20, instance_hours: 0.25 }),
        row('2026-01-02', 'blog', 'v1', { requests: 5 }),
      ]);
      h.store.add([row('2026-01-03', 'shop', 'v1', { requests: 4 })]);
      h.store.add([row('2026-01-03', 'shop', 'v1', { requests: 8 }, 'api')]);
      expect(h.store.allTime()).toEqual([
        stored('', 'blog', 'v1', { requests: 5 }),
        stored('', 'shop', 'v1', { requests: 8 }, 'api'),
        stored('', 'shop', 'v1', { requests: 7, outgoing_bytes: 30, instance_hours: 1.75 }),
      ]);
    });

    it('add([]) changes nothing', () => {
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      const before = { day: h.store.day('2026-01-01'), all: h.store.allTime() };
      expect(() => h.store.add([])).not.toThrow();
      expect({ day: h.store.day('2026-01-01'), all: h.store.allTime() }).toEqual(before);
    });

    it('lands all rows of one add or none: a row the store refuses leaves every other row unchanged', () => {
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      const before = h.store.allTime();
      // NaN is no count: SQLite binds it as NULL, which the NOT NULL counter columns refuse
      // (PostgreSQL refuses NaN in an integer column too). The rows before it in the same
      // call, a new one and an update of a stored one, must not land either.
      const refused = row('2026-01-01', 'shop', 'v2', { requests: Number.NaN });
      expect(() =>
        h.store.add([
          row('2026-01-01', 'blog', 'v1', { requests: 5 }),
          row('2026-01-01', 'shop', 'v1', { requests: 5 }),
          refused,
        ]),
      ).toThrow();
      expect(h.store.allTime()).toEqual(before);
      expect(h.store.day('2026-01-01')).toEqual([stored('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      // The store still takes the next add.
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 1 })]);
      expect(h.store.day('2026-01-01')[0]?.counters.requests).toBe(2);
    });

    it('keeps what was added across a reopen', () => {
      h.store.add([row('2026-01-01', 'shop', 'v1', { requests: 3, outgoing_bytes: 1024 ** 3 * 5 })]);
      const again = h.reopen();
      expect(again.day('2026-01-01')).toEqual([
        stored('2026-01-01', 'shop', 'v1', { requests: 3, outgoing_bytes: 1024 ** 3 * 5 }),
      ]);
    });
  });
}

describeMeteringStore('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-meteringstore-'));
  const open: Db[] = [];
  const connect = () => {
    const db = openDatabase(dir);
    open.push(db);
    return new SqliteMeteringStore(db);
  };
  return {
    store: connect(),
    another: connect,
    reopen() {
      for (const db of open.splice(0)) db.close();
      return connect();
    },
    cleanup() {
      for (const db of open.splice(0)) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

import { afterEach, describe, expect, it } from 'vitest';
import type { LogStore } from '../logs/store.js';
import type { RecordWithLines } from '../logs/types.js';
import type { MeteringStore, UsageRow } from '../metering/types.js';
import type { PodLogEntry } from './pod-log.js';
import { PodRecorder, type PodRecorderOptions, type PodStores, reconnecting } from './pod-recorder.js';

const instance = { id: 'i1', app: 'shop', service: 'default', version: 'v1', startedAt: new Date() };

let n = 0;
function entry(over: Partial<PodLogEntry> = {}): PodLogEntry {
  n++;
  return {
    requestId: `r${String(n).padStart(6, '0')}`,
    appId: 'shop',
    service: 'default',
    version: 'v1',
    instanceId: 'i1',
    startTime: new Date().toISOString(),
    latencyMs: 1,
    pendingMs: 0,
    method: 'GET',
    resource: '/',
    httpVersion: '1.1',
    status: 200,
    bytesIn: 10,
    bytesOut: 100,
    userAgent: null,
    ip: null,
    host: null,
    loadingRequest: false,
    secure: false,
    error: null,
    lines: [{ time: new Date().toISOString(), level: 'info', message: 'hello' }],
    ...over,
  };
}

/** Stores in memory that fail while `down` is true. */
class FakeDatabase implements PodStores {
  down = false;
  records: RecordWithLines[] = [];
  usage: UsageRow[] = [];
  /** What another node counted (the day's totals the meter reads back). */
  others: UsageRow[] = [];
  readonly logs: LogStore = {
    append: async (records) => {
      if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      this.records.push(...records);
    },
    query: async () => ({ entries: [], next: null }),
    prune: async () => 0,
    close: async () => {},
  };
  readonly metering: MeteringStore = {
    add: async (rows) => {
      if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      for (const row of rows) this.usage.push(structuredClone(row));
    },
    day: async () => {
      if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return [...this.usage, ...this.others];
    },
    allTime: async () => [],
  };
  requests(): number {
    return this.usage.reduce((sum, row) => sum + row.counters.requests, 0);
  }
}

const recorders: PodRecorder[] = [];
afterEach(async () => {
  await Promise.all(recorders.splice(0).map((r) => r.close(100)));
});

function recorder(db: FakeDatabase, over: Partial<PodRecorderOptions> = {}) {
  const said: string[] = [];
  const spilled: string[] = [];
  const quota: Array<string | undefined> = [];
  const r = new PodRecorder({
    stores: async () => db,
    instance,
    quotas: {},
    spill: (text) => spilled.push(text),
    say: (severity, message) => said.push(`${severity} ${message}`),
    onQuota: (q) => quota.push(q),
    flushMs: 5,
    meterFlushMs: 20,
    quotaCheckMs: 5,
    ...over,
  });
  recorders.push(r);
  return { r, said, spilled, quota };
}

const until = async (what: string, check: () => boolean, ms = 2_000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('PodRecorder (a pod on the platform database)', () => {
  it('writes entries with their lines to the log store, and counts metered requests', async () => {
    const db = new FakeDatabase();
    const { r } = recorder(db);
    r.entry(entry(), true);
    r.entry(entry({ resource: '/x', bytesIn: 5, bytesOut: 7 }), true);
    // Refused before routing (step 2): logged, not counted.
    r.entry(entry({ status: 400 }), false);
    await until('three records', () => db.records.length === 3);
    expect(db.records[0]).toMatchObject({ appId: 'shop', split: null, lines: [{ message: 'hello' }] });
    await until('the counts', () => db.requests() === 2);
    const row = db.usage.find((u) => u.counters.requests > 0)!;
    expect(row).toMatchObject({ app: 'shop', service: 'default', version: 'v1' });
    expect(db.usage.reduce((sum, u) => sum + u.counters.incoming_bytes, 0)).toBe(15);
    expect(r.waiting).toBe(0);
  });

  it('keeps entries while the database is away, says so once, and writes them when it is back', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const { r, said, spilled } = recorder(db, { reportEveryMs: 60_000 });
    for (let i = 0; i < 5; i++) r.entry(entry(), true);
    await until('a warning', () => said.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Many retries, one warning.
    expect(said.filter((s) => s.startsWith('WARNING'))).toHaveLength(1);
    expect(said[0]).toContain('ECONNREFUSED');
    expect(r.waiting).toBe(5);
    db.down = false;
    await until('the five records', () => db.records.length === 5);
    await until('the counts', () => db.requests() === 5);
    expect(said.at(-1)).toContain('takes entries again');
    expect(spilled).toEqual([]);
  });

  it('keeps at most maxWaiting entries: the rest go to stdout as JSON lines, said once', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const { r, said, spilled } = recorder(db, { maxWaiting: 3 });
    const entries = Array.from({ length: 5 }, () => entry());
    for (const e of entries) r.entry(e, true);
    expect(r.waiting).toBe(3);
    expect(spilled.map((line) => JSON.parse(line).requestId)).toEqual([
      entries[3]!.requestId,
      entries[4]!.requestId,
    ]);
    expect(JSON.parse(spilled[0]!)).toMatchObject({ severity: 'INFO', lines: [{ message: 'hello' }] });
    expect(said.filter((s) => s.includes('the most a pod keeps'))).toHaveLength(1);
  });

  it('bounds the bytes waiting too', () => {
    const db = new FakeDatabase();
    db.down = true;
    const { r, spilled } = recorder(db, { maxWaitingBytes: 10_000 });
    const big = 'x'.repeat(4_000);
    for (let i = 0; i < 4; i++) r.entry(entry({ lines: [{ time: '', level: 'info', message: big }] }), true);
    expect(r.waiting).toBe(2);
    expect(spilled).toHaveLength(2);
  });

  it('on close, what the database did not take goes to stdout', async () => {
    const db = new FakeDatabase();
    db.down = true;
    const { r, said, spilled } = recorder(db);
    const e = entry();
    r.entry(e, true);
    await r.close(50);
    expect(said.join('\n')).toContain("the pod's last counts could not be written");
    expect(said.at(-1)).toContain('1 entries could not be stored');
    expect(JSON.parse(spilled.join('')).requestId).toBe(e.requestId);
    // After close, entries go straight to stdout.
    r.entry(entry(), true);
    expect(spilled).toHaveLength(2);
  });

  it("enforces quotas.daily on the platform's totals: another node's counts included", async () => {
    const db = new FakeDatabase();
    db.others = [
      {
        day: new Date().toISOString().slice(0, 10),
        app: 'shop',
        service: 'default',
        version: 'v0',
        counters: {
          requests: 9,
          secure_requests: 0,
          incoming_bytes: 0,
          outgoing_bytes: 0,
          secure_incoming_bytes: 0,
          secure_outgoing_bytes: 0,
          socket_bytes: 0,
          urlfetch_calls: 0,
          urlfetch_bytes: 0,
          instance_hours: 0,
        },
      },
    ];
    const { r, quota } = recorder(db, { quotas: { requests: 10 } });
    // The meter's first flush reads the day's totals: 9 by the other node.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.overQuota()).toBeUndefined();
    r.entry(entry(), true);
    expect(r.overQuota()).toBe('requests');
    expect(quota).toEqual(['requests']);
  });

  it('without quotas, never reads the day totals', async () => {
    const db = new FakeDatabase();
    let reads = 0;
    const day = db.metering.day;
    db.metering.day = async (d) => {
      reads++;
      return day(d);
    };
    const { r } = recorder(db);
    r.entry(entry(), true);
    await until('the counts', () => db.requests() === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reads).toBe(0);
  });
});

describe('reconnecting', () => {
  it('opens once; after a failure waits, doubling, before it tries again', async () => {
    let now = 0;
    let tries = 0;
    let up = false;
    const db = reconnecting(
      async () => {
        tries++;
        if (!up) throw new Error('down');
        return 'pool';
      },
      { minDelayMs: 100, maxDelayMs: 250, now: () => now },
    );
    await expect(db.get()).rejects.toThrow('down');
    await expect(db.get()).rejects.toThrow('down');
    expect(tries).toBe(1);
    now = 100;
    await expect(db.get()).rejects.toThrow('down');
    expect(tries).toBe(2);
    now = 250; // the delay doubled to 200
    await expect(db.get()).rejects.toThrow('down');
    expect(tries).toBe(2);
    now = 300;
    up = true;
    await expect(db.get()).resolves.toBe('pool');
    await expect(db.get()).resolves.toBe('pool');
    expect(tries).toBe(3);
    expect(db.current()).toBe('pool');
  });
});

/**
 * The request log as the platform's log thread runs it, on a real SQLite file: lines that come
 * with a response in the stored form are shown and stored as they came; text an instance sent
 * that is not that form is kept as one error line, and the log stays readable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../shared/database.js';
import type { RequestRecord } from '../shared/request-record.js';
import { createRequestLogs, type RequestLogs } from './request-logs.js';
import { SqliteLogStore } from './sqlite-store.js';
import type { LogLine, RequestLogRecord } from './types.js';

const t = Date.parse('2026-11-21T10:00:00.000Z');

function served(n: number, lines: string): RequestRecord {
  return {
    requestId: `0000000000${n}`.slice(-10).padEnd(32, '0'),
    startTime: t,
    method: 'GET',
    resource: `/r/${n}`,
    status: 200,
    latencyMs: 1,
    bytesOut: 10,
    instanceId: 'a'.repeat(32),
    lines,
    linesComplete: true,
  };
}

describe('request logs: lines that came with the response', () => {
  let dir: string;
  let db: Db;
  let logs: RequestLogs;
  let shown: Array<[RequestLogRecord, readonly LogLine[]]>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-request-logs-'));
    db = openDatabase(dir);
    shown = [];
    logs = createRequestLogs({
      store: new SqliteLogStore(db),
      retention: { maxAgeMs: 3_600_000, maxBytes: 2 ** 30 },
      onEntry: (record, lines) => shown.push([record, lines]),
    });
  });
  afterEach(async () => {
    await logs.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows and stores lines in the stored form as they came', async () => {
    logs.request(
      served(
        1,
        JSON.stringify([
          [t, 1, 'one'],
          [t + 2, 4, 'two "quoted"'],
        ]),
      ),
    );
    const expected = [
      { time: '2026-11-21T10:00:00.000Z', level: 'info', message: 'one' },
      { time: '2026-11-21T10:00:00.002Z', level: 'critical', message: 'two "quoted"' },
    ];
    expect(shown.map(([, lines]) => lines)).toEqual([expected]);
    const page = await logs.query({ minLevel: 'critical' });
    expect(page.entries.map((e) => e.lines)).toEqual([expected]);
    expect(page.entries[0]).not.toHaveProperty('storedLines');
  });

  it('keeps text that is not the stored form as one error line, and the log stays readable', async () => {
    const broken = '[[1,1,"unterminated';
    logs.request(served(2, broken));
    logs.request(served(3, '[[1,9,"no such level"]]'));
    logs.request(served(4, JSON.stringify([[t, 1, 'fine']])));
    const page = await logs.query({ text: 'Hangar could not read' });
    expect(page.entries.map((e) => e.lines)).toEqual([
      [{ time: '2026-11-21T10:00:00.000Z', level: 'error', message: expect.stringContaining(broken) }],
      [
        {
          time: '2026-11-21T10:00:00.000Z',
          level: 'error',
          message: expect.stringContaining('no such level'),
        },
      ],
    ]);
    expect((await logs.query({})).entries).toHaveLength(3);
    expect((await logs.query({ text: 'fine' })).entries).toHaveLength(1);
  });
});

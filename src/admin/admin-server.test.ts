import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HangarError } from '../shared/errors.js';
import { type AdminSource, createAdminServer, writeTail } from './admin-server.js';

/** A response that records what happens to it; `writableLength` grows with what is written and never drains. */
function unreadResponse() {
  const written: string[] = [];
  const res = {
    destroyed: false,
    writableLength: 0,
    write(text: string) {
      written.push(text);
      res.writableLength += Buffer.byteLength(text);
      return false;
    },
    destroy() {
      res.destroyed = true;
      return res;
    },
  };
  return { res, written };
}

describe('writeTail', () => {
  it('writes while the client reads, and closes a client that leaves more than the cap unread', () => {
    const { res, written } = unreadResponse();
    const piece = 'data: {"requestId":"x"}\n\n'.repeat(40); // 1,000 bytes
    for (let i = 0; i < 10; i++) writeTail(res as never, piece, 5_000);
    // Pieces are written while at most the cap is unread (the sixth makes it 6,000); the seventh
    // finds more than the cap unread and closes the connection instead.
    expect(written).toHaveLength(6);
    expect(res.destroyed).toBe(true);
    expect(res.writableLength).toBe(6_000);
  });

  it('keeps writing to a client that drains', () => {
    const { res, written } = unreadResponse();
    for (let i = 0; i < 100; i++) {
      writeTail(res as never, 'x'.repeat(1_000), 5_000);
      res.writableLength = 0; // read by the client
    }
    expect(written).toHaveLength(100);
    expect(res.destroyed).toBe(false);
  });
});

describe('GET /api/quotas and /metrics from a store read asynchronously (S10, S16)', () => {
  const TOKEN = 'q'.repeat(32);
  /** What the next answer does: a report, a HangarError, a database failure. */
  let outcome: 'ok' | 'usage' | 'down' = 'ok';
  const later = <T>(value: () => T) =>
    new Promise<T>((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(value());
        } catch (err) {
          reject(err);
        }
      }, 5),
    );
  const source: AdminSource = {
    instances: () => [],
    decisions: () => [],
    quotas: (query) =>
      later(() => {
        if (outcome === 'usage') throw new HangarError('USAGE', 'day must be a UTC date YYYY-MM-DD');
        if (outcome === 'down')
          throw new HangarError(
            'DATABASE',
            'metering: cannot read the counts from postgres://h:***@127.0.0.1/x',
          );
        return { day: query.get('day'), apps: [] };
      }),
    metrics: () =>
      later(() => {
        if (outcome === 'down') throw new Error('connection refused');
        return { contentType: 'text/plain; version=0.0.4', body: 'hangar_requests_total 3\n' };
      }),
  };
  const server = createAdminServer(TOKEN, source);
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const get = (path: string) => fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });

  it('answers the report once the promise resolves; a rejection with its status and message', async () => {
    outcome = 'ok';
    const ok = await get('/api/quotas?day=2026-01-01');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ day: '2026-01-01', apps: [] });
    outcome = 'usage';
    const bad = await get('/api/quotas?day=x');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'day must be a UTC date YYYY-MM-DD' });
    outcome = 'down';
    const down = await get('/api/quotas');
    expect(down.status).toBe(500);
    expect(((await down.json()) as { error: string }).error).toContain('postgres://h:***@127.0.0.1/x');
  });

  it('answers /metrics once the text is made; 500 with the reason when it cannot be read', async () => {
    outcome = 'ok';
    const ok = await get('/metrics');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4');
    expect(await ok.text()).toBe('hangar_requests_total 3\n');
    outcome = 'down';
    const down = await get('/metrics');
    expect(down.status).toBe(500);
    expect(await down.text()).toContain('connection refused');
  });
});

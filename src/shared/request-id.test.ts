import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { newRequestId, RequestIdGenerator, requestIdHash } from './request-id.js';

const run = promisify(execFile);

describe('request ids (S9)', () => {
  it('are lowercase hex of at least 32 digits and start with the time', () => {
    const id = newRequestId();
    expect(id).toMatch(/^[0-9a-f]{32,}$/);
    expect(Number.parseInt(id.slice(0, 12), 16)).toBeLessThanOrEqual(Date.now());
    expect(Date.now() - Number.parseInt(id.slice(0, 12), 16)).toBeLessThan(60_000);
  });

  it('increase within a process even when the clock stands still or steps back', () => {
    const gen = new RequestIdGenerator('00000000000001');
    const ids = [gen.next(1000), gen.next(1000), gen.next(999), gen.next(1001)];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(4);
  });

  it('sort later requests greater across processes by their start time', () => {
    const a = new RequestIdGenerator('ffffffffffffff').next(5000);
    const b = new RequestIdGenerator('00000000000000').next(5001);
    expect(a < b).toBe(true);
  });

  it('REQUEST_ID_HASH is %08X of the CRC-32 of the id', () => {
    // CRC-32 of "123456789" is CBF43926 (the standard check value).
    expect(requestIdHash('123456789')).toBe('CBF43926');
    expect(requestIdHash('a')).toBe('E8B7BE43');
  });

  it('100,000 ids from two processes are unique and each process’s are ordered', async () => {
    const script = `
      import { newRequestId } from ${JSON.stringify(new URL('./request-id.ts', import.meta.url).href)};
      const ids = [];
      for (let i = 0; i < 50000; i++) ids.push(newRequestId());
      process.stdout.write(ids.join('\\n'));
    `;
    const tsx = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).href;
    const spawnOne = () =>
      run(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
        maxBuffer: 64 * 1024 * 1024,
      });
    const [one, two] = await Promise.all([spawnOne(), spawnOne()]);
    const a = one.stdout.split('\n');
    const b = two.stdout.split('\n');
    expect(a).toHaveLength(50_000);
    expect(b).toHaveLength(50_000);
    for (const ids of [a, b]) {
      for (let i = 1; i < ids.length; i++) {
        if (!(ids[i - 1]! < ids[i]!)) throw new Error(`not ordered at ${i}: ${ids[i - 1]} then ${ids[i]}`);
      }
    }
    expect(new Set([...a, ...b]).size).toBe(100_000);
  });
});

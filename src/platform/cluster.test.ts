/** Node names, joining, heartbeats and the shared secrets, on a real PostgreSQL. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { openPostgres, type PgPool } from '../shared/postgres.js';
import { adoptSharedSecrets, ClusterMembership, checkNodeName, nodeName } from './cluster.js';

describe('node names', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-node-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes lowercase letters, digits and inner hyphens, and says what a name may be', () => {
    for (const good of ['a', 'node-1', 'x'.repeat(40)]) expect(checkNodeName(good)).toBe(good);
    for (const bad of ['', 'A', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(41), '../a']) {
      expect(() => checkNodeName(bad), bad).toThrow(/a node name is 1-40 lowercase letters/);
    }
  });

  it('keeps a made-up name in the data dir, so a restart has the same one', () => {
    const first = nodeName(join(dir, 'data'), undefined);
    expect(first).toMatch(/^[a-z0-9-]+-[0-9a-f]{6}$/);
    expect(nodeName(join(dir, 'data'), undefined)).toBe(first);
    expect(nodeName(join(dir, 'data'), 'given')).toBe('given');
  });
});

describe('ClusterMembership', () => {
  let database: TestDatabase;
  let dir: string;
  const pools: PgPool[] = [];
  const pool = async () => {
    const opened = await openPostgres(database.url, { max: 2 });
    pools.push(opened);
    return opened;
  };
  beforeEach(async () => {
    database = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'hangar-cluster-'));
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second live node of the same name, and takes the name once that node left', async () => {
    const a = await ClusterMembership.join(await pool(), 'a');
    await a.announce('http://127.0.0.1:1');
    await expect(ClusterMembership.join(await pool(), 'a')).rejects.toThrow(
      /node name 'a' is in use by a running node .*give each node its own --node NAME/,
    );
    const b = await ClusterMembership.join(await pool(), 'b');
    await b.announce('http://127.0.0.1:2');
    expect((await b.nodes()).map((n) => [n.node, n.alive, n.url])).toEqual([
      ['a', true, 'http://127.0.0.1:1'],
      ['b', true, 'http://127.0.0.1:2'],
    ]);
    await a.leave();
    expect((await b.nodes()).find((n) => n.node === 'a')?.alive).toBe(false);
    const again = await ClusterMembership.join(await pool(), 'a');
    await again.announce('http://127.0.0.1:3');
    expect((await b.nodes()).find((n) => n.node === 'a')).toMatchObject({
      alive: true,
      url: 'http://127.0.0.1:3',
    });
    await again.leave();
    await b.leave();
  });

  it("makes the first node's admin token and session secret every node's, in each data dir, 0600", async () => {
    const [dirA, dirB] = [join(dir, 'a'), join(dir, 'b')];
    mkdirSync(dirA);
    mkdirSync(dirB);
    writeFileSync(join(dirA, 'admin-token'), 'token-of-a\n', { mode: 0o600 });
    writeFileSync(join(dirB, 'admin-token'), 'token-of-b\n', { mode: 0o600 });
    await adoptSharedSecrets(await ClusterMembership.join(await pool(), 'a'), dirA);
    await adoptSharedSecrets(await ClusterMembership.join(await pool(), 'b'), dirB);
    expect(readFileSync(join(dirA, 'admin-token'), 'utf8').trim()).toBe('token-of-a');
    expect(readFileSync(join(dirB, 'admin-token'), 'utf8').trim()).toBe('token-of-a');
    const secretA = readFileSync(join(dirA, 'session-secret'), 'utf8').trim();
    expect(secretA).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(dirB, 'session-secret'), 'utf8').trim()).toBe(secretA);
    expect(statSync(join(dirB, 'session-secret')).mode & 0o777).toBe(0o600);
  });
});

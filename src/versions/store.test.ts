/**
 * The VersionStore and BlobStore conformance suites: every implementation runs these same cases
 * (the pattern of src/metering/store.test.ts). Today: SQLite and the file system on real temp
 * dirs; S16's PostgreSQL stores will run them too.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import { type Db, openDatabase } from '../shared/database.js';
import { openPostgres, type PgPool } from '../shared/postgres.js';
import { FileBlobStore } from './blob-store.js';
import { newMinor } from './minor.js';
import { PgBlobStore } from './pg-blob-store.js';
import { PgVersionStore } from './pg-store.js';
import { SqliteVersionStore } from './sqlite-store.js';
import type { BlobStore, VersionRecord, VersionStore } from './types.js';

interface VersionHarness {
  store: VersionStore;
  /** Another store object on the same storage (another connection), as a second process. */
  another(): VersionStore;
  /** Closes the storage and opens it again. */
  reopen(): VersionStore | Promise<VersionStore>;
  /**
   * Makes the storage refuse writes of a service's traffic (as a full disk or a constraint
   * would), until the returned function runs: a failure in the middle of a commit.
   */
  failTrafficWrites(): Promise<() => Promise<void>>;
  cleanup(): void | Promise<void>;
}

interface BlobHarness {
  store: BlobStore;
  another(): BlobStore;
  reopen(): BlobStore | Promise<BlobStore>;
  /** Every file the storage holds, temporaries included. */
  stored(): Promise<string[]>;
  /** A directory outside the store, for copyTo's destinations. */
  scratch: string;
  cleanup(): void | Promise<void>;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Records with distinct MINORs and increasing `created`, as successive deploys make them. */
function deploys() {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  let random = 1;
  return (app: string, service: string, version: string): VersionRecord => {
    now += 1000;
    const minor = newMinor(now, random++);
    return {
      app,
      service,
      version,
      minor,
      created: new Date(now).toISOString(),
      runtime: 'nodejs20',
      node: '20.11.1',
      appYaml: `runtime: nodejs20\nservice: ${service}\nhandlers:\n  - url: /.*\n    script: main.app\n`,
      configFile: service === 'default' ? 'app.yaml' : `${service}.yaml`,
      manifest: [
        { path: 'app.yaml', sha256: sha256(`yaml ${minor}`), size: 70, mode: 0o644 },
        { path: 'bin/run.sh', sha256: sha256('run'), size: 3, mode: 0o755 },
      ],
      dir: `/data/versions/${app}/${service}/${version}.${minor}`,
    };
  };
}

const id = (r: { app: string; service: string; version: string }) => `${r.app}/${r.service}/${r.version}`;

/** The HangarError `fn` throws (fails the test when it throws none). */
async function thrown(fn: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a throw');
}

export function describeVersionStore(
  name: string,
  make: () => VersionHarness | Promise<VersionHarness>,
): void {
  describe(`VersionStore conformance: ${name}`, () => {
    let h: VersionHarness;
    let deploy: ReturnType<typeof deploys>;
    beforeEach(async () => {
      h = await make();
      deploy = deploys();
    });
    afterEach(() => h.cleanup());

    it('starts empty', async () => {
      expect(await h.store.listApps()).toEqual([]);
      expect(await h.store.listServices()).toEqual([]);
      expect(await h.store.listVersions()).toEqual([]);
      expect(await h.store.getVersion('shop', 'default', 'v1')).toBeUndefined();
      expect(await h.store.traffic('shop', 'default')).toBeUndefined();
      expect(Number.isInteger(await h.store.generation())).toBe(true);
    });

    it('stores a version as given and creates its app and service; without promote it gets no traffic', async () => {
      const v1 = deploy('shop', 'default', 'v1');
      const result = await h.store.commitVersion(v1, { promote: false });
      expect(result).toEqual({ replaced: undefined, previousTraffic: undefined });
      expect(await h.store.getVersion('shop', 'default', 'v1')).toEqual(v1);
      expect(await h.store.listVersions()).toEqual([v1]);
      expect(await h.store.listApps()).toEqual([{ app: 'shop', created: v1.created }]);
      expect(await h.store.traffic('shop', 'default')).toEqual({
        app: 'shop',
        service: 'default',
        allocations: {},
        shardBy: 'ip',
      });
    });

    it('promotes with the commit, and a later promote moves all traffic, returning what it was', async () => {
      const v1 = deploy('shop', 'default', 'v1');
      await h.store.commitVersion(v1, { promote: true });
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });

      const v2 = deploy('shop', 'default', 'v2');
      const result = await h.store.commitVersion(v2, { promote: true });
      expect(result.replaced).toBeUndefined();
      expect(result.previousTraffic?.allocations).toEqual({ v1: 1 });
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v2: 1 });

      const previous = await h.store.promote('shop', 'default', 'v1');
      expect(previous).toEqual({ app: 'shop', service: 'default', allocations: { v2: 1 }, shardBy: 'ip' });
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
      // Both versions stay: a promote moves traffic, it deletes nothing.
      expect((await h.store.listVersions()).map(id)).toEqual(['shop/default/v1', 'shop/default/v2']);
    });

    it('splits traffic by weight and way, refuses weights that are no split, and a promote ends the split', async () => {
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      await h.store.commitVersion(deploy('shop', 'default', 'v2'), { promote: false });
      const before = await h.store.promote('shop', 'default', 'v1');
      expect(before.allocations).toEqual({ v1: 1 });
      const previous = await h.store.split('shop', 'default', { v1: 0.7, v2: 0.3 }, 'cookie');
      expect(previous.allocations).toEqual({ v1: 1 });
      expect(await h.store.traffic('shop', 'default')).toEqual({
        app: 'shop',
        service: 'default',
        allocations: { v1: 0.7, v2: 0.3 },
        shardBy: 'cookie',
      });
      // Neither version may be deleted while it has a share.
      await expect(h.store.deleteVersion('shop', 'default', 'v2')).rejects.toThrow(/receives 30%/);
      // Weights that are no split, or an unknown version: refused, nothing changed.
      await expect(h.store.split('shop', 'default', { v1: 0.7, v2: 0.2 }, 'ip')).rejects.toThrow(
        /add up to 0\.9/,
      );
      await expect(h.store.split('shop', 'default', { v1: 0.5, v9: 0.5 }, 'ip')).rejects.toThrow(
        /no version v9/,
      );
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 0.7, v2: 0.3 });
      await h.store.promote('shop', 'default', 'v2');
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v2: 1 });
    });

    it("keeps an app's dispatch rules in order, replaces them, and forgets them with the app", async () => {
      await expect(h.store.setDispatch('shop', [{ url: '*/api/*', service: 'api' }])).rejects.toThrow(
        /no app shop/,
      );
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      expect(await h.store.dispatch('shop')).toEqual([]);
      const rules = [
        { url: '*/api/*', service: 'api' },
        { url: '*/*', service: 'default' },
      ];
      await h.store.setDispatch('shop', rules);
      expect(await h.store.dispatch('shop')).toEqual(rules);
      await h.store.setDispatch('shop', [rules[1]!]);
      expect(await h.store.dispatch('shop')).toEqual([rules[1]]);
      // An app that goes (its last version deleted) takes its rules with it.
      await h.store.commitVersion(deploy('blog', 'default', 'v1'), { promote: false });
      await h.store.setDispatch('blog', [{ url: '*/x', service: 'default' }]);
      await h.store.deleteVersion('blog', 'default', 'v1');
      expect(await h.store.dispatch('blog')).toEqual([]);
      expect(await h.store.dispatch('shop')).toEqual([rules[1]]);
    });

    it('a re-deploy of a MAJOR replaces it, returns the old record, and keeps its traffic', async () => {
      const first = deploy('shop', 'default', 'v1');
      await h.store.commitVersion(first, { promote: true });
      const second = deploy('shop', 'default', 'v1');
      expect(second.minor).not.toBe(first.minor);
      const result = await h.store.commitVersion(second, { promote: false });
      expect(result.replaced).toEqual(first);
      expect(await h.store.getVersion('shop', 'default', 'v1')).toEqual(second);
      expect(await h.store.listVersions()).toEqual([second]);
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
    });

    it('refuses a re-deploy that reuses the stored MINOR or directory (its removal would remove the new one)', async () => {
      const first = deploy('shop', 'default', 'v1');
      await h.store.commitVersion(first, { promote: true });
      const sameDir = { ...deploy('shop', 'default', 'v1'), dir: first.dir };
      await expect(h.store.commitVersion(sameDir, { promote: true })).rejects.toThrow(/new MINOR/);
      await expect(
        h.store.commitVersion({ ...first, created: new Date().toISOString() }, { promote: true }),
      ).rejects.toThrow(/new MINOR/);
      expect(await h.store.getVersion('shop', 'default', 'v1')).toEqual(first);
    });

    it('lands a version and its promote together or not at all', async () => {
      const v1 = deploy('shop', 'default', 'v1');
      await h.store.commitVersion(v1, { promote: true });
      const generation = await h.store.generation();
      const heal = await h.failTrafficWrites();
      const v2 = deploy('shop', 'default', 'v2');
      const v1again = deploy('shop', 'default', 'v1');
      const fresh = deploy('shop', 'api', 'v1');
      await expect(h.store.commitVersion(v2, { promote: true })).rejects.toThrow();
      await expect(h.store.commitVersion(v1again, { promote: true })).rejects.toThrow();
      await expect(h.store.commitVersion(fresh, { promote: true })).rejects.toThrow();
      // Nothing of the failed commits is visible: not the new version, not the replacement of
      // v1, not the new service, and the generation did not move.
      expect(await h.store.listVersions()).toEqual([v1]);
      expect((await h.store.listServices()).map((s) => s.service)).toEqual(['default']);
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
      expect(await h.store.generation()).toBe(generation);
      await heal();
      await h.store.commitVersion(v2, { promote: true });
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v2: 1 });
    });

    it('refuses to promote an unknown app, service or version, naming it, and changes nothing', async () => {
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      const generation = await h.store.generation();
      const noApp = await thrown(() => h.store.promote('blog', 'default', 'v1'));
      expect(noApp).toMatchObject({ code: 'HANGAR_E_VERSION_NOT_FOUND' });
      expect(noApp.message).toContain('blog');
      const noService = await thrown(() => h.store.promote('shop', 'api', 'v1'));
      expect(noService).toMatchObject({ code: 'HANGAR_E_VERSION_NOT_FOUND' });
      expect(noService.message).toContain('api');
      const noVersion = await thrown(() => h.store.promote('shop', 'default', 'v9'));
      expect(noVersion).toMatchObject({ code: 'HANGAR_E_VERSION_NOT_FOUND' });
      expect(noVersion.message).toContain('v9');
      expect((await h.store.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
      expect(await h.store.generation()).toBe(generation);
    });

    it('refuses to delete a version with traffic, naming it and saying to promote another first', async () => {
      const v1 = deploy('shop', 'default', 'v1');
      const v2 = deploy('shop', 'default', 'v2');
      await h.store.commitVersion(v1, { promote: true });
      await h.store.commitVersion(v2, { promote: false });
      const generation = await h.store.generation();
      const err = await thrown(() => h.store.deleteVersion('shop', 'default', 'v1'));
      expect(err).toMatchObject({ code: 'HANGAR_E_VERSION_SERVING' });
      expect(err.message).toContain('v1');
      expect(err.message).toMatch(/promote another version/);
      expect(await h.store.getVersion('shop', 'default', 'v1')).toEqual(v1);
      expect(await h.store.generation()).toBe(generation);

      expect(await h.store.deleteVersion('shop', 'default', 'v2')).toEqual(v2);
      await h.store.commitVersion(deploy('shop', 'default', 'v3'), { promote: true });
      expect(await h.store.deleteVersion('shop', 'default', 'v1')).toEqual(v1);
      expect(await h.store.getVersion('shop', 'default', 'v1')).toBeUndefined();
      expect((await h.store.listVersions()).map(id)).toEqual(['shop/default/v3']);
    });

    it('refuses to delete an unknown version', async () => {
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      expect(await thrown(() => h.store.deleteVersion('shop', 'default', 'v2'))).toMatchObject({
        code: 'HANGAR_E_VERSION_NOT_FOUND',
      });
      expect(await thrown(() => h.store.deleteVersion('blog', 'default', 'v1'))).toMatchObject({
        code: 'HANGAR_E_VERSION_NOT_FOUND',
      });
    });

    it('drops a service, and then an app, with its last version', async () => {
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      await h.store.commitVersion(deploy('shop', 'api', 'v1'), { promote: false });
      await h.store.commitVersion(deploy('blog', 'worker', 'v1'), { promote: false });
      await h.store.deleteVersion('shop', 'api', 'v1');
      expect(await h.store.traffic('shop', 'api')).toBeUndefined();
      expect((await h.store.listServices()).map((s) => `${s.app}/${s.service}`)).toEqual([
        'blog/worker',
        'shop/default',
      ]);
      await h.store.deleteVersion('blog', 'worker', 'v1');
      expect((await h.store.listApps()).map((a) => a.app)).toEqual(['shop']);
    });

    it('lists by app, service, then deploy time, and filters by app and service', async () => {
      await h.store.commitVersion(deploy('shop', 'default', 'v2'), { promote: true });
      await h.store.commitVersion(deploy('blog', 'default', 'v1'), { promote: true });
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: false });
      await h.store.commitVersion(deploy('shop', 'api', 'v10'), { promote: true });
      await h.store.commitVersion(deploy('shop', 'api', 'v9'), { promote: false });
      expect((await h.store.listVersions()).map(id)).toEqual([
        'blog/default/v1',
        'shop/api/v10',
        'shop/api/v9',
        'shop/default/v2',
        'shop/default/v1',
      ]);
      expect((await h.store.listVersions({ app: 'shop' })).map(id)).toEqual([
        'shop/api/v10',
        'shop/api/v9',
        'shop/default/v2',
        'shop/default/v1',
      ]);
      expect((await h.store.listVersions({ app: 'shop', service: 'default' })).map(id)).toEqual([
        'shop/default/v2',
        'shop/default/v1',
      ]);
      expect(await h.store.listVersions({ app: 'nothing' })).toEqual([]);
      expect((await h.store.listApps()).map((a) => a.app)).toEqual(['blog', 'shop']);
      expect(await h.store.listServices({ app: 'shop' })).toEqual([
        { app: 'shop', service: 'api', allocations: { v10: 1 }, shardBy: 'ip' },
        { app: 'shop', service: 'default', allocations: { v2: 1 }, shardBy: 'ip' },
      ]);
    });

    it('refuses names app.yaml would refuse, and a MINOR that is no decimal, writing nothing', async () => {
      const generation = await h.store.generation();
      const bad: VersionRecord[] = [
        { ...deploy('shop', 'default', 'v1'), app: '../etc' },
        { ...deploy('shop', 'default', 'v1'), app: 'a-dot-b' },
        { ...deploy('shop', 'default', 'v1'), service: 'Api' },
        { ...deploy('shop', 'default', 'v1'), version: '../../v1' },
        { ...deploy('shop', 'default', 'v1'), version: 'latest' },
        { ...deploy('shop', 'default', 'v1'), minor: '12/../3' },
      ];
      for (const record of bad) {
        expect(await thrown(() => h.store.commitVersion(record, { promote: true }))).toMatchObject({
          code: 'HANGAR_E_NAME_INVALID',
        });
      }
      expect(await h.store.listApps()).toEqual([]);
      expect(await h.store.generation()).toBe(generation);
    });

    it('moves the generation on every write and on no read or refused write', async () => {
      const start = await h.store.generation();
      await h.store.commitVersion(deploy('shop', 'default', 'v1'), { promote: true });
      const afterCommit = await h.store.generation();
      expect(afterCommit).toBeGreaterThan(start);
      await h.store.commitVersion(deploy('shop', 'default', 'v2'), { promote: false });
      const afterSecond = await h.store.generation();
      expect(afterSecond).toBeGreaterThan(afterCommit);
      await h.store.listVersions();
      await h.store.traffic('shop', 'default');
      expect(await h.store.generation()).toBe(afterSecond);
      await h.store.promote('shop', 'default', 'v2');
      const afterPromote = await h.store.generation();
      expect(afterPromote).toBeGreaterThan(afterSecond);
      await expect(h.store.deleteVersion('shop', 'default', 'v2')).rejects.toThrow();
      expect(await h.store.generation()).toBe(afterPromote);
      await h.store.deleteVersion('shop', 'default', 'v1');
      expect(await h.store.generation()).toBeGreaterThan(afterPromote);
    });

    it('a second store object on the same storage sees every write, and its generation moves', async () => {
      const other = h.another();
      const seen = await other.generation();
      const v1 = deploy('shop', 'default', 'v1');
      await h.store.commitVersion(v1, { promote: true });
      expect(await other.getVersion('shop', 'default', 'v1')).toEqual(v1);
      expect((await other.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
      expect(await other.generation()).toBeGreaterThan(seen);

      // And the other way round: a promote through the other object gates this one's delete.
      await other.commitVersion(deploy('shop', 'default', 'v2'), { promote: false });
      await other.promote('shop', 'default', 'v2');
      expect(await thrown(() => h.store.deleteVersion('shop', 'default', 'v2'))).toMatchObject({
        code: 'HANGAR_E_VERSION_SERVING',
      });
      expect(await h.store.deleteVersion('shop', 'default', 'v1')).toEqual(v1);
      expect(await other.getVersion('shop', 'default', 'v1')).toBeUndefined();
    });

    it('keeps apps, versions and traffic across a reopen', async () => {
      const v1 = deploy('shop', 'default', 'v1');
      const v2 = deploy('shop', 'default', 'v2');
      const api = deploy('shop', 'api', 'v1');
      await h.store.commitVersion(v1, { promote: true });
      await h.store.commitVersion(v2, { promote: false });
      await h.store.commitVersion(api, { promote: true });
      const generation = await h.store.generation();
      const again = await h.reopen();
      expect(await again.listVersions()).toEqual([api, v1, v2]);
      expect(await again.listApps()).toEqual([{ app: 'shop', created: v1.created }]);
      expect((await again.traffic('shop', 'default'))?.allocations).toEqual({ v1: 1 });
      expect((await again.traffic('shop', 'api'))?.allocations).toEqual({ v1: 1 });
      expect(await again.generation()).toBe(generation);
    });
  });
}

/** Names that are no SHA-256 and would, taken as paths, leave the blobs directory. */
const BAD_NAMES = [
  '../../../etc/passwd',
  '../admin-token',
  `../${'a'.repeat(61)}`,
  `${'a'.repeat(2)}/../${'a'.repeat(58)}`,
  'A'.repeat(64),
  'g'.repeat(64),
  'a'.repeat(63),
  'a'.repeat(65),
  `${'a'.repeat(64)}\n`,
  `${'a'.repeat(63)}\0`,
  '',
];

export function describeBlobStore(name: string, make: () => BlobHarness | Promise<BlobHarness>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let h: BlobHarness;
    beforeEach(async () => {
      h = await make();
    });
    afterEach(() => h.cleanup());

    it('stores bytes under their hash and gives them back', async () => {
      const bytes = Buffer.from('export const app = () => new Response("hi");\n');
      const hash = sha256(bytes);
      expect(await h.store.has(hash)).toBe(false);
      expect(await h.store.put(hash, bytes, bytes.length)).toEqual({ created: true, size: bytes.length });
      expect(await h.store.has(hash)).toBe(true);
      expect(await h.store.read(hash)).toEqual(bytes);
    });

    it('takes a stream in chunks, and an empty file', async () => {
      const chunks = ['first ', 'second ', 'third'].map((s) => Buffer.from(s));
      const whole = Buffer.concat(chunks);
      const hash = sha256(whole);
      expect(await h.store.put(hash, Readable.from(chunks), whole.length)).toEqual({
        created: true,
        size: whole.length,
      });
      expect(await h.store.read(hash)).toEqual(whole);
      const empty = sha256('');
      await h.store.put(empty, Readable.from([]), 0);
      expect(await h.store.read(empty)).toEqual(Buffer.alloc(0));
    });

    it('answers which hashes it lacks, each once, in the order asked', async () => {
      const held = Buffer.from('held');
      await h.store.put(sha256(held), held, held.length);
      const a = sha256('a');
      const b = sha256('b');
      expect(await h.store.missing([b, sha256(held), a, b])).toEqual([b, a]);
      expect(await h.store.missing([])).toEqual([]);
    });

    it('a second put of a held blob succeeds and changes nothing', async () => {
      const bytes = Buffer.from('same');
      const hash = sha256(bytes);
      await h.store.put(hash, bytes, bytes.length);
      const before = await h.stored();
      expect(await h.store.put(hash, bytes, bytes.length)).toEqual({ created: false, size: 4 });
      expect(await h.stored()).toEqual(before);
    });

    it('refuses bytes that do not hash to their name, naming both hashes, and keeps nothing', async () => {
      const bytes = Buffer.from('what was sent');
      const claimed = sha256('what the manifest said');
      for (const body of [bytes, Readable.from([bytes.subarray(0, 4), bytes.subarray(4)])]) {
        const err = await h.store.put(claimed, body, bytes.length).then(
          () => undefined,
          (e: unknown) => e as { code: string; message: string },
        );
        expect(err).toMatchObject({ code: 'HANGAR_E_BLOB_HASH_MISMATCH' });
        expect(err?.message).toContain(claimed);
        expect(err?.message).toContain(sha256(bytes));
      }
      expect(await h.store.has(claimed)).toBe(false);
      expect(await h.stored()).toEqual([]);
    });

    it('refuses bytes of another size than the manifest says, and keeps nothing', async () => {
      const bytes = Buffer.from('twelve bytes');
      const hash = sha256(bytes);
      await expect(h.store.put(hash, bytes, bytes.length + 1)).rejects.toMatchObject({
        code: 'HANGAR_E_BLOB_HASH_MISMATCH',
      });
      await expect(h.store.put(hash, Readable.from([bytes]), bytes.length - 1)).rejects.toMatchObject({
        code: 'HANGAR_E_BLOB_HASH_MISMATCH',
      });
      expect(await h.store.has(hash)).toBe(false);
      expect(await h.stored()).toEqual([]);
    });

    it('stops reading a body as soon as it is longer than declared', async () => {
      let pulled = 0;
      async function* endless() {
        // Bounded, so an implementation that reads on fails the assertion instead of hanging.
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield Buffer.alloc(1024, 1);
        }
      }
      await expect(h.store.put(sha256('x'), endless(), 4 * 1024)).rejects.toMatchObject({
        code: 'HANGAR_E_BLOB_HASH_MISMATCH',
      });
      expect(pulled).toBeLessThanOrEqual(5);
      expect(await h.stored()).toEqual([]);
    });

    it('keeps nothing when the body fails midway', async () => {
      const bytes = Buffer.from('never finished');
      async function* broken() {
        yield bytes.subarray(0, 5);
        throw new Error('client went away');
      }
      await expect(h.store.put(sha256(bytes), broken(), bytes.length)).rejects.toThrow('client went away');
      expect(await h.store.has(sha256(bytes))).toBe(false);
      expect(await h.stored()).toEqual([]);
    });

    it('concurrent puts of the same blob, through two store objects, all succeed', async () => {
      const other = h.another();
      const bytes = Buffer.from('shared dependency '.repeat(5000));
      const hash = sha256(bytes);
      const halves = () => Readable.from([bytes.subarray(0, 40_000), bytes.subarray(40_000)]);
      const results = await Promise.all([
        h.store.put(hash, bytes, bytes.length),
        other.put(hash, halves(), bytes.length),
        h.store.put(hash, halves(), bytes.length),
        other.put(hash, bytes, bytes.length),
      ]);
      expect(results.map((r) => r.size)).toEqual([bytes.length, bytes.length, bytes.length, bytes.length]);
      expect(results.some((r) => r.created)).toBe(true);
      expect(await h.store.read(hash)).toEqual(bytes);
      expect(await other.read(hash)).toEqual(bytes);
      // One blob, no temporaries left behind.
      expect(await h.stored()).toHaveLength(1);
    });

    it('refuses names that are not 64 lowercase hex digits, in every method', async () => {
      const good = sha256('good');
      const dest = join(h.scratch, 'out', 'file');
      for (const bad of BAD_NAMES) {
        const code = { code: 'HANGAR_E_BLOB_HASH_INVALID' };
        await expect(h.store.has(bad), JSON.stringify(bad)).rejects.toMatchObject(code);
        await expect(h.store.missing([good, bad]), JSON.stringify(bad)).rejects.toMatchObject(code);
        await expect(h.store.put(bad, Buffer.from('x'), 1), JSON.stringify(bad)).rejects.toMatchObject(code);
        await expect(h.store.read(bad), JSON.stringify(bad)).rejects.toMatchObject(code);
        await expect(h.store.copyTo(bad, dest, 0o644), JSON.stringify(bad)).rejects.toMatchObject(code);
      }
      expect(await h.stored()).toEqual([]);
      expect(readdirSync(h.scratch)).toEqual([]);
    });

    it('copies a blob out with the given mode; the copy is independent of the blob', async () => {
      const bytes = Buffer.from('#!/bin/sh\necho hi\n');
      const hash = sha256(bytes);
      await h.store.put(hash, bytes, bytes.length);
      const script = join(h.scratch, 'v1', 'bin', 'run.sh');
      const page = join(h.scratch, 'v1', 'index.html');
      await h.store.copyTo(hash, script, 0o755);
      await h.store.copyTo(hash, page, 0o4644);
      expect(readFileSync(script)).toEqual(bytes);
      expect(statSync(script).mode & 0o7777).toBe(0o755);
      // Permission bits only: no setuid from a manifest.
      expect(statSync(page).mode & 0o7777).toBe(0o644);
      writeFileSync(page, 'changed by an instance');
      expect(await h.store.read(hash)).toEqual(bytes);
      expect(readFileSync(script)).toEqual(bytes);
    });

    it('refuses to copy or read a blob it does not hold', async () => {
      const absent = sha256('absent');
      await expect(h.store.copyTo(absent, join(h.scratch, 'x'), 0o644)).rejects.toMatchObject({
        code: 'HANGAR_E_BLOB_NOT_FOUND',
      });
      await expect(h.store.read(absent)).rejects.toMatchObject({ code: 'HANGAR_E_BLOB_NOT_FOUND' });
    });

    it('a second store object sees puts, and blobs are kept across a reopen', async () => {
      const bytes = Buffer.from('kept');
      const hash = sha256(bytes);
      const other = h.another();
      await h.store.put(hash, bytes, bytes.length);
      expect(await other.has(hash)).toBe(true);
      const again = await h.reopen();
      expect(await again.read(hash)).toEqual(bytes);
      expect(await again.missing([hash])).toEqual([]);
    });
  });
}

describeVersionStore('SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-versionstore-'));
  const open: Db[] = [];
  const connect = () => {
    const db = openDatabase(dir);
    open.push(db);
    return new SqliteVersionStore(db);
  };
  const store = connect();
  return {
    store,
    another: connect,
    reopen() {
      for (const db of open.splice(0)) db.close();
      return connect();
    },
    async failTrafficWrites() {
      // Triggers are part of the schema, so every connection's writes hit them.
      const db = open[0]!;
      db.exec(`
        CREATE TRIGGER test_fail_traffic_update BEFORE UPDATE OF allocations ON services
        BEGIN SELECT RAISE(ABORT, 'traffic writes fail (test)'); END;
        CREATE TRIGGER test_fail_traffic_insert BEFORE INSERT ON services WHEN NEW.allocations <> '{}'
        BEGIN SELECT RAISE(ABORT, 'traffic writes fail (test)'); END;`);
      return async () => {
        db.exec('DROP TRIGGER test_fail_traffic_update; DROP TRIGGER test_fail_traffic_insert;');
      };
    },
    cleanup() {
      for (const db of open.splice(0)) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

/** Files under `root`, relative to it. */
function filesUnder(root: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return entries.filter((entry) => statSync(join(root, entry)).isFile()).sort();
}

describeBlobStore('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-blobstore-'));
  const dataDir = join(dir, 'data');
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  return {
    store: new FileBlobStore(dataDir),
    another: () => new FileBlobStore(dataDir),
    reopen: () => new FileBlobStore(dataDir),
    stored: async () => filesUnder(join(dataDir, 'blobs')),
    scratch,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeVersionStore('PostgreSQL', async () => {
  const database = await createTestDatabase();
  const pools: PgPool[] = [];
  const connect = async () => {
    const pool = await openPostgres(database.url, { max: 2 });
    pools.push(pool);
    return PgVersionStore.open(pool);
  };
  const closeAll = () => Promise.all(pools.splice(0).map((pool) => pool.end()));
  const store = await connect();
  const another = await connect();
  return {
    store,
    another: () => another,
    async reopen() {
      await closeAll();
      return connect();
    },
    async failTrafficWrites() {
      // A trigger is part of the schema, so every connection's writes hit it.
      const pool = pools[pools.length - 1]!;
      await pool.query(`
        CREATE FUNCTION test_fail_traffic() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'traffic writes fail (test)'; END $$;
        CREATE TRIGGER test_fail_traffic_update BEFORE UPDATE OF allocations ON services
        FOR EACH ROW EXECUTE FUNCTION test_fail_traffic();
        CREATE TRIGGER test_fail_traffic_insert BEFORE INSERT ON services
        FOR EACH ROW WHEN (NEW.allocations <> '{}') EXECUTE FUNCTION test_fail_traffic();`);
      return async () => {
        await pool.query(
          'DROP TRIGGER test_fail_traffic_update ON services; DROP TRIGGER test_fail_traffic_insert ON services',
        );
      };
    },
    async cleanup() {
      await closeAll();
      await database.drop();
    },
  };
});

describeBlobStore('PostgreSQL', async () => {
  const database = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pgblobs-'));
  const pools: PgPool[] = [];
  const connect = async () => {
    const pool = await openPostgres(database.url, { max: 2 });
    pools.push(pool);
    return PgBlobStore.open(pool);
  };
  const store = await connect();
  const another = await connect();
  const third = await connect();
  return {
    store,
    another: () => another,
    reopen: () => third,
    stored: async () =>
      (await pools[0]!.query<{ sha256: string }>('SELECT sha256 FROM blobs ORDER BY sha256')).rows.map(
        (r) => r.sha256,
      ),
    scratch: dir,
    async cleanup() {
      await Promise.all(pools.splice(0).map((pool) => pool.end()));
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

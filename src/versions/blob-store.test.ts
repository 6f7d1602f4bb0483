/**
 * What FileBlobStore does beyond the BlobStore conformance suite (store.test.ts): where and how
 * it keeps files.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkSha256, FileBlobStore } from './blob-store.js';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe('FileBlobStore', () => {
  let dir: string;
  let dataDir: string;
  let store: FileBlobStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-fileblobs-'));
    dataDir = join(dir, 'data');
    store = new FileBlobStore(dataDir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a blob read-only at <data-dir>/blobs/<first two hex digits>/<hash>', async () => {
    const bytes = Buffer.from('layout');
    const hash = sha256(bytes);
    await store.put(hash, bytes, bytes.length);
    const file = join(dataDir, 'blobs', hash.slice(0, 2), hash);
    expect(store.path(hash)).toBe(file);
    expect(readFileSync(file)).toEqual(bytes);
    expect(statSync(file).mode & 0o777).toBe(0o444);
  });

  it('never turns a name into a path outside the blobs directory', async () => {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'admin-token'), 'secret');
    for (const bad of ['../admin-token', '../../data/admin-token', `..${'/'.repeat(62)}`, 'A'.repeat(64)]) {
      expect(() => store.path(bad), bad).toThrow(/is not a SHA-256 hash/);
      await expect(store.read(bad), bad).rejects.toMatchObject({ code: 'HANGAR_E_BLOB_HASH_INVALID' });
    }
    expect(() => checkSha256('a'.repeat(64))).not.toThrow();
  });

  it('clearTemporaries() removes what an interrupted put left, and no blob', async () => {
    const bytes = Buffer.from('kept');
    const hash = sha256(bytes);
    await store.put(hash, bytes, bytes.length);
    // What a kill -9 in the middle of a put leaves.
    const tmp = join(dataDir, 'blobs', 'tmp');
    writeFileSync(join(tmp, `${hash}.interrupted`), 'half');
    await store.clearTemporaries();
    expect(readdirSync(join(dataDir, 'blobs'), { recursive: true }).sort()).toEqual([
      hash.slice(0, 2),
      join(hash.slice(0, 2), hash),
    ]);
    expect(await store.read(hash)).toEqual(bytes);
  });
});

/** storeTree / materializeTree on real directories and a real FileBlobStore. */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from './blob-store.js';
import { MAX_TREE_FILE_BYTES, materializeTree, storeTree } from './tree.js';

describe('a version’s built tree', () => {
  let dir: string;
  let blobs: FileBlobStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-tree-'));
    blobs = new FileBlobStore(join(dir, 'data'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function built(): string {
    const v = join(dir, 'built');
    mkdirSync(join(v, 'app', 'node_modules', 'pkg'), { recursive: true });
    mkdirSync(join(v, 'app', 'node_modules', '.bin'), { recursive: true });
    mkdirSync(join(v, 'app', 'empty'), { recursive: true });
    mkdirSync(join(v, 'cache', 'ts'), { recursive: true });
    mkdirSync(join(v, 'node_modules'), { recursive: true });
    writeFileSync(join(v, 'app', 'app.yaml'), 'runtime: nodejs20\n');
    writeFileSync(join(v, 'app', 'main.ts.hangar.mjs'), 'export const app = 1;\n');
    writeFileSync(join(v, 'app', 'node_modules', 'pkg', 'bin.js'), '#!/usr/bin/env node\n');
    chmodSync(join(v, 'app', 'node_modules', 'pkg', 'bin.js'), 0o755);
    symlinkSync('../pkg/bin.js', join(v, 'app', 'node_modules', '.bin', 'pkg'));
    symlinkSync('/etc/passwd', join(v, 'app', 'passwd'));
    symlinkSync('../../../../etc', join(v, 'app', 'escape'));
    writeFileSync(join(v, 'precompiled.json'), '{"format":1}');
    writeFileSync(join(v, 'cache', 'ts', 'x'), 'per node');
    symlinkSync('/opt/hangar', join(v, 'node_modules', 'hangar'));
    return v;
  }

  it('comes back byte for byte with modes and inner links, without the cache, the hangar link or links out', async () => {
    const sha = await storeTree(built(), blobs);
    const target = join(dir, 'node-b', 'v1.1');
    const result = await materializeTree(sha, blobs, target);
    expect(result.files).toBe(4);
    expect(result.skipped.sort()).toEqual(['app/escape', 'app/passwd']);
    expect(readFileSync(join(target, 'app', 'main.ts.hangar.mjs'), 'utf8')).toBe('export const app = 1;\n');
    expect(lstatSync(join(target, 'app', 'node_modules', 'pkg', 'bin.js')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(target, 'app', 'node_modules', '.bin', 'pkg'))).toBe('../pkg/bin.js');
    expect(lstatSync(join(target, 'app', 'empty')).isDirectory()).toBe(true);
    expect(existsSync(join(target, 'cache'))).toBe(false);
    expect(existsSync(join(target, 'node_modules', 'hangar'))).toBe(false);
    expect(existsSync(join(target, 'app', 'passwd'))).toBe(false);
    expect(existsSync(`${target}.partial-${process.pid}`)).toBe(false);
  });

  it('refuses a listing whose paths would leave the version directory, and leaves nothing', async () => {
    for (const path of ['../outside', '/abs', 'a/../../b', 'a//b', '']) {
      const listing = Buffer.from(JSON.stringify([{ path, dir: true }]));
      const sha = createHash('sha256').update(listing).digest('hex');
      await blobs.put(sha, listing, listing.length);
      const target = join(dir, 'bad', 'v1.1');
      await expect(materializeTree(sha, blobs, target), path).rejects.toMatchObject({
        code: 'HANGAR_E_CONFIG_INVALID',
      });
      expect(existsSync(target)).toBe(false);
    }
    expect(existsSync(join(dir, 'outside'))).toBe(false);
  });

  it('refuses a build that left a file too large to hold on its way to the store, naming it', async () => {
    const v = built();
    const big = join(v, 'app', 'huge.bin');
    writeFileSync(big, '');
    truncateSync(big, MAX_TREE_FILE_BYTES + 1);
    await expect(storeTree(v, blobs)).rejects.toMatchObject({
      code: 'HANGAR_E_BUILD_FAILED',
      message: expect.stringContaining('app/huge.bin'),
    });
  });

  it('writes nothing through a link, even one that stays inside', async () => {
    const file = Buffer.from('x');
    const fileSha = createHash('sha256').update(file).digest('hex');
    await blobs.put(fileSha, file, file.length);
    const listing = Buffer.from(
      JSON.stringify([
        { path: 'app/q', link: '../app' },
        { path: 'app/q/written', sha256: fileSha, size: 1, mode: 0o644 },
      ]),
    );
    const sha = createHash('sha256').update(listing).digest('hex');
    await blobs.put(sha, listing, listing.length);
    const target = join(dir, 'linked', 'v1.1');
    await expect(materializeTree(sha, blobs, target)).rejects.toThrow(/inside the link app\/q/);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(join(dir, 'linked', `v1.1.partial-${process.pid}`))).toBe(false);
  });

  it('says which blob is missing and leaves no half version', async () => {
    const sha = await storeTree(built(), blobs);
    const other = new FileBlobStore(join(dir, 'other'));
    const listing = await blobs.read(sha);
    await other.put(sha, listing, listing.length);
    const target = join(dir, 'node-c', 'v1.1');
    await expect(materializeTree(sha, other, target)).rejects.toMatchObject({
      code: 'HANGAR_E_BLOB_NOT_FOUND',
    });
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.partial-${process.pid}`)).toBe(false);
  });
});

/**
 * Deployed files by SHA-256 under `<data-dir>/blobs/ab/abcdef…` (docs/serve.md "State"). A
 * blob is written to `blobs/tmp/`, checked, synced and renamed into place, so under its name
 * there is the whole file with the right bytes or nothing, also after a crash.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, type FileHandle, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { HangarError } from '../shared/errors.js';
import type { BlobPutResult, BlobStore } from './types.js';

/** The blobs' directory in the data dir. */
export const BLOBS_DIR = 'blobs';

/** Exactly a SHA-256 in hex: nothing else may become a path segment (no '/', '..', NUL). */
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Returns `sha256` when it is 64 lowercase hex digits, else throws HANGAR_E_BLOB_HASH_INVALID.
 * Names reach the file system, so this is what keeps a name like `../../admin-token` out.
 */
export function checkSha256(sha256: string): string {
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
    const shown = String(sha256).length > 80 ? `${String(sha256).slice(0, 77)}...` : String(sha256);
    throw new HangarError(
      'BLOB_HASH_INVALID',
      `${JSON.stringify(shown)} is not a SHA-256 hash; name each file by the 64 lowercase hex digits of its SHA-256`,
    );
  }
  return sha256;
}

/** The blob store on the local file system. */
export class FileBlobStore implements BlobStore {
  readonly #root: string;
  readonly #tmp: string;

  constructor(dataDir: string) {
    this.#root = join(resolve(dataDir), BLOBS_DIR);
    this.#tmp = join(this.#root, 'tmp');
  }

  /** Where blob `sha256` is (or would be) stored: `<data-dir>/blobs/ab/<sha256>`. */
  path(sha256: string): string {
    checkSha256(sha256);
    return join(this.#root, sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return isFile(this.path(sha256));
  }

  async missing(hashes: readonly string[]): Promise<string[]> {
    // All names are checked before any is looked at: a refused list is refused as a whole.
    for (const hash of hashes) checkSha256(hash);
    const distinct = [...new Set(hashes)];
    const held = await Promise.all(distinct.map((hash) => this.has(hash)));
    return distinct.filter((_, i) => !held[i]);
  }

  async put(
    sha256: string,
    body: Uint8Array | AsyncIterable<Uint8Array>,
    size: number,
  ): Promise<BlobPutResult> {
    const target = this.path(sha256);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`a blob's size must be a whole number of bytes >= 0, not ${size}`);
    }
    await mkdir(this.#tmp, { recursive: true });
    // A name of its own per put: concurrent puts of one blob each write their own file and
    // the last rename wins, with the same bytes.
    const temp = join(this.#tmp, `${sha256}.${randomUUID()}`);
    let renamed = false;
    try {
      const hash = createHash('sha256');
      let received = 0;
      const file = await open(temp, 'wx', BLOB_MODE);
      try {
        for await (const chunk of body instanceof Uint8Array ? [body] : body) {
          received += chunk.byteLength;
          // Checked before writing, so a body longer than declared is never kept on disk.
          if (received > size) throw sizeMismatch(sha256, size, `more than ${size}`);
          hash.update(chunk);
          await writeAll(file, chunk);
        }
        // On disk before the rename: after a power loss a blob must not be there empty.
        await file.sync();
      } finally {
        await file.close();
      }
      if (received !== size) throw sizeMismatch(sha256, size, String(received));
      const actual = hash.digest('hex');
      if (actual !== sha256) {
        throw new HangarError(
          'BLOB_HASH_MISMATCH',
          `the bytes uploaded as ${sha256} hash to ${actual}; upload each file under the SHA-256 of its contents`,
        );
      }
      await mkdir(dirname(target), { recursive: true });
      const existed = await isFile(target);
      await rename(temp, target);
      renamed = true;
      return { created: !existed, size: received };
    } finally {
      if (!renamed) await rm(temp, { force: true });
    }
  }

  async read(sha256: string): Promise<Buffer> {
    try {
      return await readFile(this.path(sha256));
    } catch (err) {
      throw isNotFound(err) ? notHeld(sha256, err) : err;
    }
  }

  async copyTo(sha256: string, destPath: string, mode: number): Promise<void> {
    const source = this.path(sha256);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new RangeError(`a file mode must be Unix permission bits, not ${mode}`);
    }
    await mkdir(dirname(destPath), { recursive: true });
    try {
      // FICLONE shares the blocks copy-on-write where the file system can (btrfs, XFS): still
      // a copy (a write to it changes only it), but free; elsewhere it copies the bytes.
      await copyFile(source, destPath, constants.COPYFILE_FICLONE);
    } catch (err) {
      throw isNotFound(err) && !(await isFile(source)) ? notHeld(sha256, err) : err;
    }
    // Permission bits only: a manifest must not make a deployed file setuid, setgid or sticky.
    await chmod(destPath, mode & 0o777);
  }

  /**
   * Removes temporary files of puts that a crash (kill -9) interrupted. Call when the platform
   * starts, before it takes uploads: a put running meanwhile would fail.
   */
  async clearTemporaries(): Promise<void> {
    await rm(this.#tmp, { recursive: true, force: true });
  }
}

/** Blobs are read-only: nothing ever changes one after it was stored under its hash. */
const BLOB_MODE = 0o444;

async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function notHeld(sha256: string, cause: unknown): HangarError {
  return new HangarError(
    'BLOB_NOT_FOUND',
    `the platform holds no file with SHA-256 ${sha256}; upload it (PUT /api/blobs/${sha256}) first`,
    { cause },
  );
}

function sizeMismatch(sha256: string, expected: number, actual: string): HangarError {
  return new HangarError(
    'BLOB_HASH_MISMATCH',
    `the upload of ${sha256} has ${actual} bytes, the manifest says ${expected}; upload the file the manifest describes`,
  );
}

/**
 * Deployed files by SHA-256 in PostgreSQL (`serve --database`, S16): what one node received
 * in a deploy, every node can copy into its own version directory. A blob is one row, written
 * only once its bytes hashed to its name, so a row is the whole file or there is none. Files
 * are at most `max_file_bytes` (32 MiB by default, S11), which a `bytea` holds comfortably.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HangarError } from '../shared/errors.js';
import { migratePostgres, type PgPool } from '../shared/postgres.js';
import { checkSha256 } from './blob-store.js';
import type { BlobPutResult, BlobStore } from './types.js';

const migrations = [
  `CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    data BYTEA NOT NULL
  )`,
];

export class PgBlobStore implements BlobStore {
  readonly #pool: PgPool;

  private constructor(pool: PgPool) {
    this.#pool = pool;
  }

  static async open(pool: PgPool): Promise<PgBlobStore> {
    await migratePostgres(pool, 'blobs', migrations);
    return new PgBlobStore(pool);
  }

  async has(sha256: string): Promise<boolean> {
    checkSha256(sha256);
    return ((await this.#pool.query('SELECT 1 FROM blobs WHERE sha256 = $1', [sha256])).rowCount ?? 0) > 0;
  }

  async missing(hashes: readonly string[]): Promise<string[]> {
    // All names are checked before any is looked at: a refused list is refused as a whole.
    for (const hash of hashes) checkSha256(hash);
    const distinct = [...new Set(hashes)];
    if (distinct.length === 0) return [];
    const { rows } = await this.#pool.query<{ sha256: string }>(
      'SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])',
      [distinct],
    );
    const held = new Set(rows.map((row) => row.sha256));
    return distinct.filter((hash) => !held.has(hash));
  }

  async put(
    sha256: string,
    body: Uint8Array | AsyncIterable<Uint8Array>,
    size: number,
  ): Promise<BlobPutResult> {
    checkSha256(sha256);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`a blob's size must be a whole number of bytes >= 0, not ${size}`);
    }
    const hash = createHash('sha256');
    const chunks: Uint8Array[] = [];
    let received = 0;
    const source = body instanceof Uint8Array ? [body] : body;
    for await (const chunk of source) {
      received += chunk.byteLength;
      // Checked before keeping the chunk, so a lying client cannot fill the memory; leaving the
      // loop destroys a stream body.
      if (received > size) throw sizeMismatch(sha256, size, `more than ${size}`);
      hash.update(chunk);
      chunks.push(chunk);
    }
    if (received !== size) throw sizeMismatch(sha256, size, String(received));
    const actual = hash.digest('hex');
    if (actual !== sha256) {
      throw new HangarError(
        'BLOB_HASH_MISMATCH',
        `the bytes uploaded as ${sha256} hash to ${actual}; upload each file under the SHA-256 of its contents`,
      );
    }
    const result = await this.#pool.query(
      'INSERT INTO blobs (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING',
      [sha256, size, Buffer.concat(chunks, received)],
    );
    return { created: (result.rowCount ?? 0) > 0, size: received };
  }

  async read(sha256: string): Promise<Buffer> {
    checkSha256(sha256);
    const { rows } = await this.#pool.query<{ data: Buffer }>('SELECT data FROM blobs WHERE sha256 = $1', [
      sha256,
    ]);
    if (rows[0] === undefined) throw notHeld(sha256);
    return rows[0].data;
  }

  async copyTo(sha256: string, destPath: string, mode: number): Promise<void> {
    checkSha256(sha256);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new RangeError(`a file mode must be Unix permission bits, not ${mode}`);
    }
    const bytes = await this.read(sha256);
    await mkdir(dirname(destPath), { recursive: true });
    // 'w' replaces a file left by an interrupted copy; the version dir is the node's own.
    await writeFile(destPath, bytes, { mode: mode & 0o777 });
    // Permission bits only (writeFile's mode is masked by the umask, so set them exactly).
    await chmod(destPath, mode & 0o777);
  }

  /** Nothing to clear: a put that did not finish wrote no row. */
  async clearTemporaries(): Promise<void> {}
}

function notHeld(sha256: string): HangarError {
  return new HangarError(
    'BLOB_NOT_FOUND',
    `the platform holds no file with SHA-256 ${sha256}; upload it (PUT /api/blobs/${sha256}) first`,
  );
}

function sizeMismatch(sha256: string, expected: number, actual: string): HangarError {
  return new HangarError(
    'BLOB_HASH_MISMATCH',
    `the upload of ${sha256} has ${actual} bytes, the manifest says ${expected}; upload the file the manifest describes`,
  );
}

/**
 * Where the front end buffers a big request body (S5 step 5 "buffer the body"): in a file of
 * the data dir's `run/`, as nginx's `client_body_temp_path` does past `client_body_buffer_size`,
 * instead of in the platform's heap. The instance reads the file itself (the request frame names
 * it), so the body crosses no socket after the client's.
 *
 * Why: a body held in memory is a list of Node Buffers whose bytes live outside V8's heap. With
 * many megabyte bodies in flight they are held long enough to be promoted, and V8 starts a full
 * mark-compact of the whole platform heap each 64 MB of such memory (its external-memory soft
 * limit): 1 MiB POSTs at 50 connections cost the platform about 16 full collections a second,
 * and the socket to the instance carried every body while small requests waited behind them. A
 * chunk written to the file at once dies young (a scavenge frees it), and the page cache holds
 * the body until the instance reads it. No fsync: the file lives for one request.
 *
 * Files: `run/bodies-<pid>-<token>/<n>`, mode 0600, unlinked when the request finishes (or its
 * body read fails); the directory goes when the front end closes, and one left by a process that
 * died goes at the next start (removeStaleSpools()).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** A body the front end buffered in a file: the instance reads `file` (its `length` bytes). */
export interface SpooledBody {
  readonly file: string;
  readonly length: number;
}

/** Bodies up to this size stay in memory: the file costs more than it saves below it. */
export const DEFAULT_SPOOL_THRESHOLD = 64 * 1024;

const DIR = /^bodies-(\d+)-[0-9a-f]+$/;

/** One body being written to its file. */
export class SpoolFile {
  readonly file: string;
  #fd: number | undefined;
  #length = 0;

  constructor(file: string) {
    this.file = file;
    this.#fd = openSync(file, 'wx', 0o600);
  }

  /** Appends a chunk; throws when the file cannot take it (the caller keeps the body in memory). */
  write(chunk: Buffer): void {
    let done = 0;
    while (done < chunk.length) done += writeSync(this.#fd!, chunk, done, chunk.length - done, null);
    this.#length += chunk.length;
  }

  /** The body is complete: the file is closed and handed on. */
  finish(): SpooledBody {
    this.#close();
    return { file: this.file, length: this.#length };
  }

  /** What was written, read back (to go on in memory after a failed write), and the file removed. */
  takeBack(): Buffer {
    this.#close();
    try {
      return readFileSync(this.file).subarray(0, this.#length);
    } finally {
      removeSpooled(this.file);
    }
  }

  /** The body is not wanted (413, 408, the client gone): the file goes. */
  discard(): void {
    this.#close();
    removeSpooled(this.file);
  }

  #close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Closing a regular file's descriptor does not fail in a way that matters here.
    }
    this.#fd = undefined;
  }
}

/** Removes a spooled body's file once its request finished (a missing file is no error). */
export function removeSpooled(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already, or the directory went with the front end.
  }
}

/**
 * This process's spool directory, made on first use.
 *
 * @example
 * const spool = new BodySpool(join(dataDir, 'run'));
 * const file = spool.open(); file.write(chunk); const body = file.finish();
 */
export class BodySpool {
  readonly dir: string;
  readonly threshold: number;
  #next = 0;
  #made = false;

  constructor(runDir: string, threshold = DEFAULT_SPOOL_THRESHOLD) {
    this.dir = join(runDir, `bodies-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.threshold = threshold;
  }

  /** A new file for one body; throws when none can be made (the caller keeps the body in memory). */
  open(): SpoolFile {
    if (!this.#made) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#made = true;
    }
    return new SpoolFile(join(this.dir, String(this.#next++)));
  }

  /** Removes the directory and what is left in it (the platform is stopping). */
  close(): void {
    if (this.#made) rmSync(this.dir, { recursive: true, force: true });
    this.#made = false;
  }
}

/** Removes the spool directories in `runDir` of platform processes that are gone. */
export function removeStaleSpools(runDir: string): void {
  let names: string[];
  try {
    names = readdirSync(runDir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = DIR.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    rmSync(join(runDir, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

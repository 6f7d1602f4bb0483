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
 * Files: `run/bodies-<pid>-<token>/<n>`, mode 0600. A file is a slot used again by later
 * bodies: creating, allocating and unlinking a file per request cost the front end's thread a
 * quarter of its time on ext4 (perf, 1 MiB POSTs), and writing over pages the page cache already
 * holds costs a fraction of that. A body is written from the file's start and read for its own
 * length, whatever an earlier body left after it. A slot goes back for reuse only once the
 * instance answered its request (so it has read the body: it reads the file when the request's
 * frame arrives, before the handler runs); after any other end (an error, a deadline, a dead
 * instance) the file is unlinked, so that a late reader finds no file rather than another
 * request's body. Slots that held more than 4 MiB, and those beyond 32 free ones, are unlinked
 * too. The directory goes when the front end closes, and one left by a process that died goes
 * at the next start (removeStaleSpools()).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readPrefix } from '../shared/file-prefix.js';
import { isAlive } from '../shared/process-alive.js';

/** A body the front end buffered in a file: the instance reads `length` bytes from `file`'s start. */
export interface SpooledBody {
  readonly file: string;
  readonly length: number;
}

/** Bodies up to this size stay in memory: the file costs more than it saves below it. */
export const DEFAULT_SPOOL_THRESHOLD = 64 * 1024;
/** A slot that held more than this is unlinked rather than kept for reuse. */
const KEEP_SLOT_BYTES = 4 * 1024 * 1024;
/** Free slots kept for reuse; more are unlinked. */
const FREE_SLOTS = 32;

const DIR = /^bodies-(\d+)-[0-9a-f]+$/;

interface Slot {
  readonly file: string;
  fd: number;
  /** The most bytes any body wrote to it. */
  size: number;
}

/** One body being written to its slot. */
export class SpoolFile {
  readonly #spool: BodySpool;
  readonly #slot: Slot;
  #length = 0;
  #done = false;

  constructor(spool: BodySpool, slot: Slot) {
    this.#spool = spool;
    this.#slot = slot;
  }

  get file(): string {
    return this.#slot.file;
  }

  /** Appends a chunk; throws when the file cannot take it (the caller keeps the body in memory). */
  write(chunk: Buffer): void {
    let done = 0;
    while (done < chunk.length)
      done += writeSync(this.#slot.fd, chunk, done, chunk.length - done, this.#length + done);
    this.#length += chunk.length;
    if (this.#length > this.#slot.size) this.#slot.size = this.#length;
  }

  /** The body is complete: handed on, until the spool is told how its request ended. */
  finish(): SpooledBody {
    this.#done = true;
    return this.#spool.lend(this.#slot, this.#length);
  }

  /** What was written, read back (to go on in memory after a failed write), and the slot dropped. */
  takeBack(): Buffer {
    try {
      return readPrefix(this.#slot.fd, this.#length, this.#slot.file);
    } finally {
      this.discard();
    }
  }

  /** The body is not wanted (413, 408, the client gone): the slot is dropped. */
  discard(): void {
    if (this.#done) return;
    this.#done = true;
    this.#spool.drop(this.#slot);
  }
}

/**
 * This process's spool directory, made on first use, and its slots.
 *
 * @example
 * const spool = new BodySpool(join(dataDir, 'run'));
 * const file = spool.open(); file.write(chunk); const body = file.finish();
 * // ...the instance answered: spool.recycle(body); any other end: spool.remove(body)
 */
export class BodySpool {
  readonly dir: string;
  readonly threshold: number;
  #next = 0;
  #made = false;
  #closed = false;
  readonly #free: Slot[] = [];
  /** Slots whose bodies are out with their requests, by file. */
  readonly #lent = new Map<string, Slot>();

  constructor(runDir: string, threshold = DEFAULT_SPOOL_THRESHOLD) {
    this.dir = join(runDir, `bodies-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.threshold = threshold;
  }

  /** A slot for one body; throws when none can be made (the caller keeps the body in memory). */
  open(): SpoolFile {
    const free = this.#free.pop();
    if (free) return new SpoolFile(this, free);
    if (!this.#made) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#made = true;
    }
    const file = join(this.dir, String(this.#next++));
    return new SpoolFile(this, { file, fd: openSync(file, 'wx+', 0o600), size: 0 });
  }

  /** Its request answered by its instance: the body's slot is free for another body. */
  recycle(body: SpooledBody): void {
    const slot = this.#lent.get(body.file);
    if (!slot) return;
    this.#lent.delete(body.file);
    if (this.#closed || slot.size > KEEP_SLOT_BYTES || this.#free.length >= FREE_SLOTS) this.drop(slot);
    else this.#free.push(slot);
  }

  /** Its request ended any other way: the file goes, so a late reader finds none. */
  remove(body: SpooledBody): void {
    const slot = this.#lent.get(body.file);
    if (!slot) return;
    this.#lent.delete(body.file);
    this.drop(slot);
  }

  /** Files now in the directory's slots: free ones and those out with requests (tests). */
  get slots(): { free: number; lent: number } {
    return { free: this.#free.length, lent: this.#lent.size };
  }

  /** Removes the directory and what is left in it (the platform is stopping). */
  close(): void {
    this.#closed = true;
    for (const slot of this.#free.splice(0)) closeQuietly(slot.fd);
    for (const slot of this.#lent.values()) closeQuietly(slot.fd);
    this.#lent.clear();
    if (this.#made) rmSync(this.dir, { recursive: true, force: true });
    this.#made = false;
  }

  /** @internal SpoolFile.finish(): the body goes out with its request. */
  lend(slot: Slot, length: number): SpooledBody {
    this.#lent.set(slot.file, slot);
    return { file: slot.file, length };
  }

  /** @internal The slot's file is closed and unlinked. */
  drop(slot: Slot): void {
    closeQuietly(slot.fd);
    try {
      unlinkSync(slot.file);
    } catch {
      // Gone already, or the directory went with the front end.
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing a regular file's descriptor does not fail in a way that matters here.
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
    if (!match || isAlive(Number(match[1]))) continue;
    rmSync(join(runDir, name), { recursive: true, force: true });
  }
}

/**
 * Batched writes to a {@link LogStore}, off the request path: records and lines are pushed
 * onto arrays and written in one transaction at most `flushMs` later. With the default 100 ms
 * a `kill -9` one second after a request loses nothing; a request never waits for the disk.
 */
import type { LogStore } from './store.js';
import type { RecordWithLines, StoredLine } from './types.js';

export interface LogWriterOptions {
  /** Longest a record waits before it is written. */
  flushMs?: number;
  /** A write failed; what failed stays queued and is retried on the next flush. */
  onError?(err: Error): void;
  /** These records are in the store now (a batch was committed). */
  onWritten?(records: readonly RecordWithLines[]): void;
}

export class LogWriter {
  readonly #store: LogStore;
  readonly #flushMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #onWritten: ((records: readonly RecordWithLines[]) => void) | undefined;
  #records: RecordWithLines[] = [];
  #lines: StoredLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** Number of the batch that what is queued now will be written in; batches are written in order. */
  #nextBatch = 1;
  /** A batch is being written. */
  #busy = false;
  #waiters: Array<{ batch: number; resolve: () => void }> = [];

  /**
   * @example
   * const writer = new LogWriter(store, { flushMs: 100 });
   * writer.record(toLogRecord(record));
   */
  constructor(store: LogStore, options: LogWriterOptions = {}) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 100;
    this.#onError = options.onError;
    this.#onWritten = options.onWritten;
  }

  record(record: RecordWithLines): void {
    this.#records.push(record);
    this.#schedule();
  }

  lines(lines: readonly StoredLine[]): void {
    for (const line of lines) this.#lines.push(line);
    this.#schedule();
  }

  /** Writes everything queued so far; resolves once it is in the store. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing = this.#writing.then(() => this.#write());
    return this.#writing;
  }

  /**
   * Resolves once everything queued so far is in the store (at once if it already is). The live
   * stream waits for this, so a tail that reads the history after subscribing misses nothing.
   */
  settled(): Promise<void> {
    const queued = this.#records.length > 0 || this.#lines.length > 0;
    if (!queued && !this.#busy) return Promise.resolve();
    const batch = queued ? this.#nextBatch : this.#nextBatch - 1;
    return new Promise((resolve) => this.#waiters.push({ batch, resolve }));
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
  }

  async #write(): Promise<void> {
    if (this.#records.length === 0 && this.#lines.length === 0) return;
    const records = this.#records;
    const lines = this.#lines;
    this.#records = [];
    this.#lines = [];
    const batch = this.#nextBatch++;
    this.#busy = true;
    try {
      await this.#store.append(records, lines);
    } catch (err) {
      this.#busy = false;
      // Their items go out with the next batch.
      for (const w of this.#waiters) if (w.batch <= batch) w.batch = this.#nextBatch;
      // Keep them, in order, ahead of what came meanwhile; the next flush tries again.
      this.#records = records.concat(this.#records);
      this.#lines = lines.concat(this.#lines);
      this.#onError?.(err as Error);
      this.#schedule();
      return;
    }
    this.#busy = false;
    const waiting = this.#waiters;
    this.#waiters = waiting.filter((w) => w.batch > batch);
    for (const w of waiting) if (w.batch <= batch) w.resolve();
    if (records.length === 0 || !this.#onWritten) return;
    try {
      this.#onWritten(records);
    } catch (err) {
      this.#onError?.(err as Error);
    }
  }
}

/**
 * Batched writes to a {@link LogStore}, off the request path: records and lines are pushed
 * onto arrays and written in one transaction at most `flushMs` later. With the default 100 ms
 * a `kill -9` one second after a request loses nothing; a request never waits for the disk.
 */
import type { LogStore } from './store.js';
import type { RequestLogRecord, StoredLine } from './types.js';

export interface LogWriterOptions {
  /** Longest a record waits before it is written. */
  flushMs?: number;
  /** A write failed; what failed stays queued and is retried on the next flush. */
  onError?(err: Error): void;
}

export class LogWriter {
  readonly #store: LogStore;
  readonly #flushMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  #records: RequestLogRecord[] = [];
  #lines: StoredLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  /**
   * @example
   * const writer = new LogWriter(store, { flushMs: 100 });
   * writer.record(toLogRecord(record));
   */
  constructor(store: LogStore, options: LogWriterOptions = {}) {
    this.#store = store;
    this.#flushMs = options.flushMs ?? 100;
    this.#onError = options.onError;
  }

  record(record: RequestLogRecord): void {
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

  #schedule(): void {
    this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
  }

  async #write(): Promise<void> {
    if (this.#records.length === 0 && this.#lines.length === 0) return;
    const records = this.#records;
    const lines = this.#lines;
    this.#records = [];
    this.#lines = [];
    try {
      await this.#store.append(records, lines);
    } catch (err) {
      // Keep them, in order, ahead of what came meanwhile; the next flush tries again.
      this.#records = records.concat(this.#records);
      this.#lines = lines.concat(this.#lines);
      this.#onError?.(err as Error);
      this.#schedule();
    }
  }
}

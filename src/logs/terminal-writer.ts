/**
 * The dev terminal's request lines, written by the request log's worker thread straight to the
 * platform's stdout (a file descriptor it shares with the main thread). When stdout is a pipe,
 * the main thread's `process.stdout` has made it non-blocking, so a reader that falls behind
 * (`hangar dev | tee`, a paused pager, a busy benchmark) makes a write take part of its bytes or
 * none (EAGAIN). What the pipe did not take is kept and written again shortly after (a worker
 * thread has no way to wait for the descriptor to become writable: 1 ms later, doubling up to
 * 64 ms while the reader takes nothing); nothing is dropped unless the backlog passes `maxBacklogBytes`, and then whole entries are left out and
 * counted, and a line says how many once the reader has caught up. The request log itself is
 * never affected: this is only its view on the terminal.
 */
import { writeSync } from 'node:fs';

export interface TerminalWriterOptions {
  fd: number;
  /** Text kept for a reader that is behind; past it, entries are counted instead of kept. */
  maxBacklogBytes?: number;
}

/** 8 MiB: some ten thousand requests with ten lines each. */
const DEFAULT_MAX_BACKLOG = 8 * 1024 * 1024;
const MIN_SLAB = 64 * 1024;
const MAX_SLAB = 4 * 1024 * 1024;
const encoder = new TextEncoder();
const FIRST_RETRY_MS = 1;
const LAST_RETRY_MS = 64;
/** How long close() waits for a reader that is behind before it gives up. */
const CLOSE_WAIT_MS = 2000;

export class TerminalWriter {
  readonly #fd: number;
  readonly #maxBacklog: number;
  /** How soon a write the descriptor refused is tried again: doubles while the reader takes nothing. */
  #retryMs = FIRST_RETRY_MS;
  /** This turn's text, written in one go at the end of the turn. */
  #pending = '';
  /** Bytes the descriptor has not taken yet, from `#at` on. */
  #backlog: Buffer | undefined;
  #at = 0;
  #scheduled = false;
  #retry: NodeJS.Timeout | undefined;
  /** Entries left out since the backlog filled. */
  #notShown = 0;
  /** Where each turn's text is encoded (UTF-8 takes at most 3 bytes per UTF-16 unit). */
  #slab: Buffer | undefined;
  /** The descriptor failed for good (the reader closed it): nothing more is written. */
  #gone = false;

  /**
   * @example
   * const terminal = new TerminalWriter({ fd: 1 });
   * terminal.write('GET / 200 1.2 ms instance 3f2a1b9c');
   */
  constructor(options: TerminalWriterOptions) {
    this.#fd = options.fd;
    this.#maxBacklog = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG;
  }

  /** Adds one entry (one or more lines, without the final newline); written at the end of this turn. */
  write(text: string): void {
    if (this.#gone) return;
    if (this.waitingBytes > this.#maxBacklog) {
      this.#notShown++;
      return;
    }
    // Said where the left-out entries were: after what was shown before them.
    if (this.#notShown > 0) this.#pending += this.#notice();
    this.#pending += `${text}\n`;
    if (!this.#scheduled && this.#retry === undefined) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Writes everything held, waiting up to two seconds for a reader that is behind (the platform is stopping). */
  close(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const deadline = Date.now() + CLOSE_WAIT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!this.#writeOut() && Date.now() < deadline) Atomics.wait(pause, 0, 0, FIRST_RETRY_MS);
    this.#gone = true;
  }

  /** Text held for a reader that is behind, in bytes (or characters, for the part not yet encoded). */
  get waitingBytes(): number {
    return this.#pending.length + this.#backlogBytes();
  }

  /**
   * `text` as UTF-8 in the reused slab (only once the backlog, which may be a view of it, is
   * written): TextEncoder.encodeInto copies a turn's text (often tens
   * of kilobytes) at about half the cost of Buffer.from, which allocated a new buffer every turn.
   */
  #encode(text: string): Buffer {
    const most = text.length * 3;
    if (most > MAX_SLAB) return Buffer.from(text);
    if (!this.#slab || this.#slab.length < most)
      this.#slab = Buffer.allocUnsafeSlow(Math.max(MIN_SLAB, most));
    const { written } = encoder.encodeInto(text, this.#slab);
    return this.#slab.subarray(0, written);
  }

  #notice(): string {
    const count = this.#notShown;
    this.#notShown = 0;
    return `[hangar] ${count} request${count === 1 ? '' : 's'} not shown here: the terminal did not read fast enough. The request log has them all (hangar logs).\n`;
  }

  #backlogBytes(): number {
    return this.#backlog ? this.#backlog.length - this.#at : 0;
  }

  #flush(): void {
    this.#scheduled = false;
    this.#retry = undefined;
    const before = this.waitingBytes;
    if (this.#writeOut() || this.#gone) {
      this.#retryMs = FIRST_RETRY_MS;
      return;
    }
    this.#retryMs = this.waitingBytes < before ? FIRST_RETRY_MS : Math.min(this.#retryMs * 2, LAST_RETRY_MS);
    this.#retry = setTimeout(() => this.#flush(), this.#retryMs);
  }

  /** Writes the backlog, then what is pending; true when the descriptor took all of it. */
  #writeOut(): boolean {
    for (;;) {
      if (this.#backlog) {
        if (!this.#drain()) return false;
        continue;
      }
      if (this.#notShown > 0 && !this.#pending) this.#pending = this.#notice();
      if (!this.#pending) return true;
      this.#backlog = this.#encode(this.#pending);
      this.#at = 0;
      this.#pending = '';
    }
  }

  /** Writes what the backlog holds; false when the descriptor would block. */
  #drain(): boolean {
    const backlog = this.#backlog!;
    while (this.#at < backlog.length) {
      try {
        this.#at += writeSync(this.#fd, backlog, this.#at, backlog.length - this.#at);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        // EPIPE, EBADF: nobody will read this terminal again; the request log goes on without it.
        this.#gone = true;
        this.#pending = '';
        break;
      }
    }
    this.#backlog = undefined;
    this.#at = 0;
    return true;
  }
}

/**
 * The live tails of the request log (`GET /api/logs/stream`, the console's live tail, `hangar
 * logs --tail`), run in the log worker: each finished entry is matched against every open
 * tail's filters here and written as Server-Sent Events text, and each tail's text goes to the
 * platform's thread once per `FLUSH_MS`. The platform's event loop, which serves the requests,
 * then pays one message and one socket write per tail and flush, however many requests finish:
 * per entry it pays nothing (docs/decisions.md, "Live tails in the log worker").
 *
 * A tail may ask for at most `maxPerSecond` entries (the console does: no one reads 15,000 rows a
 * second); the rest of each second is counted and said in one `event: skipped` message.
 */
import { matchesQuery } from './query-params.js';
import type { LogEntry, LogQuery } from './types.js';

/** How often a tail's text leaves the worker: live enough to show a request within 1 s. */
export const FLUSH_MS = 100;

interface Tail {
  query: LogQuery;
  maxPerSecond: number | undefined;
  text: string;
  /** Entries written in the current second, for the cap. */
  sent: number;
  second: number;
  skipped: number;
}

export class LogStreams {
  readonly #tails = new Map<number, Tail>();
  readonly #post: (id: number, text: string) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  /** `post` gets each tail's text; `now` is the clock (tests). */
  constructor(post: (id: number, text: string) => void, now: () => number = Date.now) {
    this.#post = post;
    this.#now = now;
  }

  get size(): number {
    return this.#tails.size;
  }

  add(id: number, query: LogQuery, maxPerSecond?: number): void {
    this.#tails.set(id, { query, maxPerSecond, text: '', sent: 0, second: 0, skipped: 0 });
  }

  remove(id: number): void {
    this.#tails.delete(id);
  }

  /** A finished entry: into every tail it matches (within its cap). */
  entry(entry: LogEntry): void {
    let json: string | undefined;
    let second = 0;
    for (const tail of this.#tails.values()) {
      if (!matchesQuery(entry, tail.query)) continue;
      if (tail.maxPerSecond !== undefined) {
        second ||= Math.floor(this.#now() / 1000);
        if (tail.second !== second) {
          tail.second = second;
          tail.sent = 0;
        }
        if (tail.sent >= tail.maxPerSecond) {
          tail.skipped++;
          this.#schedule();
          continue;
        }
        tail.sent++;
      }
      json ??= JSON.stringify(entry);
      tail.text += `data: ${json}\n\n`;
      this.#schedule();
    }
  }

  /** Every tail's text (and its skipped count) out now; called by the timer. */
  flush(): void {
    this.#timer = undefined;
    for (const [id, tail] of this.#tails) {
      if (tail.skipped > 0) {
        tail.text += `event: skipped\ndata: {"skipped":${tail.skipped}}\n\n`;
        tail.skipped = 0;
      }
      if (tail.text === '') continue;
      const text = tail.text;
      tail.text = '';
      this.#post(id, text);
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#tails.clear();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }
}

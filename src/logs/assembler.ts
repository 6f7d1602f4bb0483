/**
 * Puts a request's app lines under its record for the live views (the dev terminal and
 * `GET /api/logs/stream`). Most lines come with the record (the request channel carries them
 * with the response); others travel from the instance over IPC (Node handlers, requests that
 * logged a great deal, lines written after the response), so either may come first: a record
 * that may still get lines over IPC is held for `holdMs` (longer than an instance's batch
 * interval) to collect them, then emitted whole; one whose lines are all there is emitted at once.
 * A line for a request already emitted is emitted on its own (`late`). The store is written
 * from here too: an entry goes with the lines it collected, and late or orphaned lines (whose
 * record never came) are handed back to be stored on their own, so no line is dropped.
 */
import type { LogLine, RequestLogRecord, StoredLines } from './types.js';

interface Pending {
  record?: RequestLogRecord;
  lines: LogLine[];
  /** When the first thing for this id arrived (epoch ms), to sweep ids whose record never comes. */
  since: number;
}

export interface AssemblerOptions {
  /** How long a record waits for its lines. */
  holdMs?: number;
  /**
   * A request with the lines that came for it; `stored`: the same lines in the stored form, when
   * they are exactly the lines that came with the record in that form.
   */
  onEntry(record: RequestLogRecord, lines: LogLine[], stored?: StoredLines): void;
  /** A line that came after its request was emitted. */
  onLateLine?(requestId: string, line: LogLine): void;
  /** Lines whose record never came (swept after a long wait, or held at close). */
  onOrphanLines?(requestId: string, lines: readonly LogLine[]): void;
}

/** Lines whose record has not come after this long are let go (they are in the store). */
const ORPHAN_MS = 10 * 60_000;
/** Ids emitted recently, so a late line is told from an early one. */
const EMITTED_KEEP = 10_000;

export class LogAssembler {
  readonly #options: AssemblerOptions;
  readonly #holdMs: number;
  readonly #pending = new Map<string, Pending>();
  /**
   * Records waiting to be emitted, in arrival order (= due order: the hold is the same for all),
   * from `#dueHead` on; the array is compacted now and then rather than shifted per record.
   */
  #due: Array<{ id: string; at: number }> = [];
  #dueHead = 0;
  /** Ids emitted recently, and the same ids in a ring, oldest at `#ringAt`, to forget the oldest. */
  readonly #emitted = new Set<string>();
  readonly #ring: string[] = [];
  #ringAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastSweep = Date.now();

  /**
   * @example
   * const assembler = new LogAssembler({ holdMs: 50, onEntry: (record, lines) => print(record, lines) });
   */
  constructor(options: AssemblerOptions) {
    this.#options = options;
    this.#holdMs = options.holdMs ?? 50;
  }

  /**
   * A finished request, with the lines that came with its response (if any). `complete`: those
   * are all its lines (none on their way over IPC), so it is emitted now rather than held.
   * `stored`: `lines` in the stored form, passed on with them while they are the entry's only lines.
   */
  record(record: RequestLogRecord, lines: LogLine[] = [], complete = false, stored?: StoredLines): void {
    const pending = this.#pending.get(record.requestId);
    if (complete && !pending?.record) {
      this.#remember(record.requestId);
      if (pending) {
        this.#pending.delete(record.requestId);
        this.#options.onEntry(record, [...pending.lines, ...lines]);
      } else this.#options.onEntry(record, lines, stored);
      return;
    }
    const now = Date.now();
    if (pending) {
      pending.record = record;
      // Lines over IPC came first only if the request released them: they were written first.
      if (lines.length > 0) pending.lines.push(...lines);
    } else this.#pending.set(record.requestId, { record, lines, since: now });
    this.#due.push({ id: record.requestId, at: now + this.#holdMs });
    this.#timer ??= setTimeout(() => this.#emitDue(), this.#holdMs);
  }

  /** True while lines or a record of this request are held for its entry. */
  holds(requestId: string): boolean {
    return this.#pending.has(requestId);
  }

  /** Holds `line` for its request's entry; false when that entry was already emitted (a late line). */
  line(requestId: string, line: LogLine): boolean {
    if (this.#emitted.has(requestId)) {
      this.#options.onLateLine?.(requestId, line);
      return false;
    }
    const pending = this.#pending.get(requestId);
    if (pending) pending.lines.push(line);
    else this.#pending.set(requestId, { lines: [line], since: Date.now() });
    return true;
  }

  /** Emits everything held now (the platform is closing). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#emitDue(Number.POSITIVE_INFINITY);
    for (const [id, p] of this.#pending) if (p.lines.length > 0) this.#options.onOrphanLines?.(id, p.lines);
    this.#pending.clear();
  }

  /** Keeps the last EMITTED_KEEP ids (a Set whose oldest entry is deleted over and over gets slow to iterate). */
  #remember(id: string): void {
    this.#emitted.add(id);
    if (this.#ring.length < EMITTED_KEEP) {
      this.#ring.push(id);
      return;
    }
    this.#emitted.delete(this.#ring[this.#ringAt]!);
    this.#ring[this.#ringAt] = id;
    this.#ringAt = (this.#ringAt + 1) % EMITTED_KEEP;
  }

  #emitDue(now = Date.now()): void {
    this.#timer = undefined;
    const due = this.#due;
    while (this.#dueHead < due.length && due[this.#dueHead]!.at <= now) {
      const { id } = due[this.#dueHead++]!;
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      if (!pending?.record) continue;
      this.#remember(id);
      this.#options.onEntry(pending.record, pending.lines);
    }
    if (this.#dueHead === due.length || (this.#dueHead > 1024 && this.#dueHead * 2 > due.length)) {
      this.#due = due.slice(this.#dueHead);
      this.#dueHead = 0;
    }
    if (now - this.#lastSweep > ORPHAN_MS && Number.isFinite(now)) {
      this.#lastSweep = now;
      for (const [id, p] of this.#pending) {
        if (p.record || now - p.since <= ORPHAN_MS) continue;
        this.#pending.delete(id);
        this.#options.onOrphanLines?.(id, p.lines);
      }
    }
    const next = this.#due[this.#dueHead];
    if (next && Number.isFinite(now))
      this.#timer = setTimeout(() => this.#emitDue(), Math.max(0, next.at - Date.now()));
  }
}

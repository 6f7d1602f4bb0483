/**
 * The platform's request log (SPEC S9), wired: front-end records and instance lines go to the
 * store through the batched writer, and to the live views (dev terminal, SSE tail) through the
 * assembler; retention runs on a timer. platform.ts owns one of these.
 */

import type { AppLogLine } from '../shared/messages.js';
import type { RequestRecord } from '../shared/request-record.js';
import { LogAssembler } from './assembler.js';
import { packedMaxLevel, readPackedLines } from './packed-lines.js';
import { toLogLine, toLogRecord, toStoredLine } from './record.js';
import type { JournaledRecord } from './request-journal.js';
import type { LogStore, RetentionPolicy } from './store.js';
import type {
  LogEntry,
  LogLine,
  LogPage,
  LogQuery,
  RecordWithLines,
  RequestLogRecord,
  StoredLine,
} from './types.js';
import { LogWriter } from './writer.js';

export interface RequestLogsOptions {
  store: LogStore;
  retention: RetentionPolicy;
  /** A request with its lines, as soon as they are all there (dev terminal). */
  onEntry?(record: RequestLogRecord, lines: readonly LogLine[]): void;
  /** A line that came after its request was shown. */
  onLateLine?(requestId: string, line: LogLine): void;
  /** A line written outside any request (module top level, timers): an instance line. */
  onInstanceLine?(instanceId: string, line: LogLine): void;
  /** The store failed to write or prune; said once per kind by the caller. */
  onError?(err: Error): void;
  /**
   * Records that came from the request journal were committed: pairs of journal generation and
   * count, flat (`[generation, count, ...]`), so the journal can let those entries go.
   */
  onCommitted?(generations: number[]): void;
}

export interface RequestLogs {
  /** A finished request (front end or the platform's own /_ah/ requests). */
  request(record: RequestRecord): void;
  /** A batch of an instance's lines. */
  lines(instanceId: string, lines: readonly AppLogLine[]): void;
  query(query: LogQuery): Promise<LogPage>;
  /** Live entries (for `GET /api/logs/stream`); returns the unsubscribe function. */
  subscribe(listener: (entry: LogEntry) => void): () => void;
  /** Shows what is held, writes what is queued; call before the database closes. */
  close(): Promise<void>;
}

/**
 * @example
 * const logs = createRequestLogs({ store: new SqliteLogStore(db), retention: { maxAgeMs, maxBytes } });
 * frontend.onRequest = (record) => logs.request(record);
 */
export function createRequestLogs(options: RequestLogsOptions): RequestLogs {
  const { store } = options;
  const { onCommitted } = options;
  const writer = new LogWriter(store, {
    flushMs: 100,
    ...(options.onError ? { onError: options.onError } : {}),
    ...(onCommitted
      ? {
          onWritten: (records: readonly RecordWithLines[]) => {
            const counts = journalCounts(records);
            if (counts.length > 0) onCommitted(counts);
          },
        }
      : {}),
  });
  const listeners = new Set<(entry: LogEntry) => void>();
  /** Entries of this turn for the live tails, delivered once the writer has stored them. */
  let live: LogEntry[] = [];
  const deliverLive = () => {
    const batch = live;
    live = [];
    void writer.settled().then(() => {
      for (const entry of batch) for (const listener of listeners) listener(entry);
    });
  };
  const assembler = new LogAssembler({
    holdMs: 50,
    onEntry: (record, lines, stored) => {
      // The record is stored with the lines it collected: one row, however many lines. Lines that
      // came in the stored form are kept only as that text until written (fewer live objects).
      writer.record(stored ? { ...record, storedLines: stored } : { ...record, lines });
      options.onEntry?.(record, lines);
      // Live once stored: a tail subscribes, then reads the history, and must find it in one of them.
      // The writer has its own copy, so the record becomes the entry without another object;
      // the turn's entries wait for one settle of the writer, not one promise each.
      if (listeners.size > 0) {
        const entry = record as LogEntry;
        entry.lines = lines;
        live.push(entry);
        if (live.length === 1) setImmediate(deliverLive);
      }
    },
    ...(options.onLateLine ? { onLateLine: options.onLateLine } : {}),
    onOrphanLines: (requestId, lines) => writer.lines(lines.map((l) => ({ requestId, ...l }))),
  });
  // Often enough that a short retention (tests) is kept to within a quarter of it, and that a
  // heavy logger overshoots max_bytes by what 5 s bring (~100 MB at 20 MB/s), not a minute's
  // worth; a check that finds nothing to do is three pragmas and two index probes.
  const pruneEvery = Math.min(5_000, Math.max(250, options.retention.maxAgeMs / 4));
  let pruning = false;
  const prune = () => {
    if (pruning) return;
    pruning = true;
    store
      .prune(options.retention)
      .catch((err: Error) => options.onError?.(err))
      .finally(() => {
        pruning = false;
      });
  };
  prune();
  const pruneTimer = setInterval(prune, pruneEvery);
  pruneTimer.unref();

  return {
    request(record) {
      // Complete: its response carried every line it wrote, or no instance served it.
      const complete = record.linesComplete === true || record.instanceId === undefined;
      const log: JournaledLogRecord = toLogRecord(record);
      // Goes with the record to the writer (the assembler's entries are spread copies), which reports it committed.
      const generation = (record as JournaledRecord).journalGeneration;
      if (generation !== undefined) log.journalGeneration = generation;
      if (record.lines === undefined) return assembler.record(log, undefined, complete);
      // Nobody reads this entry's lines as objects (no terminal, no live tail, none held for it):
      // they are stored as the text they came as, so only their highest level is read.
      if (complete && !options.onEntry && listeners.size === 0 && !assembler.holds(log.requestId)) {
        const maxLevel = packedMaxLevel(record.lines);
        if (maxLevel !== undefined)
          return assembler.record(log, [], complete, { json: record.lines, maxLevel });
      }
      const read = readPackedLines(record.lines);
      if (read)
        return assembler.record(log, read.lines, complete, { json: record.lines, maxLevel: read.maxLevel });
      // Not the stored form (a broken instance): kept as one line, so nothing it sent is lost.
      assembler.record(log, [unreadableLines(log, record.lines)], complete);
    },
    lines(instanceId, lines) {
      const late: StoredLine[] = [];
      for (const line of lines) {
        if (line.requestId === undefined) {
          options.onInstanceLine?.(instanceId, toLogLine(line));
          continue;
        }
        const held = assembler.line(line.requestId, toLogLine(line));
        // Held lines are stored with their record; a late one is stored on its own.
        if (!held) late.push(toStoredLine({ ...line, requestId: line.requestId }));
      }
      if (late.length > 0) writer.lines(late);
    },
    async query(query) {
      // An entry already shown live may still sit in the writer's batch; a tail that subscribed
      // after it was shown and reads the history now must find it there.
      await writer.flush();
      return store.query(query);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      clearInterval(pruneTimer);
      assembler.close();
      await writer.flush();
      await store.close();
    },
  };
}

/** A log record that came from the request journal: the generation its entry is in. */
type JournaledLogRecord = RequestLogRecord & { journalGeneration?: number };

/** Text that is not the stored form (a broken instance), kept as one line so nothing it sent is lost. */
function unreadableLines(log: RequestLogRecord, text: string): LogLine {
  return {
    time: log.startTime,
    level: 'error',
    message: `Hangar could not read the lines the instance sent with this response: ${text}`,
  };
}

/**
 * A record as the store keeps it, with the lines that came with its response: a record recovered
 * from the request journal, which goes to the store only (the live views have moved on).
 */
export function toStoredRecord(record: RequestRecord): RecordWithLines {
  const log = toLogRecord(record);
  if (record.lines === undefined) return log;
  const read = readPackedLines(record.lines);
  if (read) return { ...log, storedLines: { json: record.lines, maxLevel: read.maxLevel } };
  return { ...log, lines: [unreadableLines(log, record.lines)] };
}

/** `[generation, count, ...]` of the journaled records among `records`. */
function journalCounts(records: readonly JournaledLogRecord[]): number[] {
  const counts: number[] = [];
  for (const record of records) {
    const generation = record.journalGeneration;
    if (generation === undefined) continue;
    // A batch's records are of one generation or a few: a short search.
    let at = counts.length - 2;
    while (at >= 0 && counts[at] !== generation) at -= 2;
    if (at >= 0) counts[at + 1]!++;
    else counts.push(generation, 1);
  }
  return counts;
}

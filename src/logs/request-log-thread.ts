/**
 * The platform's request log (SPEC S9) on a worker thread (log-worker.ts). The platform's
 * event loop only queues what it is handed and posts it once per turn; storing, assembling
 * and printing the dev terminal's request lines happen on the worker. On 2 cores this took
 * about a fifth of the front end's per-request work off its event loop (docs/decisions.md).
 *
 * With a journal (request-journal.ts), every record is in the journal file before the log
 * thread gets it, and a journaled record crosses to the worker as its entry's head (parsed
 * there) and its lines text, plus what became known when the exchange closed: cheaper than the
 * structured clone of the whole record. The worker reports what it committed, and recovers the
 * journals of dead platform processes before it answers anything.
 */
import { Worker } from 'node:worker_threads';
import type { AppLogLine } from '../shared/messages.js';
import { PendingReplies } from '../shared/pending-replies.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { LogStoreLocation } from './open-store.js';
import { type JournaledRecord, type Recovery, RequestJournal } from './request-journal.js';
import type { RequestLogs } from './request-logs.js';
import type { RetentionPolicy } from './store.js';
import type { LogPage, LogQuery } from './types.js';

/** What the worker starts with. */
export interface LogThreadData {
  /** The store the worker opens (open-store.ts). */
  store: LogStoreLocation;
  retention: RetentionPolicy;
  /** Where the dev terminal's request lines go (a file descriptor), and in colour or not; none: not printed. */
  terminal: { fd: number; color: boolean; fullTraces?: boolean } | undefined;
  /** The request journal's directory, and the owner of this process's files (the worker recovers the others). */
  journal?: { dir: string; self: string } | undefined;
}

/**
 * `journaled`: a journaled record as its entry's head and its lines text (request-journal.ts),
 * the generation it was first journaled in, and what the entry may not have yet: latency,
 * status, bytes in and out, error.
 */
export type LogEvent =
  | ['request', RequestRecord]
  | ['lines', string, readonly AppLogLine[]]
  | [
      'journaled',
      string,
      string | undefined,
      number,
      number,
      number,
      number | undefined,
      number,
      string | undefined,
    ];

/** Messages to the worker. */
export type ToLogThread =
  | { type: 'batch'; events: LogEvent[] }
  | { type: 'query'; id: number; query: LogQuery }
  | { type: 'stream'; id: number; query: LogQuery; maxPerSecond: number | undefined }
  | { type: 'unstream'; id: number }
  | { type: 'close'; id: number };

/** Messages from the worker. */
type FromLogThread =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string }
  | { type: 'streamed'; id: number; text: string }
  | { type: 'error'; message: string }
  | { type: 'committed'; generations: number[] }
  | { type: 'recovered'; recovery: Recovery };

export interface RequestLogThreadOptions extends Omit<LogThreadData, 'journal'> {
  /**
   * Keep a request journal in `dir` (the data dir's `run/`): no record of an answered request is
   * lost to a crash of the platform process; journals of dead processes are recovered at start.
   */
  journal?: { dir: string; rotateBytes?: number; onError?(message: string): void };
  /** The log failed to write or prune (said by the worker; may repeat), or the journal failed. */
  onError(message: string): void;
  /** Records of a platform process that died were recovered from its journal (before any query). */
  onRecovered?(recovery: Recovery): void;
}

/** The request log as the platform runs it, and its journal (for the front end), if it keeps one. */
export interface RequestLogThread extends Omit<RequestLogs, 'subscribe'> {
  readonly journal: RequestJournal | undefined;
  /**
   * A live tail of the entries matching `query` (at most `maxPerSecond` a second, when given),
   * as Server-Sent Events text: `write` gets it in pieces of up to 100 ms. Returns its end.
   */
  stream(query: LogQuery, maxPerSecond: number | undefined, write: (text: string) => void): () => void;
}

/**
 * Starts the worker and returns the request log as the platform uses it.
 *
 * @example
 * const logs = startRequestLogThread({ store: { kind: 'sqlite', dataDir }, retention, terminal: { fd: 1, color }, onError });
 */
export function startRequestLogThread(options: RequestLogThreadOptions): RequestLogThread {
  const { onError, onRecovered, journal: journalOptions, ...rest } = options;
  const journal = journalOptions
    ? new RequestJournal({
        dir: journalOptions.dir,
        ...(journalOptions.rotateBytes ? { rotateBytes: journalOptions.rotateBytes } : {}),
        onError: journalOptions.onError ?? onError,
      })
    : undefined;
  const data: LogThreadData = {
    ...rest,
    journal: journal && journalOptions ? { dir: journalOptions.dir, self: journal.owner } : undefined,
  };
  const worker = new Worker(new URL('./log-worker.js', import.meta.url), { workerData: data });
  // No timeout: the worker answers every call, or its exit fails them all.
  const replies = new PendingReplies<unknown>();
  // Open live tails: their Server-Sent Events text comes from the worker (log-streams.ts).
  const tails = new Map<number, (text: string) => void>();
  let nextTail = 1;
  let events: LogEvent[] = [];
  let scheduled = false;
  let closed: Promise<void> | undefined;

  worker.on('message', (message: FromLogThread) => {
    if (message.type === 'streamed') {
      tails.get(message.id)?.(message.text);
    } else if (message.type === 'committed') {
      const counts = message.generations;
      for (let i = 0; i + 1 < counts.length; i += 2) journal?.committed(counts[i]!, counts[i + 1]!);
    } else if (message.type === 'error') {
      onError(message.message);
    } else if (message.type === 'recovered') {
      onRecovered?.(message.recovery);
    } else if (message.ok) {
      replies.settle(message.id, message.value);
    } else {
      replies.fail(message.id, new Error(message.message));
    }
  });
  worker.on('error', (err) => {
    onError(`the request log's worker failed: ${err.message}`);
    replies.failAll(err);
  });
  worker.on('exit', (code) => replies.failAll(new Error(`the request log's worker exited (code ${code})`)));

  const post = () => {
    scheduled = false;
    if (events.length === 0) return;
    worker.postMessage({ type: 'batch', events } satisfies ToLogThread);
    events = [];
  };
  const queue = (event: LogEvent) => {
    events.push(event);
    if (!scheduled) {
      scheduled = true;
      setImmediate(post);
    }
  };
  const call = (message: { type: 'query'; query: LogQuery } | { type: 'close' }): Promise<unknown> => {
    // What was handed over before the call is in the worker before the call is.
    post();
    return replies.request((id) => worker.postMessage({ ...message, id } satisfies ToLogThread));
  };

  return {
    journal,
    request(record) {
      const r = record as JournaledRecord;
      // Not journaled where its answer was written (the platform's own /_ah/ requests): now.
      if (journal && r.journalHead === undefined) journal.write(r);
      if (r.journalHead === undefined) queue(['request', record]);
      else
        queue([
          'journaled',
          r.journalHead,
          r.lines,
          r.journalGeneration!,
          r.latencyMs,
          r.status,
          r.bytesIn,
          r.bytesOut,
          r.error,
        ]);
    },
    lines: (instanceId, lines) => queue(['lines', instanceId, lines]),
    query: (query) => call({ type: 'query', query }) as Promise<LogPage>,
    stream(query, maxPerSecond, write) {
      const id = nextTail++;
      tails.set(id, write);
      worker.postMessage({ type: 'stream', id, query, maxPerSecond } satisfies ToLogThread);
      return () => {
        if (tails.delete(id)) worker.postMessage({ type: 'unstream', id } satisfies ToLogThread);
      };
    },
    close() {
      // The worker's last commits are reported before its answer: the journal then keeps only
      // what was not committed (for the next start to recover).
      closed ??= call({ type: 'close' })
        .catch(() => {})
        .then(() => worker.terminate())
        .then(() => journal?.close());
      return closed;
    },
  };
}

/**
 * The platform's request log (SPEC S9) on a worker thread (log-worker.ts). The platform's
 * event loop only queues what it is handed and posts it once per turn; storing, assembling
 * and printing the dev terminal's request lines happen on the worker. On 2 cores this took
 * about a fifth of the front end's per-request work off its event loop (docs/decisions.md).
 */
import { Worker } from 'node:worker_threads';
import type { AppLogLine } from '../shared/messages.js';
import { PendingReplies } from '../shared/pending-replies.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { LogStoreLocation } from './open-store.js';
import type { RequestLogs } from './request-logs.js';
import type { RetentionPolicy } from './store.js';
import type { LogEntry, LogPage, LogQuery } from './types.js';

/** What the worker starts with. */
export interface LogThreadData {
  /** The store the worker opens (open-store.ts). */
  store: LogStoreLocation;
  retention: RetentionPolicy;
  /** Where the dev terminal's request lines go (a file descriptor), and in colour or not; none: not printed. */
  terminal: { fd: number; color: boolean } | undefined;
}

export type LogEvent = ['request', RequestRecord] | ['lines', string, readonly AppLogLine[]];

/** Messages to the worker. */
export type ToLogThread =
  | { type: 'batch'; events: LogEvent[] }
  | { type: 'query'; id: number; query: LogQuery }
  | { type: 'subscribe'; on: boolean }
  | { type: 'close'; id: number };

/** Messages from the worker. */
type FromLogThread =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string }
  | { type: 'entry'; entry: LogEntry }
  | { type: 'error'; message: string };

export interface RequestLogThreadOptions extends LogThreadData {
  /** The log failed to write or prune (said by the worker; may repeat). */
  onError(message: string): void;
}

/**
 * Starts the worker and returns the request log as the platform uses it.
 *
 * @example
 * const logs = startRequestLogThread({ store: { kind: 'sqlite', dataDir }, retention, terminal: { fd: 1, color }, onError });
 */
export function startRequestLogThread(options: RequestLogThreadOptions): RequestLogs {
  const { onError, ...data } = options;
  const worker = new Worker(new URL('./log-worker.js', import.meta.url), { workerData: data });
  // No timeout: the worker answers every call, or its exit fails them all.
  const replies = new PendingReplies<unknown>();
  const listeners = new Set<(entry: LogEntry) => void>();
  let events: LogEvent[] = [];
  let scheduled = false;
  let closed: Promise<void> | undefined;

  worker.on('message', (message: FromLogThread) => {
    if (message.type === 'entry') {
      for (const listener of listeners) listener(message.entry);
    } else if (message.type === 'error') {
      onError(message.message);
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
    request: (record) => queue(['request', record]),
    lines: (instanceId, lines) => queue(['lines', instanceId, lines]),
    query: (query) => call({ type: 'query', query }) as Promise<LogPage>,
    subscribe(listener) {
      listeners.add(listener);
      if (listeners.size === 1) worker.postMessage({ type: 'subscribe', on: true } satisfies ToLogThread);
      return () => {
        if (listeners.delete(listener) && listeners.size === 0) {
          worker.postMessage({ type: 'subscribe', on: false } satisfies ToLogThread);
        }
      };
    },
    close() {
      closed ??= call({ type: 'close' })
        .catch(() => {})
        .then(() => worker.terminate())
        .then(() => undefined);
      return closed;
    },
  };
}

/**
 * A LogStore that keeps SQLite off the platform's event loop: a worker thread owns the
 * SqliteLogStore (store-worker.ts) and this side only posts batches and queries to it. Inserting
 * a request's row with its indexes costs about as much as the rest of the front end's work for
 * that request; on the worker it runs beside the request path instead of inside it, and a
 * batch of a thousand rows no longer stalls every request in flight for milliseconds.
 */
import { Worker } from 'node:worker_threads';
import type { LogStore, RetentionPolicy } from './store.js';
import type { LogPage, LogQuery, RecordWithLines, StoredLine } from './types.js';

/** A call posted to the worker. */
export type StoreCall = { id: number } & (
  | { op: 'append'; records: readonly RecordWithLines[]; lines: readonly StoredLine[] }
  | { op: 'query'; query: LogQuery }
  | { op: 'prune'; policy: RetentionPolicy; now: number | undefined }
  | { op: 'close' }
);

/** The worker's answer to call `id`. */
export type StoreReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { message: string; code?: string } };

type CallBody = StoreCall extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

export interface WorkerLogStoreOptions {
  /** The worker's script; default: store-worker.js next to this module (tests of the TypeScript sources pass the built one). */
  script?: URL;
}

export class WorkerLogStore implements LogStore {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  #nextId = 1;
  #closed: Promise<void> | undefined;

  /**
   * Starts the worker, which opens `<dataDir>/hangar.db`; calls made before it is up wait for it.
   *
   * @example
   * const store = new WorkerLogStore(dataDir);
   */
  constructor(dataDir: string, options: WorkerLogStoreOptions = {}) {
    this.#worker = new Worker(options.script ?? new URL('./store-worker.js', import.meta.url), {
      workerData: { dataDir },
    });
    this.#worker.on('message', (reply: StoreReply) => {
      const waiter = this.#waiting.get(reply.id);
      if (!waiter) return;
      this.#waiting.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else
        waiter.reject(
          Object.assign(new Error(reply.error.message), reply.error.code ? { code: reply.error.code } : {}),
        );
    });
    this.#worker.on('error', (err) => this.#failAll(err));
    this.#worker.on('exit', (code) =>
      this.#failAll(new Error(`the request log's store worker exited (code ${code})`)),
    );
  }

  append(records: readonly RecordWithLines[], lines: readonly StoredLine[]): Promise<void> {
    if (records.length === 0 && lines.length === 0) return Promise.resolve();
    return this.#call({ op: 'append', records, lines }) as Promise<void>;
  }

  query(query: LogQuery): Promise<LogPage> {
    return this.#call({ op: 'query', query }) as Promise<LogPage>;
  }

  prune(policy: RetentionPolicy, now?: number): Promise<number> {
    return this.#call({ op: 'prune', policy, now }) as Promise<number>;
  }

  /** Writes what was posted, closes the database and ends the worker. */
  close(): Promise<void> {
    this.#closed ??= (this.#call({ op: 'close' }) as Promise<void>)
      .catch(() => {})
      .then(() => this.#worker.terminate())
      .then(() => undefined);
    return this.#closed;
  }

  #call(body: CallBody): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('the request log store is closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...body } as StoreCall);
    });
  }

  #failAll(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiter of waiting) waiter.reject(err);
  }
}

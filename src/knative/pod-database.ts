/**
 * A Knative pod on the platform's PostgreSQL database (SPEC S16; docs/kubernetes.md "The pod
 * and the platform database"): with HANGAR_DATABASE_URL set, each request's log entry and its
 * counts go to the platform's shared request log and metering table, so `hangar logs`, `hangar
 * quotas` and the console of any `serve` node on that database see the pods' requests, and the
 * pod enforces the app's daily quotas on the platform-wide totals.
 *
 * The work is on a thread of its own (pod-database-worker.ts). This side, on the app's event
 * loop, only queues each entry and posts the queue once per turn, and answers the quota check
 * from the last state the thread sent: a request never waits for the database. Should the
 * thread fail, entries go to stdout as without a database, and nothing more is metered.
 */
import { Worker } from 'node:worker_threads';
import { type PodLogEntry, podLogLine, podMessage } from './pod-log.js';
import type { PodInstance } from './pod-recorder.js';

/** What the database thread starts with. */
export interface PodDatabaseData {
  url: string;
  instance: Omit<PodInstance, 'startedAt'> & { startedAt: number };
  quotas: Record<string, number>;
}

/** Messages to the database thread. */
export type ToPodDatabase =
  | { type: 'entries'; entries: Array<[PodLogEntry, boolean]> }
  | { type: 'close'; budgetMs: number };

/** Messages from it. */
export type FromPodDatabase =
  | { type: 'spill'; text: string }
  | { type: 'say'; severity: 'INFO' | 'WARNING'; message: string }
  | { type: 'quota'; exhausted: string | null }
  | { type: 'closed' };

export interface PodDatabase {
  /** A finished request's entry; `metered`: it reached the app (counted, as after routing). */
  record(entry: PodLogEntry, metered: boolean): void;
  /** The daily quota the app has used up (platform-wide, as of the thread's last word), or undefined. */
  overQuota(): string | undefined;
  /**
   * Writes what waits and the last counts, within `budgetMs` (what is not stored by then goes to
   * stdout), and ends the thread.
   */
  close(budgetMs: number): Promise<void>;
}

export interface PodDatabaseOptions extends Omit<PodDatabaseData, 'instance'> {
  instance: PodInstance;
  /** The pod's stdout. */
  out(text: string): void;
}

/**
 * Starts the database thread.
 *
 * @example
 * const database = startPodDatabase({ url, instance, quotas: platformConfig.quotas.daily, out });
 * database.record(entry, true);
 */
export function startPodDatabase(options: PodDatabaseOptions): PodDatabase {
  const { out } = options;
  const data: PodDatabaseData = {
    url: options.url,
    quotas: options.quotas,
    instance: { ...options.instance, startedAt: options.instance.startedAt.getTime() },
  };
  const worker = new Worker(new URL('./pod-database-worker.js', import.meta.url), { workerData: data });
  let failed = false;
  let exhausted: string | undefined;
  let queued: Array<[PodLogEntry, boolean]> = [];
  let scheduled = false;
  let closed: (() => void) | undefined;
  const done = new Promise<void>((resolve) => {
    closed = resolve;
  });

  const fail = (why: string) => {
    if (failed) return;
    failed = true;
    out(
      podMessage(
        'ERROR',
        `the pod's database thread ${why}; request log entries go to stdout from now on, and nothing more is metered`,
      ),
    );
    for (const [entry] of queued) out(podLogLine(entry));
    queued = [];
    closed?.();
  };
  worker.on('message', (message: FromPodDatabase) => {
    switch (message.type) {
      case 'spill':
        out(message.text);
        return;
      case 'say':
        out(podMessage(message.severity, message.message));
        return;
      case 'quota':
        exhausted = message.exhausted ?? undefined;
        return;
      case 'closed':
        closed?.();
        return;
    }
  });
  worker.on('error', (err) => fail(`failed (${err.message})`));
  worker.on('exit', (code) => fail(`exited (code ${code})`));

  const post = () => {
    scheduled = false;
    if (failed || queued.length === 0) return;
    worker.postMessage({ type: 'entries', entries: queued } satisfies ToPodDatabase);
    queued = [];
  };

  return {
    record(entry, metered) {
      if (failed) {
        out(podLogLine(entry));
        return;
      }
      queued.push([entry, metered]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(post);
      }
    },
    overQuota: () => exhausted,
    async close(budgetMs) {
      if (!failed) {
        post();
        worker.postMessage({ type: 'close', budgetMs } satisfies ToPodDatabase);
        // The thread answers within its budget; a thread that does not is ended a second later.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, budgetMs + 1_000)))]);
        clearTimeout(timer);
      }
      failed = true;
      await worker.terminate().catch(() => undefined);
    },
  };
}

/**
 * The database thread of a Knative pod (started by pod-database.ts): the PostgreSQL pool, the
 * request log's batched writer and the meter (pod-recorder.ts) run here, beside the app's event
 * loop, as the platform's log thread runs beside the front end's (logs/request-log-thread.ts).
 *
 * A thread of its own also keeps the pod's database connections out of the app's sockets shim
 * (S12): the shim patches `node:net` in the main thread, where the app runs, and a worker has
 * its own instances of Node's modules, so the pool here connects directly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PgLogStore } from '../logs/pg-store.js';
import { PgMeteringStore } from '../metering/pg-store.js';
import { openPostgres, redactUrl } from '../shared/postgres.js';
import type { FromPodDatabase, PodDatabaseData, ToPodDatabase } from './pod-database.js';
import { PodRecorder, reconnecting } from './pod-recorder.js';

const port = parentPort!;
const data = workerData as PodDatabaseData;
const post = (message: FromPodDatabase) => port.postMessage(message);
const { instance } = data;
const where = redactUrl(data.url);

/** Connections per pod: the log writer's batch and the meter's write never wait for each other. */
const POOL_SIZE = 2;

const connection = reconnecting(async () => {
  const pool = await openPostgres(data.url, {
    max: POOL_SIZE,
    applicationName: `hangar pod ${instance.app}/${instance.service}/${instance.version}`.slice(0, 63),
  });
  try {
    return { pool, logs: await PgLogStore.open(pool), metering: await PgMeteringStore.open(pool) };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
});

const recorder = new PodRecorder({
  stores: () => connection.get(),
  instance: { ...instance, startedAt: new Date(instance.startedAt) },
  quotas: data.quotas,
  spill: (text) => post({ type: 'spill', text }),
  say: (severity, message) => post({ type: 'say', severity, message }),
  onQuota: (exhausted) => post({ type: 'quota', exhausted: exhausted ?? null }),
});

// Connect at once: the first requests find the pool ready, and a wrong URL is said at start.
connection.get().then(
  () => post({ type: 'say', severity: 'INFO', message: `request log and metering: ${where}` }),
  (err: Error) => recorder.problem(err, 'platform database'),
);

port.on('message', (message: ToPodDatabase) => {
  if (message.type === 'entries') {
    for (const [entry, metered] of message.entries) recorder.entry(entry, metered);
    return;
  }
  // close: answered whatever happens, within its budget; the pod exits after the answer.
  void recorder
    .close(message.budgetMs)
    .catch(() => undefined)
    .then(() => connection.current()?.pool.end())
    .catch(() => undefined)
    .then(() => post({ type: 'closed' }));
});

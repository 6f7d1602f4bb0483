/**
 * The worker thread behind WorkerLogStore: owns a SqliteLogStore on its own connection to
 * `<data-dir>/hangar.db` and runs the calls posted to it, one at a time, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../platform/database.js';
import { isHangarError } from '../shared/errors.js';
import { SqliteLogStore } from './sqlite-store.js';
import type { StoreCall, StoreReply } from './worker-store.js';

const port = parentPort!;
const { dataDir } = workerData as { dataDir: string };

let opened: { db: ReturnType<typeof openDatabase>; store: SqliteLogStore } | Error;
try {
  const db = openDatabase(dataDir);
  opened = { db, store: new SqliteLogStore(db) };
} catch (err) {
  opened = err as Error;
}

port.on('message', (call: StoreCall) => void run(call).then((reply) => port.postMessage(reply)));

async function run(call: StoreCall): Promise<StoreReply> {
  try {
    if (opened instanceof Error) throw opened;
    const { db, store } = opened;
    switch (call.op) {
      case 'append':
        await store.append(call.records, call.lines);
        return { id: call.id, ok: true, value: undefined };
      case 'query':
        return { id: call.id, ok: true, value: await store.query(call.query) };
      case 'prune':
        return { id: call.id, ok: true, value: await store.prune(call.policy, call.now) };
      case 'close':
        await store.close();
        db.close();
        return { id: call.id, ok: true, value: undefined };
    }
  } catch (err) {
    const error = err as Error;
    return {
      id: call.id,
      ok: false,
      error: { message: error.message, ...(isHangarError(error) ? { code: error.code } : {}) },
    };
  }
}

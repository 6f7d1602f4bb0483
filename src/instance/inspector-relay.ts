/**
 * `hangar dev --inspect` inside an instance. The instance's inspector listens on its own
 * loopback (in its network namespace nothing outside can reach it), so a relay takes it to a
 * Unix socket beside the instance's others, which the platform's debugger port forwards to
 * (src/platform/inspector-proxy.ts). The relay runs on a worker thread: when the debugger
 * pauses the app at a breakpoint the main thread stops, and a relay on it would stop with it.
 */
import { url } from 'node:inspector';
import { Worker } from 'node:worker_threads';

/**
 * Starts the relay from `socketPath` to this process's inspector (opened with
 * `--inspect=127.0.0.1:0` by the platform). Resolves once the socket listens.
 */
export async function startInspectorRelay(socketPath: string): Promise<void> {
  const address = url();
  if (!address)
    throw new Error('the inspector is not open in this instance (it was started without --inspect)');
  const port = Number(new URL(address).port);
  const worker = new Worker(new URL('./inspector-relay-worker.js', import.meta.url), {
    workerData: { socketPath, port },
  });
  // The relay must not keep the instance alive when it is told to stop.
  worker.unref();
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
}

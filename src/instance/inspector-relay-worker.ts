/**
 * The worker thread of inspector-relay.ts: each connection to the Unix socket is piped to the
 * instance's inspector on its loopback. Plain `net` (the sockets shim patches only the main
 * thread's), and only to the instance's own loopback.
 */
import { rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const { socketPath, port } = workerData as { socketPath: string; port: number };

rmSync(socketPath, { force: true });
const server = createServer((client) => {
  const inspector = connect(port, '127.0.0.1');
  client.pipe(inspector).pipe(client);
  const end = () => {
    client.destroy();
    inspector.destroy();
  };
  client.on('error', end).on('close', end);
  inspector.on('error', end).on('close', end);
});
server.listen(socketPath, () => parentPort?.postMessage('listening'));

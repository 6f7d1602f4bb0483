/**
 * Entry point of the socket-service process (SPEC S12, ARCHITECTURE "socket service"). The
 * platform starts it with `HANGAR_SOCKETS_INIT` in its environment and an IPC channel; it
 * listens on its Unix socket, reports `ready`, answers `list` and `bytes`, and exits when told
 * to stop or when the IPC channel closes, so it never outlives the platform. With `database`
 * it is one node of several (docs/sockets.md "Several nodes").
 */
import { type FromService, ServiceInit, ToService } from '../ipc.js';
import { SocketService } from './server.js';

function send(message: FromService): void {
  process.send?.(message);
}

const init = ServiceInit.parse(JSON.parse(process.env.HANGAR_SOCKETS_INIT ?? 'null'));
delete process.env.HANGAR_SOCKETS_INIT;

const service = new SocketService({
  ...init,
  onWarning: (app, message) => send({ type: 'warning', app, message }),
});

// The platform is gone (it crashed: a stop comes first otherwise). With a database, this node's
// rows are removed on the way out, for at most 2 s; the next start of the node removes them anyway.
process.on('disconnect', () => {
  if (!init.database) process.exit(0);
  setTimeout(() => process.exit(0), 2_000).unref();
  service.close().finally(() => process.exit(0));
});
// Ctrl-C in a terminal signals the whole process group, this process too: the platform stops
// it (`stop`, then the IPC channel closing), so the terminal's SIGINT is not its to act on.
process.on('SIGINT', () => {});

try {
  await service.listen();
} catch (err) {
  send({ type: 'failed', message: (err as Error).message });
  process.exit(1);
}

process.on('message', (raw) => {
  const message = ToService.safeParse(raw);
  if (!message.success) return;
  const m = message.data;
  if (m.type === 'list') {
    service.list().then(
      (sockets) => send({ type: 'list', id: m.id, sockets }),
      (err: Error) =>
        send({
          type: 'list-failed',
          id: m.id,
          message: `the other nodes' sockets could not be read from the platform database: ${err.message}`,
        }),
    );
  } else if (m.type === 'bytes') send({ type: 'bytes', id: m.id, bytes: service.registry.bytesByApp() });
  // The platform asks for the final byte totals before it says stop, so nothing goes unmetered.
  else if (m.type === 'stop') service.close().then(() => process.exit(0));
});

send({ type: 'ready' });

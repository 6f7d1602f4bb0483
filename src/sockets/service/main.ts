/**
 * Entry point of the socket-service process (SPEC S12, ARCHITECTURE "socket service"). The
 * platform starts it with `HANGAR_SOCKETS_INIT` in its environment and an IPC channel; it
 * listens on its Unix socket, reports `ready`, answers `list` and `bytes`, and exits when told
 * to stop or when the IPC channel closes, so it never outlives the platform.
 */
import { type FromService, ServiceInit, ToService } from '../ipc.js';
import { SocketService } from './server.js';

function send(message: FromService): void {
  process.send?.(message);
}

const init = ServiceInit.parse(JSON.parse(process.env.HANGAR_SOCKETS_INIT ?? 'null'));
delete process.env.HANGAR_SOCKETS_INIT;

process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal signals the whole process group, this process too: the platform stops
// it (`stop`, then the IPC channel closing), so the terminal's SIGINT is not its to act on.
process.on('SIGINT', () => {});

const service = new SocketService({
  ...init,
  onWarning: (app, message) => send({ type: 'warning', app, message }),
});

try {
  await service.listen();
} catch (err) {
  send({ type: 'failed', message: `cannot listen on ${init.path}: ${(err as Error).message}` });
  process.exit(1);
}

process.on('message', (raw) => {
  const message = ToService.safeParse(raw);
  if (!message.success) return;
  const m = message.data;
  if (m.type === 'list') send({ type: 'list', id: m.id, sockets: service.registry.list() });
  else if (m.type === 'bytes') send({ type: 'bytes', id: m.id, bytes: service.registry.bytesByApp() });
  // The platform asks for the final byte totals before it says stop, so nothing goes unmetered.
  else if (m.type === 'stop') service.close().then(() => process.exit(0));
});

send({ type: 'ready' });

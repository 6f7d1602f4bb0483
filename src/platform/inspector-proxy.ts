/**
 * `hangar dev --inspect`'s debugger port: a TCP port on the platform's loopback that stays the
 * same while instances come and go (a reload replaces the instance), so a debugger attached
 * to 127.0.0.1:9229 (Chrome's chrome://inspect, VS Code's "attach") finds the service's
 * current instance each time it connects. Each connection is piped to that instance's relay
 * socket (src/instance/inspector-relay.ts); with no instance running it is closed at once.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface InspectorProxy {
  port: number;
  close(): Promise<void>;
}

/**
 * Listens on `host:port` (0: any free port) and forwards each connection to the Unix socket
 * `target()` names at that moment.
 *
 * @example
 * const proxy = await startInspectorProxy({ host: '127.0.0.1', port: 9229, target: () => runtime.inspectorSocket() });
 */
export async function startInspectorProxy(options: {
  host: string;
  port: number;
  target(): string | undefined;
}): Promise<InspectorProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const path = options.target();
    if (!path) {
      client.destroy();
      return;
    }
    const upstream = connect(path);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
}

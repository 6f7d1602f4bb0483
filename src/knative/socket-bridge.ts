/**
 * How a Knative pod's instance reaches the socket service (S12, docs/kubernetes.md "Sockets"):
 * the instance's sockets shim speaks to a Unix socket, as on one machine, and this bridge
 * passes each of its connections on to the socket service's Deployment over TCP, byte for
 * byte (both halves closed separately, as the service's own connections are). The pod never
 * dials an app's destination itself; the service checks every one against its rules.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { RawSocket, rawConnect } from '../sockets/client/link.js';

export interface SocketBridge {
  /** The Unix socket the shim connects to. */
  readonly path: string;
  close(): void;
}

/**
 * Listens on `path` and pipes every connection to `target`. Call it before the sockets shim is
 * installed (it listens with the unpatched `net`); it dials with the shim's own unpatched
 * connect, so a bridged connection is never taken for an app's socket.
 *
 * @example
 * const bridge = await startSocketBridge('/tmp/hangar-1f2e/sockets.sock', { host: 'hangar-sockets', port: 7000 });
 */
export function startSocketBridge(
  path: string,
  target: { host: string; port: number },
): Promise<SocketBridge> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  rmSync(path, { force: true });
  const server: Server = createServer({ allowHalfOpen: true }, (local) => {
    const remote = new RawSocket({ allowHalfOpen: true });
    const fail = () => {
      local.destroy();
      remote.destroy();
    };
    local.on('error', fail);
    remote.on('error', fail);
    local.on('close', () => remote.destroy());
    remote.on('close', () => local.destroy());
    (rawConnect as unknown as (this: Socket, options: { host: string; port: number }) => Socket).call(
      remote,
      target,
    );
    remote.setNoDelay(true);
    local.pipe(remote);
    remote.pipe(local);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve({
        path,
        close: () => {
          server.close();
          rmSync(path, { force: true });
        },
      });
    });
  });
}

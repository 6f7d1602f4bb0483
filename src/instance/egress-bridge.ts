/**
 * The instance's end of the egress proxy (SPEC S4.3): a listener on the instance's own loopback
 * that the app's own server and CGI scripts are pointed at (`ALL_PROXY`, `HTTPS_PROXY`,
 * `HTTP_PROXY`), and that passes each connection, unread, to the socket service with an
 * `egress` hello naming the app (with its token) and the instance. The SOCKS5 or HTTP CONNECT
 * conversation, the S12 policy, the dialling and the metering are the socket service's
 * (src/sockets/service/egress-proxy.ts). Under netns isolation this loopback is the instance's
 * namespace's, so the proxy is the only way out there is.
 *
 * Made with `net` as Node made it (main.ts imports this module before the sockets shim
 * patches `net` for app code, which may not listen).
 */
import net from 'node:net';
import { line, PROTOCOL_VERSION } from '../sockets/wire.js';

const RawSocket = net.Socket;
const rawConnect = net.Socket.prototype.connect as (
  this: net.Socket,
  options: { path: string },
) => net.Socket;
const rawListen = net.Server.prototype.listen as (
  this: net.Server,
  port: number,
  host: string,
  callback: () => void,
) => net.Server;

export interface EgressBridgeOptions {
  /** The socket service's Unix socket and the app's identity for it (the instance's init). */
  sockets: { path: string; app: string; token: string };
  instance: string;
  service: string | undefined;
  version: string | undefined;
}

export interface EgressBridge {
  readonly port: number;
  /** The proxy variables for the app's processes, in both spellings clients read. */
  readonly env: Readonly<Record<string, string>>;
  close(): void;
}

/**
 * @example
 * const bridge = await startEgressBridge({ sockets: init.sockets, instance, service, version });
 * spawn(command, { env: { ...env, ...bridge.env } });
 */
export function startEgressBridge(options: EgressBridgeOptions): Promise<EgressBridge> {
  const hello = line({
    v: PROTOCOL_VERSION,
    op: 'egress',
    app: options.sockets.app,
    token: options.sockets.token,
    instance: options.instance,
    ...(options.service === undefined ? {} : { service: options.service }),
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const server = new net.Server({ allowHalfOpen: true }, (client) => {
    const upstream = new RawSocket({ allowHalfOpen: true });
    rawConnect.call(upstream, { path: options.sockets.path });
    upstream.write(hello);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    rawListen.call(server, 0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || address === null)
        return reject(new Error('the egress bridge has no port'));
      const socks = `socks5h://127.0.0.1:${address.port}`;
      const http = `http://127.0.0.1:${address.port}`;
      resolve({
        port: address.port,
        env: {
          ALL_PROXY: socks,
          all_proxy: socks,
          HTTPS_PROXY: http,
          https_proxy: http,
          HTTP_PROXY: http,
          http_proxy: http,
        },
        close: () => server.close(),
      });
    });
  });
}

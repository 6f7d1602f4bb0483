/**
 * `tls.connect` in an instance (S12): TLS runs in the instance, over a TCP socket the socket
 * service carries. The service only ever sees ciphertext; certificates are checked here, by
 * Node, exactly as without the shim.
 */
import net from 'node:net';
import tls from 'node:tls';

type Options = tls.ConnectionOptions & Record<string, unknown>;

/** Installs the `node:tls` side of the shim (after `patchNet`). */
export function patchTls(): void {
  const originalConnect = tls.connect;
  const connect = function (this: unknown, ...args: unknown[]): tls.TLSSocket {
    const [options, callback] = normalize(args);
    // A socket the app brought is already one of ours (or the app's own business).
    if (options.socket) return (originalConnect as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
    const host = typeof options.host === 'string' && options.host !== '' ? options.host : 'localhost';
    const socket = net.connect({
      host,
      port: options.port as number,
      family: options.family as number,
      path: options.path as string,
      localAddress: options.localAddress as string,
      localPort: options.localPort as number,
      timeout: options.timeout as number,
    } as net.NetConnectOpts);
    const servername = options.servername ?? (net.isIP(host) ? undefined : host);
    const tlsOptions: Options = { ...options, socket, host };
    if (servername !== undefined) tlsOptions.servername = servername;
    return callback ? originalConnect(tlsOptions, callback) : originalConnect(tlsOptions);
  } as typeof tls.connect;
  tls.connect = connect;
}

// Node's own normaliser, as tls.connect uses it (port, host / path / options, then cb).
const normalizeArgs = (net as unknown as { _normalizeArgs(args: unknown[]): [Options, (() => void) | null] })
  ._normalizeArgs;

/** tls.connect(port[, host][, options][, cb]) | tls.connect(path[, options][, cb]) | tls.connect(options[, cb]). */
function normalize(args: unknown[]): [Options, (() => void) | undefined] {
  const [first, callback] = normalizeArgs(args);
  const options: Options = { ...first };
  // As tls.connect does: an options object in second or third place adds to the positional ones.
  if (args[1] !== null && typeof args[1] === 'object') Object.assign(options, args[1]);
  else if (args[2] !== null && typeof args[2] === 'object') Object.assign(options, args[2]);
  return [options, callback ?? undefined];
}

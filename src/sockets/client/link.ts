import { type IpcSocketConnectOpts, Socket, type TcpSocketConnectOpts } from 'node:net';
import { currentRequest } from '../../instance/request-context.js';
import { type ErrnoError, errnoError } from '../errno.js';
import { readFirstLine } from '../lines.js';
import type { Hello } from '../protocol.js';
import { line, PROTOCOL_VERSION } from '../wire.js';
import { loadSchemas, schemas } from './schemas.js';

/** How an instance reaches the socket service and speaks for its app. */
export interface LinkConfig {
  path: string;
  app: string;
  token: string;
  instance: string;
  service?: string | undefined;
  version?: string | undefined;
}

type Identity = Pick<
  Extract<Hello, { op: 'connect' }>,
  'v' | 'app' | 'token' | 'instance' | 'request' | 'service' | 'version'
>;

/** The unpatched `Socket.prototype.connect`, captured before the shim replaces it. */
export const rawConnect = Socket.prototype.connect as (this: Socket, options: IpcSocketConnectOpts) => Socket;
/** The unpatched `Socket` class (the shim wraps `net.Socket` to refuse `{fd}`). */
export const RawSocket = Socket;

/**
 * For platform code that runs inside an instance (not app code): a connection that bypasses
 * the sockets shim, e.g. to another platform service's Unix socket or to an entrypoint
 * process on loopback. App sockets never use this.
 *
 * @example const conn = platformConnect({ path: '/path/to/urlfetch.sock' });
 */
export function platformConnect(options: IpcSocketConnectOpts | TcpSocketConnectOpts): Socket {
  const connect = rawConnect as (
    this: Socket,
    options: IpcSocketConnectOpts | TcpSocketConnectOpts,
  ) => Socket;
  return connect.call(new RawSocket(), options);
}

/**
 * The shim's connection to the socket service. It dials with the functions the shim captured
 * before patching `net`, so its own Unix connections are never mistaken for app sockets.
 */
export class ServiceLink {
  readonly config: LinkConfig;

  constructor(config: LinkConfig) {
    this.config = config;
  }

  /** The hello fields that say who is asking: app (with its token), instance, current request. */
  identity(): Identity {
    const { app, token, instance, service, version } = this.config;
    return {
      v: PROTOCOL_VERSION,
      app,
      token,
      instance,
      request: currentRequest()?.requestId,
      service,
      version,
    };
  }

  /** A new, unconnected-to-anything-else Unix connection to the service. */
  dial(socket: Socket = new RawSocket()): Socket {
    rawConnect.call(socket, { path: this.config.path });
    return socket;
  }

  /** Sends `hello` on a new connection and reads the one reply line; the connection stays open. */
  async open(hello: Hello): Promise<{ conn: Socket; reply: unknown }> {
    const conn = this.dial();
    conn.on('error', () => {});
    conn.write(line(hello));
    try {
      // The reply is checked with the protocol's schemas: they load while the service answers.
      const [text] = await Promise.all([readFirstLine(conn), loadSchemas()]);
      return { conn, reply: JSON.parse(text) as unknown };
    } catch (err) {
      conn.destroy();
      throw unreachable(this.config.path, err);
    }
  }

  /**
   * One question, one answer: the `value` of an ok reply, or the reply's error thrown. Inside
   * a request it rejects with the request's DeadlineExceededError when the deadline passes
   * first (S6: platform calls in flight reject at the deadline).
   */
  async call(hello: Hello): Promise<unknown> {
    const { conn, reply } = await untilDeadline(this.open(hello));
    conn.destroy();
    const answer = reply as { ok?: boolean; value?: unknown; error?: unknown };
    if (answer.ok === true) return answer.value;
    throw replyError(answer.error);
  }
}

/**
 * Calls `onAbort` with the reason when the current request's signal aborts (its deadline, or
 * the client going away); returns the function that stops listening. Outside a request: no-op.
 */
export function onRequestAbort(onAbort: (reason: unknown) => void): () => void {
  const signal = currentRequest()?.signal;
  if (!signal) return () => {};
  if (signal.aborted) {
    queueMicrotask(() => onAbort(signal.reason));
    return () => {};
  }
  const listener = () => onAbort(signal.reason);
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

function untilDeadline<T>(work: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = onRequestAbort(reject);
    work.then(
      (value) => {
        stop();
        resolve(value);
      },
      (err: unknown) => {
        stop();
        reject(err);
      },
    );
  });
}

/** The error of a failed reply, shaped like Node's own. */
export function replyError(error: unknown): ErrnoError {
  const parsed = schemas().WireErrorSchema.safeParse(error);
  return parsed.success
    ? errnoError(parsed.data)
    : errnoError({
        code: 'EPROTO',
        message: 'the socket service sent a reply this instance does not understand',
      });
}

function unreachable(path: string, cause: unknown): ErrnoError {
  return errnoError({
    code: 'ENETUNREACH',
    syscall: 'connect',
    message:
      `connect ENETUNREACH: the platform's socket service at ${path} did not answer ` +
      `(${(cause as Error)?.message ?? cause}); is the platform still running?`,
  });
}

let installed: ServiceLink | undefined;

/** Remembers the link of this instance (set once by the shim's installer). */
export function setLink(link: ServiceLink): void {
  installed = link;
}

/** The link of this instance; `hangar/sockets` outside an instance throws a clear error. */
export function getLink(): ServiceLink {
  if (!installed) {
    throw errnoError({
      code: 'ENOTSUP',
      message:
        'hangar/sockets works inside a Hangar instance (hangar dev / hangar serve), where the socket service is; it was imported somewhere else',
    });
  }
  return installed;
}

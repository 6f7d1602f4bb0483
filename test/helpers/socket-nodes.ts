/**
 * Socket services started in this process for the socket tests (src/sockets/service/*.test.ts),
 * driven by the real client code (without patching this process's `net`) against a far end the
 * test starts on 127.0.0.1, with a strict policy that allows exactly that far end. With
 * `database`, a service is one node of a platform on PostgreSQL (S16).
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { attach } from '../../src/sockets/api.js';
import { ServiceLink, setLink } from '../../src/sockets/client/link.js';
import { proxiedConnect } from '../../src/sockets/client/tcp.js';
import { appToken } from '../../src/sockets/protocol.js';
import { SocketService } from '../../src/sockets/service/server.js';

export const instanceId = (): string => randomBytes(16).toString('hex');

/** One socket service and what its instances need to reach it. */
export interface SocketNode {
  /** The node's name (with `database`), or a label for the Unix socket's file name. */
  name: string;
  service: SocketService;
  path: string;
  key: string;
  /** The service's notices (onNotice), in order. */
  notices: string[];
}

export interface StartSocketNodeOptions {
  /** Where the Unix socket goes (a temp dir of the test's). */
  dir: string;
  name: string;
  /** `host:port` rules the strict policy allows (the far ends). */
  allow: string[];
  /** sockets.idle_timeout; default 10 minutes (nothing is reclaimed during a test). */
  idleTimeoutMs?: number;
  /** One node of a platform on this database (peer port on 127.0.0.1, any free port). */
  database?: { url: string; node: string; syncIntervalMs?: number };
}

export async function startSocketNode(options: StartSocketNodeOptions): Promise<SocketNode> {
  const key = randomBytes(32).toString('hex');
  const notices: string[] = [];
  const path = join(options.dir, `${options.name}-${randomBytes(3).toString('hex')}.sock`);
  const database = options.database;
  const service = new SocketService({
    path,
    key,
    mode: 'serve',
    idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
    maxOpenPerApp: 100,
    allow: options.allow,
    blocked: [],
    strict: true,
    ...(database
      ? {
          database: {
            url: database.url,
            node: database.node,
            peerHost: '127.0.0.1',
            peerPort: 0,
            // Long: tests wait for the registry with flush(), never for the interval.
            syncIntervalMs: database.syncIntervalMs ?? 60_000,
          },
        }
      : {}),
    onNotice: (message) => notices.push(message),
  });
  await service.listen();
  return { name: options.name, service, path, key, notices };
}

/** Who an instance is: its app, and optionally its instance id, service and version. */
export interface InstanceOf {
  app: string;
  /** Default: a new instance id each time. */
  instance?: string;
  /** Default `default`. */
  service?: string;
  /** Default `v1`. */
  version?: string;
}

const identity = (who: string | InstanceOf): InstanceOf => (typeof who === 'string' ? { app: who } : who);

/** The link an instance of `who` on `node` has (a new instance unless `who` names one). */
export function linkFor(node: SocketNode, who: string | InstanceOf): ServiceLink {
  const { app, instance, service, version } = identity(who);
  return new ServiceLink({
    path: node.path,
    app,
    token: appToken(node.key, app),
    instance: instance ?? instanceId(),
    service: service ?? 'default',
    version: version ?? 'v1',
  });
}

/** The far end: keeps every connection it accepts, in order, for the test to talk to. */
export interface Far {
  server: Server;
  port: number;
  /** `127.0.0.1:<port>`, as the policy's allow list and the socket list name it. */
  address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resolves with the next connection the server accepts. */
  next(): Promise<Socket>;
  close(): void;
}

export async function farEnd(): Promise<Far> {
  const queued: Socket[] = [];
  const waiting: Array<(socket: Socket) => void> = [];
  const all = new Set<Socket>();
  let accepted = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    all.add(socket);
    socket.once('close', () => all.delete(socket));
    socket.on('error', () => {});
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else queued.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    next: () => {
      const ready = queued.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => {
      for (const socket of all) socket.destroy();
      server.close();
    },
  };
}

/** A socket of `who` through `node` to the far end; resolves once connected, with the far side. */
export async function openThrough(
  node: SocketNode,
  who: string | InstanceOf,
  far: Far,
): Promise<{ socket: Socket; remote: Socket }> {
  const socket = new Socket();
  const remote = far.next();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
    proxiedConnect(socket, { op: 'connect', host: '127.0.0.1', port: far.port }, linkFor(node, who));
  });
  return { socket, remote: await remote };
}

/** `attach(d)` in an instance of `who` on `node`. */
export function attachThrough(node: SocketNode, who: string | InstanceOf, d: string): Promise<Socket> {
  setLink(linkFor(node, who));
  return attach(d);
}

/** Reads `socket` until it has `bytes` bytes. */
export function readBytes(socket: Socket, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= bytes) {
        socket.off('data', onData);
        resolve(got.toString());
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume();
  });
}

/** Everything `socket` sends until it ends. */
export function readToEnd(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
    socket.resume();
  });
}

/** Checks `condition` every 10 ms until it holds; fails after `ms`. */
export async function until(what: string, condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

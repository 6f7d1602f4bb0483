/**
 * Messages between the platform (`supervisor.ts`) and the socket-service process over its IPC
 * channel, each with a zod schema; a message that does not parse is ignored.
 */
import { z } from 'zod';

/** A node's name as `serve --node` takes it: lower-case letters, digits and `-`, 1 to 63 characters. */
export const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** What the service is started with, in its environment as `HANGAR_SOCKETS_INIT` (JSON). */
export const ServiceInit = z.object({
  /** The Unix socket instances' shims connect to. */
  path: z.string(),
  /** Key for the per-app tokens (`appToken`); never leaves the platform and this process. */
  key: z.string().min(32),
  mode: z.enum(['dev', 'serve']),
  idleTimeoutMs: z.number().int().positive(),
  maxOpenPerApp: z.number().int().positive(),
  allow: z.array(z.string()),
  blocked: z.array(z.string()),
  strict: z.boolean(),
  /** URL Fetch's limits (S13, `urlfetch:` of the platform config). */
  urlfetch: z
    .object({
      maxRequestBytes: z.number().int().positive(),
      maxResponseBytes: z.number().int().positive(),
      maxDeadlineMs: z.number().int().positive(),
    })
    .optional(),
  /**
   * One node of a platform on a PostgreSQL database (S16, docs/sockets.md "Several nodes"):
   * descriptors name `node`, open sockets are kept in the database's socket registry, and the
   * service listens on a peer port where other nodes forward `attach` of this node's sockets.
   */
  database: z
    .object({
      url: z.string(),
      node: z.string().regex(NODE_NAME),
      /** Address of the peer listener (default 127.0.0.1, port 0: any free port). */
      peerHost: z.string().min(1),
      peerPort: z.number().int().min(0).max(65_535),
      /** How often bytes and activity of open sockets are written to the database. */
      syncIntervalMs: z.number().int().positive(),
    })
    .optional(),
});
export type ServiceInit = z.infer<typeof ServiceInit>;

/** One open socket as `hangar sockets list` and `GET /api/sockets` show it. */
export const SocketView = z.object({
  id: z.string(),
  /**
   * The node whose socket service owns the socket, on a platform of several nodes (S16); absent
   * on a single node without a database. Sockets of other nodes show their bytes and activity
   * as of that node's last write to the registry (every 2 s).
   */
  node: z.string().optional(),
  app: z.string(),
  service: z.string().nullable(),
  version: z.string().nullable(),
  protocol: z.enum(['tcp', 'udp']),
  /** `host:port` as the app asked for it (UDP: the connected peer, or null). */
  destination: z.string().nullable(),
  /** The vetted address it is connected to. */
  remote: z.string().nullable(),
  /** Instance currently holding it; null while detached (waiting for `attach`). */
  instance: z.string().nullable(),
  /** The request that opened it. */
  request: z.string().nullable(),
  state: z.enum(['open', 'detached']),
  bytesSent: z.number(),
  bytesReceived: z.number(),
  openedAt: z.string(),
  ageMs: z.number(),
  idleMs: z.number(),
  /** Time left before the socket is reclaimed for being idle (the countdown of S12). */
  reclaimInMs: z.number(),
});
export type SocketView = z.infer<typeof SocketView>;

/** Socket bytes of one app version since the platform started; both directions count (S10). */
export const SocketBytes = z.object({
  app: z.string(),
  service: z.string().nullable(),
  version: z.string().nullable(),
  sent: z.number(),
  received: z.number(),
  /** URL Fetch calls made for this version (S10), and their bytes (request and response bodies). */
  urlfetchCalls: z.number().default(0),
  urlfetchBytes: z.number().default(0),
});
export type SocketBytes = z.infer<typeof SocketBytes>;

export const ToService = z.discriminatedUnion('type', [
  z.object({ type: z.literal('list'), id: z.number() }),
  z.object({ type: z.literal('bytes'), id: z.number() }),
  z.object({ type: z.literal('stop') }),
]);
export type ToService = z.infer<typeof ToService>;

export const FromService = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('failed'), message: z.string() }),
  z.object({ type: z.literal('list'), id: z.number(), sockets: z.array(SocketView) }),
  /** A `list` that could not be answered (the platform database failed), with the reason. */
  z.object({ type: z.literal('list-failed'), id: z.number(), message: z.string() }),
  z.object({ type: z.literal('bytes'), id: z.number(), bytes: z.array(SocketBytes) }),
  z.object({ type: z.literal('warning'), app: z.string(), message: z.string() }),
]);
export type FromService = z.infer<typeof FromService>;

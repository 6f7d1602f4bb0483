/**
 * The wire protocol between the in-instance shim and the socket service (both sides import
 * it). Every connection to the service's Unix socket starts with one JSON line, the hello:
 *
 * - `connect` / `attach`: a control connection for one TCP socket. The service answers one
 *   reply line; afterwards the client sends `end`/`close`/`describe`/`touch` lines and the
 *   service sends `event` lines (reclaimed, moved, error).
 * - `data`: the byte stream of a TCP socket, named by the one-time token of its control reply;
 *   after the hello line, raw bytes both ways.
 * - `lookup` / `resolve`: one DNS question, one reply line.
 * - `udp`: one UDP socket; after the reply line, length-prefixed frames both ways (`frames.ts`).
 * - `urlfetch`: one URL Fetch call; the request body after the hello, the response body after
 *   the reply line.
 *
 * Every line is validated with zod; a control line that does not parse is ignored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

import { PROTOCOL_VERSION, RRTYPES } from './wire.js';

export { line, PROTOCOL_VERSION, RRTYPES } from './wire.js';

const Identity = {
  v: z.literal(PROTOCOL_VERSION),
  app: z.string().min(1).max(200),
  /** HMAC of the app id with the service's key: an instance can only speak for its own app. */
  token: z.string().max(128),
  instance: z.string().max(64),
  request: z.string().max(64).optional(),
  service: z.string().max(100).optional(),
  version: z.string().max(200).optional(),
};

const Family = z.union([z.literal(0), z.literal(4), z.literal(6)]);
const Port = z.union([z.number(), z.string().max(64)]);

export const Hello = z.discriminatedUnion('op', [
  z.object({
    ...Identity,
    op: z.literal('connect'),
    host: z.string().max(1024),
    port: Port,
    family: Family.optional(),
  }),
  z.object({ ...Identity, op: z.literal('attach'), descriptor: z.string().max(200) }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    op: z.literal('data'),
    data: z.string().regex(/^[0-9a-f]{32}$/),
  }),
  z.object({
    ...Identity,
    op: z.literal('lookup'),
    host: z.string().max(1024),
    family: Family,
    all: z.boolean(),
  }),
  z.object({
    ...Identity,
    op: z.literal('resolve'),
    host: z.string().max(1024),
    rrtype: z.enum(RRTYPES),
    ttl: z.boolean().optional(),
  }),
  z.object({ ...Identity, op: z.literal('udp'), type: z.enum(['udp4', 'udp6']) }),
  /**
   * The rest of the connection is a client of the instance's egress proxy (SOCKS5 or HTTP
   * CONNECT, S4.3): an app's own server or CGI script reaching out through the instance's
   * loopback bridge (src/instance/egress-bridge.ts).
   */
  z.object({ ...Identity, op: z.literal('egress') }),
  /**
   * One URL Fetch call (S13, src/urlfetch/service/call.ts): after the hello, exactly `bodyBytes` of
   * request body; the service answers one reply line (the response's status, headers and
   * `bodyBytes`) followed by that many bytes of body, then ends the connection.
   */
  z.object({
    ...Identity,
    op: z.literal('urlfetch'),
    method: z.string().regex(/^[A-Za-z]{1,20}$/),
    url: z.string().max(8192),
    headers: z.array(z.tuple([z.string().max(256), z.string().max(16_384)])).max(500),
    bodyBytes: z.number().int().min(0),
    deadlineMs: z.number().positive(),
    followRedirects: z.boolean(),
    validateCertificate: z.boolean(),
    allowTruncated: z.boolean(),
  }),
]);
export type Hello = z.infer<typeof Hello>;
export type HelloOf<Op extends Hello['op']> = Extract<Hello, { op: Op }>;

export const WireErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  syscall: z.string().optional(),
  address: z.string().optional(),
  port: z.number().optional(),
  hostname: z.string().optional(),
});

const Endpoint = z.object({ address: z.string(), port: z.number(), family: z.string() });
export type Endpoint = z.infer<typeof Endpoint>;

/** The reply to `connect` / `attach`. */
export const SocketReply = z.union([
  z.object({
    ok: z.literal(true),
    id: z.string(),
    descriptor: z.string(),
    /** One-time token the data connection presents. */
    data: z.string(),
    remote: Endpoint,
    local: Endpoint,
    warning: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), error: WireErrorSchema }),
]);
export type SocketReply = z.infer<typeof SocketReply>;

/** The reply to `lookup`, `resolve` and `udp`. */
export const ValueReply = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: WireErrorSchema }),
]);
export type ValueReply = z.infer<typeof ValueReply>;

/** Client → service on a control connection, after the hello. */
export const ControlLine = z.object({ op: z.enum(['end', 'close', 'describe', 'touch']) });
export type ControlLine = z.infer<typeof ControlLine>;

/** Service → client on a control connection, after the reply. */
export const ControlEvent = z.object({
  event: z.enum(['reclaimed', 'moved', 'error']),
  error: WireErrorSchema,
});
export type ControlEvent = z.infer<typeof ControlEvent>;

/** The token an instance of `app` presents; derived so the service keeps no per-app state. */
export function appToken(key: string, app: string): string {
  return createHmac('sha256', key).update(app).digest('hex');
}

/** Constant-time check of an app token. */
export function validAppToken(key: string, app: string, token: string): boolean {
  const want = Buffer.from(appToken(key, app));
  const given = Buffer.from(token);
  return want.length === given.length && timingSafeEqual(want, given);
}

/**
 * SPEC S5 step 5, the last of header hygiene: the buffered client request as an instance gets
 * it. Connection-scoped headers (hop-by-hop and those `Connection` names) and the client's own
 * `X-Hangar-*` headers are dropped, so that only the platform can set the internal ones; the
 * body's length is set from what was buffered (never the client's framing).
 */
import type { IncomingMessage } from 'node:http';
import type { InstanceRequest } from '../scheduler/instance.js';
import { connectionScoped } from '../shared/hop-by-hop.js';
import { bodyLength, isSpooled, type RequestBody } from './request-body.js';

export interface InstanceRequestMeta {
  requestId: string;
  /** Index of the handler among the version's script handlers. */
  handler: number;
  remoteAddr: string;
  https: boolean;
}

/**
 * @example
 * const request = toInstanceRequest(req, body, { requestId, handler: 0, remoteAddr: '127.0.0.1', https: false });
 * const response = await lease.send(request);
 */
export function toInstanceRequest(
  req: IncomingMessage,
  body: RequestBody,
  meta: InstanceRequestMeta,
): InstanceRequest {
  const skip = connectionScoped(req.headers.connection);
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (skip.has(name) || name.startsWith('x-hangar-') || name === 'content-length') continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  const method = req.method ?? 'GET';
  const length = bodyLength(body);
  if (length > 0 || (method !== 'GET' && method !== 'HEAD')) headers.push('content-length', String(length));
  const spooled = isSpooled(body);
  return {
    kind: 'user',
    method,
    url: req.url ?? '/',
    httpVersion: req.httpVersion,
    headers,
    body: spooled ? [] : body,
    ...(spooled ? { bodyFile: body } : {}),
    handler: meta.handler,
    requestId: meta.requestId,
    remoteAddr: meta.remoteAddr,
    https: meta.https,
  };
}

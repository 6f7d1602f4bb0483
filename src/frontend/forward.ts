import type { IncomingMessage } from 'node:http';
import type { InstanceChannel } from '../scheduler/instance-channel.js';
import type { Lease } from '../scheduler/version-pool.js';
import { HangarError } from '../shared/errors.js';
import type { Expiry } from '../shared/expiry.js';
import { InternalHeader } from '../shared/internal-headers.js';
import type { PackedLines, RequestFrame } from '../shared/request-channel.js';
import { connectionScoped } from './hop-by-hop.js';
import { type BodyChunks, bodyLength, joinBody } from './request-body.js';

export interface ForwardMeta {
  requestId: string;
  handlerIndex: number;
  remoteAddr: string;
  https: boolean;
  /** Epoch ms of the request's deadline; the instance aborts `ctx.signal` then. */
  deadlineAt?: number;
  /** Fires when the front end gives up on the forwarded request (deadline plus grace passed). */
  expiry?: Expiry;
  /**
   * Reading stops past this many body bytes (S5 step 6): an endless or huge answer is never
   * held in memory whole. Throws HangarError RESPONSE_TOO_LARGE (an empty 500 for the client).
   */
  maxResponseBytes?: number;
  /**
   * The response came over the request channel with the app lines the request wrote (S9), also
   * when it is refused afterwards; `overIpc`: some of its lines took the IPC path instead.
   */
  onLines?(lines: PackedLines | undefined, overIpc: boolean): void;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * SPEC S5 step 5: sends the buffered request to the leased instance and collects the whole
 * response (no streaming, step 6). Fetch handlers go over the instance's request channel;
 * Node (req, res) handlers over HTTP on its keep-alive pool. The client's own `X-Hangar-*`
 * headers are dropped so that only the front end can set the internal ones.
 */
export async function forward(
  lease: Lease,
  req: IncomingMessage,
  body: BodyChunks,
  meta: ForwardMeta,
): Promise<UpstreamResponse> {
  const skip = connectionScoped(req.headers.connection);
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (skip.has(name) || name.startsWith('x-hangar-') || name === 'content-length') continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  const length = bodyLength(body);
  const hasBody = length > 0 || (req.method !== 'GET' && req.method !== 'HEAD');
  if (hasBody) headers.push('content-length', String(length));
  const { instance } = lease;
  return instance.channel && !instance.servesOverHttp(meta.handlerIndex)
    ? overChannel(instance.channel, req, headers, body, meta)
    : overHttp(lease, req, headers, hasBody ? joinBody(body) : null, meta);
}

async function overChannel(
  channel: InstanceChannel,
  req: IncomingMessage,
  headers: string[],
  body: BodyChunks,
  meta: ForwardMeta,
): Promise<UpstreamResponse> {
  const frame: Omit<RequestFrame, 'id'> = {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    httpVersion: req.httpVersion,
    headers,
    handler: meta.handlerIndex,
    requestId: meta.requestId,
    remoteAddr: meta.remoteAddr,
    https: meta.https,
  };
  if (meta.deadlineAt !== undefined) frame.deadline = meta.deadlineAt;
  const response = await channel.request(frame, body, meta.expiry);
  meta.onLines?.(response.lines, response.linesOverIpc);
  const limit = meta.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  if (response.tooLarge !== undefined) {
    throw tooLarge(response.tooLarge >= 0 ? String(response.tooLarge) : `more than ${limit}`, limit);
  }
  const object: Record<string, string | string[]> = {};
  const list = response.headers;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    const previous = object[name];
    object[name] =
      previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  if (req.method !== 'HEAD' && response.body.length > limit)
    throw tooLarge(String(response.body.length), limit);
  return { status: response.status, headers: object, body: response.body };
}

async function overHttp(
  lease: Lease,
  req: IncomingMessage,
  headers: string[],
  body: Buffer | null,
  meta: ForwardMeta,
): Promise<UpstreamResponse> {
  headers.push(
    InternalHeader.requestId,
    meta.requestId,
    InternalHeader.handler,
    String(meta.handlerIndex),
    InternalHeader.remoteAddr,
    meta.remoteAddr,
    InternalHeader.https,
    meta.https ? 'on' : 'off',
  );
  if (meta.deadlineAt !== undefined) headers.push(InternalHeader.deadline, String(meta.deadlineAt));
  const response = await lease.instance.dispatcher.request({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as 'GET',
    headers,
    body,
    signal: meta.expiry?.signal(),
  });
  const limit = meta.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  const declared = Number(response.headers['content-length']);
  if (req.method !== 'HEAD' && declared > limit) {
    response.body.destroy();
    throw tooLarge(String(declared), limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.body.destroy();
      throw tooLarge(`more than ${limit}`, limit);
    }
    chunks.push(chunk);
  }
  const payload = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  return { status: response.statusCode, headers: response.headers, body: payload };
}

function tooLarge(size: string, limit: number): HangarError {
  return new HangarError(
    'RESPONSE_TOO_LARGE',
    `the response body has ${size} bytes, more than limits.max_response_bytes (${limit}); the client got an empty 500`,
  );
}

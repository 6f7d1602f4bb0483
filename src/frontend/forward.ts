import type { IncomingMessage } from 'node:http';
import type { Lease } from '../scheduler/version-pool.js';
import { HangarError } from '../shared/errors.js';
import { InternalHeader } from '../shared/messages.js';
import { connectionScoped } from './hop-by-hop.js';

export interface ForwardMeta {
  requestId: string;
  handlerIndex: number;
  remoteAddr: string;
  https: boolean;
  /** Epoch ms of the request's deadline; the instance aborts `ctx.signal` then. */
  deadlineAt?: number;
  /** Aborts the forwarded request (deadline plus grace passed). */
  signal?: AbortSignal;
  /**
   * Reading stops past this many body bytes (S5 step 6): an endless or huge answer is never
   * held in memory whole. Throws HangarError RESPONSE_TOO_LARGE (an empty 500 for the client).
   */
  maxResponseBytes?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * SPEC S5 step 5: sends the buffered request to the leased instance over its keep-alive pool
 * and collects the whole response (no streaming, step 6). The client's own `X-Hangar-*`
 * headers are dropped so that only the front end can set the internal ones.
 */
export async function forward(
  lease: Lease,
  req: IncomingMessage,
  body: Buffer,
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
  const hasBody = body.length > 0 || (req.method !== 'GET' && req.method !== 'HEAD');
  if (hasBody) headers.push('content-length', String(body.length));
  const response = await lease.instance.dispatcher.request({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as 'GET',
    headers,
    body: hasBody ? body : null,
    signal: meta.signal,
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

/** Reads the whole request body (S5 step 5: the front end buffers it before picking an instance). */
export function readRequestBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * How a request reaches a module instance (docs/decisions.md, "The request channel"): fetch
 * handlers over the instance's request channel (one framed, multiplexed connection), Node
 * `(req, res)` handlers over HTTP on a keep-alive undici pool, because they need a real
 * IncomingMessage. Which one a handler takes is the instance's business; the front end only
 * sees `lease.send()`. Both read at most `maxResponseBytes` of a body (S5 step 6): an endless
 * or huge answer is never held in memory whole.
 */
import type { Pool } from 'undici';
import { HangarError, isHangarError } from '../shared/errors.js';
import { readFilePrefix } from '../shared/file-prefix.js';
import { InternalHeader } from '../shared/internal-headers.js';
import type { PackedLines, RequestFrame } from '../shared/request-channel.js';
import {
  type InstanceRequest,
  type InstanceResponse,
  isConnectionLoss,
  type LinesOfRefusedResponse,
} from './instance.js';
import type { InstanceChannel } from './instance-channel.js';

/**
 * Sends `request` over the instance's request channel; the lines the request wrote come back
 * with the response, and with the error when the response is refused (`withLines`).
 */
export async function sendOverChannel(
  channel: InstanceChannel,
  request: InstanceRequest,
  maxResponseBytes: number,
): Promise<InstanceResponse> {
  const frame: Omit<RequestFrame, 'id'> = {
    method: request.method,
    url: request.url,
    httpVersion: request.httpVersion,
    headers: request.headers,
    handler: request.handler,
    requestId: request.requestId,
    remoteAddr: request.remoteAddr,
    https: request.https,
  };
  if (request.deadlineAt !== undefined) frame.deadline = request.deadlineAt;
  if (request.bodyFile !== undefined) {
    // The instance reads the spooled body itself: it crosses no socket (body-spool.ts).
    frame.bodyFile = request.bodyFile.file;
    frame.bodyLength = request.bodyFile.length;
  }
  const response = await channel.request(frame, request.body, request.expiry);
  const lines = response.lines;
  const linesComplete = !response.linesOverIpc;
  if (response.tooLarge !== undefined) {
    const size = response.tooLarge >= 0 ? String(response.tooLarge) : `more than ${maxResponseBytes}`;
    throw withLines(tooLarge(size, maxResponseBytes), lines, linesComplete);
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
  if (request.method !== 'HEAD' && response.body.length > maxResponseBytes)
    throw withLines(tooLarge(String(response.body.length), maxResponseBytes), lines, linesComplete);
  const answer: InstanceResponse = {
    status: response.status,
    headers: object,
    body: response.body,
    lines,
    linesComplete,
  };
  if (response.localRedirect !== undefined) answer.localRedirect = response.localRedirect;
  return answer;
}

/**
 * Sends `request` over HTTP on the instance's keep-alive pool; internal facts travel as
 * `X-Hangar-*` headers (the front end dropped the client's own). Lines of Node handlers reach
 * the request log over IPC, so `lines` is undefined and never complete.
 */
export async function sendOverHttp(
  pool: Pool,
  request: InstanceRequest,
  maxResponseBytes: number,
): Promise<InstanceResponse> {
  const headers = [
    ...request.headers,
    InternalHeader.requestId,
    request.requestId,
    InternalHeader.handler,
    String(request.handler),
    InternalHeader.remoteAddr,
    request.remoteAddr,
    InternalHeader.https,
    request.https ? 'on' : 'off',
  ];
  if (request.deadlineAt !== undefined) headers.push(InternalHeader.deadline, String(request.deadlineAt));
  // A Node handler's IncomingMessage needs the bytes: a spooled body is read back here.
  const body =
    request.bodyFile !== undefined
      ? [readFilePrefix(request.bodyFile.file, request.bodyFile.length)]
      : request.body;
  const hasBody = body.length > 0 || (request.method !== 'GET' && request.method !== 'HEAD');
  let response: Awaited<ReturnType<Pool['request']>>;
  try {
    response = await pool.request({
      path: request.url,
      method: request.method as 'GET',
      headers,
      body: hasBody ? (body.length === 1 ? body[0]! : Buffer.concat(body)) : null,
      signal: request.expiry?.signal(),
    });
  } catch (err) {
    throw invalidUnlessConnection(err, request);
  }
  const declared = Number(response.headers['content-length']);
  if (request.method !== 'HEAD' && declared > maxResponseBytes) {
    response.body.destroy();
    throw tooLarge(String(declared), maxResponseBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxResponseBytes) {
        response.body.destroy();
        throw tooLarge(`more than ${maxResponseBytes}`, maxResponseBytes);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw invalidUnlessConnection(err, request);
  }
  const payload = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  return {
    status: response.statusCode,
    headers: response.headers,
    body: payload,
    lines: undefined,
    linesComplete: false,
  };
}

function withLines(error: HangarError, lines: PackedLines | undefined, linesComplete: boolean): HangarError {
  return Object.assign(error, { lines, linesComplete } satisfies LinesOfRefusedResponse);
}

function tooLarge(size: string, limit: number): HangarError {
  return new HangarError(
    'RESPONSE_TOO_LARGE',
    `the response body has ${size} bytes, more than limits.max_response_bytes (${limit}); the client got an empty 500`,
  );
}

/**
 * undici refuses answers that are not valid HTTP (bad framing, an impossible status line):
 * UPSTREAM_INVALID (502). Connection failures, the request's own expiry and Hangar's errors
 * pass as they are.
 */
function invalidUnlessConnection(err: unknown, request: InstanceRequest): unknown {
  if (request.expiry?.expired || isConnectionLoss(err) || isHangarError(err)) return err;
  return new HangarError(
    'UPSTREAM_INVALID',
    `the instance's response was not valid HTTP: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

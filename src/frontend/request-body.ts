/**
 * SPEC S5 step 5 "buffer the body", with step 2's streamed-body limit: the whole body is read
 * before an instance is picked, and a body that crosses `max_request_bytes` while it streams
 * in (chunked, or a client sending more than it announced) ends in 413.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HangarError } from '../shared/errors.js';

/**
 * A buffered request body: the chunks as they arrived, not joined. The request channel writes
 * them as they are, so a big body is not copied once more on the front end (on Node 20 a
 * megabyte body copied per request set off a full garbage collection every few requests).
 */
export type BodyChunks = readonly Buffer[];

/** The body's length in bytes. */
export function bodyLength(body: BodyChunks): number {
  let length = 0;
  for (const chunk of body) length += chunk.length;
  return length;
}

/** The body as one Buffer (for the HTTP path to Node handlers). */
export function joinBody(body: BodyChunks): Buffer {
  return body.length === 1 ? body[0]! : Buffer.concat(body);
}

const empty: BodyChunks = [];

// Requests that arrived through the server's 'checkContinue' event: Node sent no
// `100 Continue` for them, so the body reader sends it when (and only when) it needs the body.
// A 413 decided from Content-Length therefore goes out without a 100 before it.
const awaitingContinue = new WeakSet<IncomingMessage>();

/** Marks a request whose `Expect: 100-continue` the front end answers itself (listener.ts). */
export function deferContinue(req: IncomingMessage): void {
  awaitingContinue.add(req);
}

/** A body read in progress; `abort` ends it early (e.g. the parser found the chunked body malformed). */
export interface BodyRead {
  body: Promise<BodyChunks>;
  abort(error: HangarError): void;
}

/**
 * Reads the request body (its chunks, see BodyChunks), at most `maxBytes` long. Rejects with
 * REQUEST_TOO_LARGE (413) when the body crosses the limit (the rest is read and discarded, so
 * the client sees the 413 instead of a reset), and with CLIENT_CLOSED when the client goes
 * away first. Requests without a body resolve at once.
 *
 * @example
 * const body = await readBody(req, res, limits.maxRequestBytes).body;
 */
export function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): BodyRead {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) {
    return { body: Promise.resolve(empty), abort: () => {} };
  }
  if (awaitingContinue.delete(req)) res.writeContinue();

  let abort: (error: HangarError) => void = () => {};
  const body = new Promise<BodyChunks>((resolve, reject) => {
    const declared = chunked ? -1 : Number(length);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (error?: HangarError, value?: BodyChunks) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error) {
        // Keep reading and discarding: closing with unread data makes the kernel send a reset,
        // which can destroy the 413 before the client has read it.
        req.resume();
        reject(error);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes || (declared >= 0 && received > declared)) {
        settle(
          new HangarError(
            'REQUEST_TOO_LARGE',
            `the request body crossed limits.max_request_bytes (${maxBytes} bytes) while it streamed in`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined, chunks);
    const onClose = () =>
      settle(
        new HangarError(
          'CLIENT_CLOSED',
          `the client closed the connection after ${received} body bytes, before the body was complete`,
        ),
      );
    abort = (error) => settle(error);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
  return { body, abort: (error) => abort(error) };
}

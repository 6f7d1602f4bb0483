/**
 * SPEC S5 step 5 "buffer the body", with step 2's streamed-body limit: the whole body is read
 * before an instance is picked, and a body that crosses `max_request_bytes` while it streams
 * in (chunked, or a client sending more than it announced) ends in 413. A client that pauses
 * longer than `limits.body_idle_timeout` while sending it (S15, a slow-body attack) gets 408.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HangarError } from '../shared/errors.js';
import type { BodySpool, SpooledBody, SpoolFile } from './body-spool.js';

/**
 * A buffered request body: the chunks as they arrived, not joined. The request channel writes
 * them as they are, so a big body is not copied once more on the front end (on Node 20 a
 * megabyte body copied per request set off a full garbage collection every few requests).
 */
export type BodyChunks = readonly Buffer[];

/** A buffered body: in memory, or past the spool's threshold in a file (body-spool.ts). */
export type RequestBody = BodyChunks | SpooledBody;

/** The body is in a file. */
export function isSpooled(body: RequestBody): body is SpooledBody {
  return !Array.isArray(body);
}

/** The body's length in bytes. */
export function bodyLength(body: RequestBody): number {
  if (isSpooled(body)) return body.length;
  let length = 0;
  for (const chunk of body as BodyChunks) length += chunk.length;
  return length;
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
  /** The request whose body this is. */
  readonly req: IncomingMessage;
  body: Promise<RequestBody>;
  abort(error: HangarError): void;
}

/** A body read the idle sweep watches: what it had received at the last sweep, and since when. */
interface WatchedRead extends BodyRead {
  received: number;
  seen: number;
  quietSince: number;
  readonly idleMs: number;
}

// Body idle timeouts: one interval timer for every body being read, not one timer per request.
// Each sweep compares a read's byte count with the last sweep's; a read that has not moved for
// its idle timeout is aborted with 408. The timer runs only while reads are watched, every
// quarter of the shortest timeout (10 ms to 1 s): a pause is cut between 1 and 1.5 timeouts.
const watched = new Set<WatchedRead>();
let sweeper: NodeJS.Timeout | undefined;
let sweepEveryMs = 0;

function watch(read: WatchedRead): void {
  watched.add(read);
  const every = Math.max(10, Math.min(1_000, Math.floor(read.idleMs / 4)));
  if (sweeper !== undefined && every >= sweepEveryMs) return;
  clearInterval(sweeper);
  sweepEveryMs = every;
  sweeper = setInterval(sweep, every).unref();
}

function sweep(): void {
  const now = performance.now();
  for (const read of watched) {
    if (read.received !== read.seen) {
      read.seen = read.received;
      read.quietSince = now;
    } else if (now - read.quietSince >= read.idleMs) {
      read.abort(
        new HangarError(
          'REQUEST_TIMEOUT',
          `the client paused for more than limits.body_idle_timeout (${read.idleMs} ms) while sending the request body (${read.received} bytes received)`,
        ),
      );
    }
  }
  if (watched.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * Reads the request body (its chunks, see BodyChunks), at most `maxBytes` long. Rejects with
 * REQUEST_TOO_LARGE (413) when the body crosses the limit (the rest is read and discarded, so
 * the client sees the 413 instead of a reset), with REQUEST_TIMEOUT (408) when no byte came
 * for `idleTimeoutMs` (0: no limit), and with CLIENT_CLOSED when the client goes away first.
 * Requests without a body resolve at once. With a `spool`, a body that grows past its threshold
 * goes on in a file (body-spool.ts) and resolves as that file; when the file cannot be written,
 * the body stays in memory. A body of unknown length (chunked) asks `reserve` for room for each
 * chunk as it comes (the buffer budget): refused, the read ends with that error.
 *
 * @example
 * const body = await readBody(req, res, limits.maxRequestBytes, limits.bodyIdleTimeoutMs).body;
 */
export function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  idleTimeoutMs = 0,
  spool?: BodySpool,
  reserve?: (bytes: number) => HangarError | undefined,
): BodyRead {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) {
    return { req, body: Promise.resolve(empty), abort: () => {} };
  }
  if (awaitingContinue.delete(req)) res.writeContinue();

  const read: WatchedRead = {
    req,
    body: undefined as unknown as Promise<RequestBody>, // set just below, by the executor
    abort: () => {},
    received: 0,
    seen: 0,
    quietSince: idleTimeoutMs > 0 ? performance.now() : 0,
    idleMs: idleTimeoutMs,
  };
  read.body = new Promise<RequestBody>((resolve, reject) => {
    const declared = chunked ? -1 : Number(length);
    let chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    // The file the body goes on in once it is past the spool's threshold (none: in memory).
    let file: SpoolFile | undefined;
    let spooling = spool !== undefined;
    const settle = (error?: HangarError, value?: RequestBody) => {
      if (settled) return;
      settled = true;
      watched.delete(read);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      if (error) {
        file?.discard();
        // Keep reading and discarding: closing with unread data makes the kernel send a reset,
        // which can destroy the 413 before the client has read it.
        req.resume();
        reject(error);
      } else resolve(value!);
    };
    // The file failed (a full disk): what it holds comes back, and the body goes on in memory.
    const unspool = () => {
      spooling = false;
      const written = file!;
      file = undefined;
      try {
        chunks = [written.takeBack(), ...chunks];
      } catch (err) {
        settle(
          new HangarError(
            'BUFFERS_FULL',
            `cannot buffer the request body: its spool file ${written.file} failed (${(err as Error).message})`,
          ),
        );
      }
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      read.received = received;
      if (received > maxBytes || (declared >= 0 && received > declared)) {
        settle(
          new HangarError(
            'REQUEST_TOO_LARGE',
            `the request body crossed limits.max_request_bytes (${maxBytes} bytes) while it streamed in`,
          ),
        );
        return;
      }
      // Held from its first byte: in memory or in a file, it is the platform's to keep.
      if (declared < 0 && reserve !== undefined) {
        const refused = reserve(chunk.length);
        if (refused) {
          settle(refused);
          return;
        }
      }
      if (file !== undefined) {
        try {
          file.write(chunk);
          return;
        } catch {
          chunks.push(chunk);
          unspool();
          return;
        }
      }
      chunks.push(chunk);
      if (spooling && received > spool!.threshold) {
        // Written at once, each chunk dies young (a scavenge frees it): body-spool.ts says why.
        try {
          file = spool!.open();
        } catch {
          spooling = false;
          return;
        }
        try {
          for (const held of chunks) file.write(held);
          chunks = [];
        } catch {
          file.discard();
          file = undefined;
          spooling = false;
        }
      }
    };
    const onEnd = () => settle(undefined, file !== undefined ? file.finish() : chunks);
    const onClose = () =>
      settle(
        new HangarError(
          'CLIENT_CLOSED',
          `the client closed the connection after ${received} body bytes, before the body was complete`,
        ),
      );
    read.abort = (error) => settle(error);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
  if (idleTimeoutMs > 0) watch(read);
  return read;
}

import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config/types.js';
import type { Lease } from '../scheduler/version-pool.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import { Expiry } from '../shared/expiry.js';
import type { RequestRecord } from '../shared/request-record.js';
import { errorPage } from './error-pages.js';
import { type ForwardMeta, forward, type UpstreamResponse } from './forward.js';
import type { ServiceRoute } from './frontend.js';
import type { BodyChunks } from './request-body.js';

export interface DispatchMeta
  extends Pick<ForwardMeta, 'requestId' | 'remoteAddr' | 'https' | 'maxResponseBytes'> {
  /** Position of the matched handler in `handlers:`. */
  handlerPosition: number;
  /** Epoch ms the request arrived; its deadline counts from here (S6). Default: now. */
  arrivedAt?: number;
}

/** Seconds a client is told to wait after a 503 from a full pending queue. */
const retryAfterSeconds = 1;

/**
 * SPEC S5 step 5 from "pick an instance" on, and the deadline of S6: takes a slot on an instance
 * of the route's version (waiting in the pending queue if need be), forwards the buffered request
 * with its deadline, and gives back the whole response.
 *
 * - No slot within max_pending_latency: 503 with Retry-After.
 * - No answer by deadline + grace: 500 with the app's `timeout` page; the instance is checked
 *   with a ping and, if its event loop is blocked, killed and replaced. A late answer is discarded.
 * - The instance died: HangarError INSTANCE_EXITED (500), or INSTANCE_KILLED when the platform
 *   killed it for a blocked event loop. A connection refused outright (the request never reached
 *   the instance, whose exit is not processed yet) is tried once more on another instance.
 */
export async function dispatchToInstance(
  route: ServiceRoute,
  req: IncomingMessage,
  body: BodyChunks,
  meta: DispatchMeta,
  record: RequestRecord,
): Promise<UpstreamResponse> {
  const arrivedAt = meta.arrivedAt ?? Date.now();
  for (let attempt = 1; ; attempt++) {
    const outcome = await dispatchOnce(route, req, body, meta, record, arrivedAt, attempt < maxAttempts);
    if (outcome !== retry) return outcome;
  }
}

/** Marks an attempt whose connection was refused: the request never reached the instance. */
const retry = Symbol('retry');
/** A refused connection is tried once more, on another (or a replacement) instance. */
const maxAttempts = 2;

async function dispatchOnce(
  route: ServiceRoute,
  req: IncomingMessage,
  body: BodyChunks,
  meta: DispatchMeta,
  record: RequestRecord,
  arrivedAt: number,
  mayRetry: boolean,
): Promise<UpstreamResponse | typeof retry> {
  let lease: Lease;
  try {
    lease = await route.pool.acquire();
  } catch (err) {
    if (!isHangarError(err) || err.code !== 'HANGAR_E_PENDING_TIMEOUT') throw err;
    record.error = `${err.code}: ${err.message}`;
    const text = `503 Service Unavailable: ${err.message}. Retry in ${retryAfterSeconds} s.\n`;
    return {
      status: 503,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(retryAfterSeconds) },
      body: Buffer.from(text),
    };
  }
  const { instance } = lease;
  record.instanceId = instance.id;
  record.pendingMs = lease.pendingMs;
  record.loadingRequest = lease.loading;

  const deadlineAt = route.deadlineMs === undefined ? undefined : arrivedAt + route.deadlineMs;
  const expiry = new Expiry();
  const timer =
    deadlineAt === undefined
      ? undefined
      : setTimeout(
          () => expiry.fire(new Error('the deadline and its grace period passed')),
          Math.max(0, deadlineAt + route.deadlineGraceMs - Date.now()),
        );
  try {
    return await forward(lease, req, body, {
      requestId: meta.requestId,
      handlerIndex: route.moduleIndex.get(meta.handlerPosition) ?? -1,
      remoteAddr: meta.remoteAddr,
      https: meta.https,
      deadlineAt,
      expiry: timer ? expiry : undefined,
      maxResponseBytes: meta.maxResponseBytes,
      onLines: (lines, overIpc) => {
        record.lines = lines;
        record.linesComplete = !overIpc;
      },
    });
  } catch (err) {
    if (expiry.expired) {
      // The client gets its answer now; whether the instance is stuck is found out meanwhile.
      void route.pool.checkResponsive(
        instance,
        route.heartbeatTimeoutMs,
        `request ${meta.requestId} outlived its deadline and grace period`,
      );
      record.error = `HANGAR_E_DEADLINE_EXCEEDED: no response within the ${route.deadlineMs} ms deadline and ${route.deadlineGraceMs} ms grace`;
      return timeoutResponse(route.config);
    }
    if (instance.state === 'ready' && !isConnectionLoss(err)) throw err;
    route.pool.suspect(instance, route.heartbeatTimeoutMs);
    // Refused before anything was sent (the process died and its exit is not processed yet):
    // nothing ran, so the request may go elsewhere. A connection lost mid-request is a 500 (S6).
    if (mayRetry && neverDelivered(err)) return retry;
    throw instance.killedBecause
      ? new HangarError(
          'INSTANCE_KILLED',
          `the instance serving this request was killed: ${instance.killedBecause}`,
          {
            cause: err,
          },
        )
      : new HangarError('INSTANCE_EXITED', 'the instance serving this request exited unexpectedly', {
          cause: err,
        });
  } finally {
    clearTimeout(timer);
    lease.release();
  }
}

/** 500 with the app's `timeout` error page when it has one (S3 error_handlers, S6). */
function timeoutResponse(config: AppConfig): UpstreamResponse {
  const page = errorPage(config, 'timeout');
  if (page) return { status: 500, headers: { 'content-type': page.contentType }, body: page.body };
  return {
    status: 500,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: Buffer.from('500 The request did not finish within its deadline.\n'),
  };
}

function neverDelivered(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT';
}

function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return (
    code === 'UND_ERR_SOCKET' ||
    code === 'ECONNRESET' ||
    code === 'ECONNREFUSED' ||
    code === 'ENOENT' ||
    code === 'EPIPE'
  );
}

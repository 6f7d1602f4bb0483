import type { IncomingMessage } from 'node:http';
import {
  type InstancePool,
  type InstanceResponse,
  isRetryable,
  type Lease,
  type LinesOfRefusedResponse,
} from '../scheduler/instance.js';
import { HangarError } from '../shared/errors.js';
import { Expiry } from '../shared/expiry.js';
import type { RequestRecord } from '../shared/request-record.js';
import { toInstanceRequest } from './instance-request.js';
import type { RequestBody } from './request-body.js';
import type { ServiceRoute } from './route.js';
import { addressedInstance } from './serve-routes.js';

export interface DispatchMeta {
  requestId: string;
  remoteAddr: string;
  https: boolean;
  /** Position of the matched handler in `handlers:`. */
  handlerPosition: number;
  /** Epoch ms the request arrived; its deadline counts from here (S6). Default: now. */
  arrivedAt?: number;
}

/**
 * A request that never reached its instance is tried once more: on another (or a replacement)
 * one, or, when it addressed one instance, on that instance again.
 */
const maxAttempts = 2;

/**
 * A slot on the one instance a request addressed (S11 `INSTANCE-dot-...`): at once or a 503 at
 * once, never another instance. A pool that cannot address instances answers 503 too.
 */
function acquireAddressed(pool: InstancePool, instanceId: string): Promise<Lease> {
  if (pool.acquireInstance) return pool.acquireInstance(instanceId);
  return Promise.reject(
    new HangarError(
      'INSTANCE_UNAVAILABLE',
      `instance '${instanceId}' cannot take the request: this version's instances cannot be addressed one by one`,
    ),
  );
}

/**
 * SPEC S5 step 5 from "pick an instance" on, and the deadline of S6: takes a slot on an instance
 * of the route's version (waiting in the pending queue if need be), sends the buffered request
 * with its deadline through the lease, and gives back the whole response. What a failure means
 * is the scheduler's to say (`Lease.send`); the front end answers the HangarErrors it gets:
 *
 * - no slot within max_pending_latency: PENDING_TIMEOUT (503 with Retry-After);
 * - no answer by deadline + grace: DEADLINE_EXCEEDED (500 with the app's `timeout` page); a
 *   late answer is discarded;
 * - the instance died: INSTANCE_EXITED, or INSTANCE_KILLED when the platform killed it for a
 *   blocked event loop. A request that never reached the instance is tried once more;
 * - a route that addressed one instance (addressedInstance(), serve-routes.ts): only that
 *   instance, at once or INSTANCE_UNAVAILABLE (503 at once), the retry included.
 */
export async function dispatchToInstance(
  route: ServiceRoute,
  req: IncomingMessage,
  body: RequestBody,
  meta: DispatchMeta,
  record: RequestRecord,
): Promise<InstanceResponse> {
  const arrivedAt = meta.arrivedAt ?? Date.now();
  const request = toInstanceRequest(req, body, {
    requestId: meta.requestId,
    handler: route.handlerIndex.get(meta.handlerPosition) ?? -1,
    remoteAddr: meta.remoteAddr,
    https: meta.https,
  });
  const deadlineAt = route.deadlineMs === undefined ? undefined : arrivedAt + route.deadlineMs;
  if (deadlineAt !== undefined) request.deadlineAt = deadlineAt;
  const instanceId = addressedInstance(route);
  for (let attempt = 1; ; attempt++) {
    const lease =
      instanceId === undefined ? await route.pool.acquire() : await acquireAddressed(route.pool, instanceId);
    record.instanceId = lease.instanceId;
    record.pendingMs = lease.pendingMs;
    const expiry = new Expiry();
    const timer =
      deadlineAt === undefined
        ? undefined
        : setTimeout(
            () =>
              expiry.fire(
                new Error(
                  `no response within the ${route.deadlineMs} ms deadline and ${route.deadlineGraceMs} ms grace`,
                ),
              ),
            Math.max(0, deadlineAt + route.deadlineGraceMs - Date.now()),
          );
    request.expiry = timer ? expiry : undefined;
    try {
      const response = await lease.send(request);
      record.lines = response.lines;
      record.linesComplete = response.linesComplete;
      return response;
    } catch (err) {
      const refused = err as LinesOfRefusedResponse | undefined;
      if (refused?.linesComplete !== undefined) {
        record.lines = refused.lines;
        record.linesComplete = refused.linesComplete;
      }
      if (attempt < maxAttempts && isRetryable(err)) continue;
      throw err;
    } finally {
      record.loadingRequest = lease.loading;
      clearTimeout(timer);
      lease.release();
    }
  }
}

import type { IncomingMessage } from 'node:http';
import { HangarError } from '../shared/errors.js';
import { type ForwardMeta, forward, type UpstreamResponse } from './forward.js';
import type { RequestRecord, ServiceRoute } from './frontend.js';

/**
 * SPEC S5 step 5 from "pick an instance" on: takes a slot on an instance of the route's version
 * (S6), forwards the buffered request, and gives back the whole response. Failures come out as
 * HangarErrors with the status the client should get (500 for a lost instance, 503 for a
 * pending-queue timeout, ...). The scheduler's side of the pipeline lives behind this call.
 */
export async function dispatchToInstance(
  route: ServiceRoute,
  req: IncomingMessage,
  body: Buffer,
  meta: Omit<ForwardMeta, 'handlerIndex'> & { handlerPosition: number },
  record: RequestRecord,
): Promise<UpstreamResponse> {
  const lease = await route.pool.acquire();
  record.instanceId = lease.instance.id;
  try {
    return await forward(lease, req, body, {
      requestId: meta.requestId,
      handlerIndex: route.moduleIndex.get(meta.handlerPosition) ?? -1,
      remoteAddr: meta.remoteAddr,
      https: meta.https,
    });
  } catch (err) {
    throw lease.instance.state === 'ready' && !isConnectionLoss(err)
      ? err
      : new HangarError('INSTANCE_EXITED', 'the instance serving this request exited unexpectedly', {
          cause: err,
        });
  } finally {
    lease.release();
  }
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

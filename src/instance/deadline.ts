import { currentRequest } from './request-context.js';

/**
 * The request's deadline passed (SPEC S6). `ctx.signal` is aborted with it, and `sleep()` and
 * platform calls in flight reject with it; the handler then has the grace period to return
 * its own response.
 */
export class DeadlineExceededError extends Error {
  readonly code = 'HANGAR_E_DEADLINE_EXCEEDED';

  constructor(deadlineMs?: number) {
    super(
      deadlineMs === undefined
        ? 'the request deadline was exceeded'
        : `the request deadline of ${deadlineMs} ms was exceeded; finish the response now (there is a short grace period)`,
    );
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Waits `ms` milliseconds, or rejects with the request's DeadlineExceededError when its
 * deadline passes first (outside a request it is a plain timer).
 *
 * @example
 * import { sleep } from 'hangar';
 * await sleep(500); // rejects with DeadlineExceededError once ctx.signal aborts
 */
export function sleep(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  const signal = options.signal ?? currentRequest()?.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * What runs around a handler call in an instance: the deadline timer and the log line of a
 * failed request (both servers: the request channel and the HTTP server for Node handlers; the
 * page they answer with is error-page.ts's), and for fetch handlers the `ctx` they get and the
 * check of what they returned.
 */
import { format } from 'node:util';
import type { HandlerContext } from '../index.js';
import type { LoadedHandler } from './app-loader.js';
import { DeadlineExceededError } from './deadline.js';
import { failureCode } from './error-page.js';
import { logLine } from './log-capture.js';
import { materializeEnv } from './request-context.js';
import { requestLog } from './request-log.js';
import type { RequestState } from './request-state.js';

/** Aborts the request's `ctx.signal` with a DeadlineExceededError at `deadlineAt` (epoch ms). */
export function armDeadline(state: RequestState, deadlineAt: number | undefined): NodeJS.Timeout | undefined {
  if (deadlineAt === undefined || !(deadlineAt > 0)) return undefined;
  return setTimeout(
    () => state.abort.abort(new DeadlineExceededError(deadlineAt - arrivedAt(state.requestId))),
    Math.max(0, deadlineAt - Date.now()),
  );
}

/** Calls a fetch handler and checks that it answered with a Response. Run it inside the request's context. */
export async function callFetch(
  handler: Extract<LoadedHandler, { kind: 'fetch' }>,
  request: Request,
  state: RequestState,
): Promise<Response> {
  const response: unknown = await handler.call(request, handlerContext(state));
  if (!isResponse(response)) {
    throw new TypeError(
      `the handler returned ${response === null ? 'null' : typeof response}, not a Response; return new Response(body, init)`,
    );
  }
  return response;
}

/**
 * Logs a failed request's error under the request (call it inside the request's context), led
 * by its registry code as the front end's own errors are: `HANGAR_E_HANDLER_FAILED: Error: ...`.
 */
export function reportFailure(err: unknown): void {
  logLine('error', `${failureCode(err)}: ${err instanceof Error ? (err.stack ?? err.message) : format(err)}`);
}

function isResponse(value: unknown): value is Response {
  return (
    value instanceof Response ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Response).status === 'number' &&
      typeof (value as Response).arrayBuffer === 'function' &&
      (value as Response).headers instanceof Headers)
  );
}

/** A request id starts with its arrival in epoch milliseconds (S9), 12 hex digits. */
function arrivedAt(requestId: string): number {
  return Number.parseInt(requestId.slice(0, 12), 16) || Date.now();
}

/**
 * The `ctx` a fetch handler gets. Its `env` is a plain object of the request's variables, made
 * only when the handler looks into it: object handlers (Hono) are called with `ctx.env` on every
 * request, and most never read it.
 */
function handlerContext(state: RequestState): HandlerContext {
  return new Context(state);
}

/**
 * A class rather than an object literal with getters: V8 gives every such literal a hidden class
 * of its own, in old space, which kept each request's objects alive through young-generation
 * GCs until the next full one (docs/decisions.md, "Per-request objects without own accessors").
 * `signal` and `env` are on the prototype, so `{ ...ctx }` does not copy them; read them by name.
 */
class Context implements HandlerContext {
  readonly requestId: string;
  readonly log = requestLog;
  readonly #state: RequestState;
  #env: Record<string, string> | undefined;

  constructor(state: RequestState) {
    this.requestId = state.requestId;
    this.#state = state;
  }

  get signal(): AbortSignal {
    return this.#state.signal;
  }

  get env(): Record<string, string> {
    const state = this.#state;
    this.#env ??= deferred(() => materializeEnv(state.env));
    return this.#env;
  }
}

/** An object that is `make()`'s result, made on the first look inside. */
function deferred<T extends object>(make: () => T): T {
  let target: T | undefined;
  const real = () => {
    target ??= make();
    return target;
  };
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(real(), key),
    set: (_, key, value) => Reflect.set(real(), key, value),
    has: (_, key) => Reflect.has(real(), key),
    deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, key) => Reflect.getOwnPropertyDescriptor(real(), key),
    defineProperty: (_, key, descriptor) => Reflect.defineProperty(real(), key, descriptor),
  });
}

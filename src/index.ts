/**
 * `hangar`: the app-facing API (SPEC S4.1). Apps import it without listing it as a
 * dependency; the instance's loader maps the bare specifier to this file.
 *
 * @example
 * import type { HandlerContext } from 'hangar';
 * export const app = (request: Request, ctx: HandlerContext) => new Response(`Hello from ${ctx.requestId}`);
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { currentRequest } from './instance/request-context.js';

export { DeadlineExceededError, sleep } from './instance/deadline.js';

/** Levels of app log lines (S9). */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

/** `ctx.log`: app log lines attached to the current request. */
export interface RequestLog {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warning(...args: unknown[]): void;
  error(...args: unknown[]): void;
  critical(...args: unknown[]): void;
  /** Logs at error level with the error's stack. */
  exception(error: unknown, ...args: unknown[]): void;
}

/** The second argument of a fetch-style handler. */
export interface HandlerContext {
  /** `REQUEST_LOG_ID` of this request. */
  readonly requestId: string;
  /** This request's environment (S8); the same values `process.env` shows inside the request. */
  readonly env: Readonly<Record<string, string>>;
  /** Aborted with a DeadlineExceededError when the request's deadline passes (S6), or when the client goes away. */
  readonly signal: AbortSignal;
  readonly log: RequestLog;
}

/** A module handler's export: a fetch-style function or an object with `fetch` (Hono, itty-router, ...). */
export type FetchHandler = (request: Request, ctx: HandlerContext) => Response | Promise<Response>;
export type ModuleExport =
  | FetchHandler
  | { fetch(request: Request, ...rest: unknown[]): Response | Promise<Response> };

/** A Node `(req, res)` app: Express, Koa's `app.callback()`, Fastify's `routing`, plain http handlers. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Marks an export made by {@link fromNode}; a registered symbol so it survives two copies of this module. */
export const nodeHandlerSymbol: unique symbol = Symbol.for('hangar.nodeHandler') as never;

export interface NodeHandlerExport {
  readonly [nodeHandlerSymbol]: NodeHandler;
}

/**
 * The one line of glue for Node `(req, res)` apps: the instance hands them its own request and
 * response objects, so Express middleware sees a real `IncomingMessage`.
 *
 * @example
 * import express from 'express';
 * import { fromNode } from 'hangar';
 * const server = express();
 * server.get('/', (req, res) => res.send('Hello'));
 * export const app = fromNode(server);
 */
export function fromNode(handler: NodeHandler): NodeHandlerExport {
  if (typeof handler !== 'function') {
    throw new TypeError('fromNode(handler): handler must be a (req, res) function such as an Express app');
  }
  return { [nodeHandlerSymbol]: handler };
}

/** The current request's id, or undefined outside a request. */
export function currentRequestId(): string | undefined {
  return currentRequest()?.requestId;
}

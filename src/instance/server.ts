import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HandlerContext } from '../index.js';
import { InternalHeader } from '../shared/messages.js';
import type { LoadedHandler } from './app-loader.js';
import { DeadlineExceededError } from './deadline.js';
import { LazySignal } from './lazy-signal.js';
import { materializeEnv, type RequestContext, requestStorage } from './request-context.js';
import { requestEnv } from './request-env.js';
import { requestLog } from './request-log.js';
import { responseBytes } from './response-body.js';

/**
 * The instance's own HTTP server (SPEC S6), listening on a Unix socket for the front end.
 * Each request runs inside its RequestContext, so `process.env` and `ctx` are its own.
 */
export function createInstanceServer(handlers: readonly LoadedHandler[]): Server {
  return createServer((req, res) => {
    const requestId = takeHeader(req, InternalHeader.requestId) ?? '';
    const handlerIndex = Number(takeHeader(req, InternalHeader.handler));
    const remoteAddr = takeHeader(req, InternalHeader.remoteAddr) ?? '';
    const https = takeHeader(req, InternalHeader.https) === 'on';
    dropInternalRawHeaders(req);

    const handler = handlers[handlerIndex];
    if (!handler) {
      sendError(
        res,
        500,
        `the front end asked for handler ${handlerIndex}, which this instance does not have`,
      );
      return;
    }
    const abort = new LazySignal();
    const deadlineAt = Number(takeHeader(req, InternalHeader.deadline));
    const timer =
      deadlineAt > 0
        ? setTimeout(
            () => abort.abort(new DeadlineExceededError(deadlineAt - arrivedAt(requestId))),
            Math.max(0, deadlineAt - Date.now()),
          )
        : undefined;
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) abort.abort(new Error('the client went away before the response was sent'));
    });
    const ctx: RequestContext = {
      requestId,
      env: requestEnv(req, { requestId, remoteAddr, https }),
      get signal() {
        return abort.signal;
      },
    };
    requestStorage.run(ctx, () => {
      if (handler.kind === 'node') {
        try {
          handler.call(req, res);
        } catch (err) {
          failRequest(res, err);
        }
        return;
      }
      serveFetch(handler, req, res, ctx, https).catch((err: unknown) => failRequest(res, err));
    });
  });
}

async function serveFetch(
  handler: Extract<LoadedHandler, { kind: 'fetch' }>,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  https: boolean,
): Promise<void> {
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const request = new Request(
    `${https ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`,
    {
      method,
      headers,
      body,
    },
  );
  const response: unknown = await handler.call(request, handlerContext(ctx));
  if (!isResponse(response)) {
    throw new TypeError(
      `the handler returned ${response === null ? 'null' : typeof response}, not a Response; return new Response(body, init)`,
    );
  }
  // The front end buffers the whole response anyway (S5 step 6), so collect it here too.
  const payload = await responseBytes(response);
  const out: string[] = [];
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') out.push(name, value);
  }
  for (const cookie of response.headers.getSetCookie()) out.push('set-cookie', cookie);
  out.push('content-length', String(payload.length));
  res.writeHead(response.status, response.statusText, out);
  res.end(payload);
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

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function takeHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  delete req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Apps must not see the front end's internal headers, also not through `rawHeaders`. */
function dropInternalRawHeaders(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!raw[i]!.toLowerCase().startsWith('x-hangar-')) kept.push(raw[i]!, raw[i + 1]!);
  }
  req.rawHeaders = kept;
}

function failRequest(res: ServerResponse, err: unknown): void {
  // Inside the request's context, so the line is attributed to the request (S9).
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  sendError(res, 500, 'The server encountered an error and could not complete your request.');
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `<!DOCTYPE html><title>${status}</title><h1>Error: ${status === 500 ? 'Server Error' : status}</h1><p>${message}</p>\n`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** A request id starts with its arrival in epoch milliseconds (S9), 12 hex digits. */
function arrivedAt(requestId: string): number {
  return Number.parseInt(requestId.slice(0, 12), 16) || Date.now();
}

/** The `ctx` a fetch handler gets; its `env` is made a plain object only if the handler reads it. */
function handlerContext(ctx: RequestContext): HandlerContext {
  let env: Record<string, string> | undefined;
  return {
    requestId: ctx.requestId,
    get signal() {
      return ctx.signal;
    },
    log: requestLog,
    get env() {
      env ??= materializeEnv(ctx.env);
      return env;
    },
  };
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { InternalHeader } from '../shared/internal-headers.js';
import type { LoadedHandler } from './app-loader.js';
import { armDeadline, callFetch, errorPageHtml, failedRequestMessage, reportFailure } from './fetch-run.js';
import { lazyRequest } from './lazy-request.js';
import { requestStorage } from './request-context.js';
import { RequestState } from './request-state.js';
import { responseBytes } from './response-body.js';

/**
 * The instance's HTTP server (SPEC S6), listening on a Unix socket for the front end: it serves
 * Node `(req, res)` handlers, which need a real IncomingMessage and ServerResponse. Fetch
 * handlers are served over the request channel (channel-server.ts); this server serves them
 * too, for any caller that speaks plain HTTP. Each request runs inside its RequestContext, so
 * `process.env` and `ctx` are its own.
 */
export function createInstanceServer(handlers: readonly LoadedHandler[]): Server {
  return createServer((req, res) => {
    const requestId = takeHeader(req, InternalHeader.requestId) ?? '';
    const handlerIndex = Number(takeHeader(req, InternalHeader.handler));
    const remoteAddr = takeHeader(req, InternalHeader.remoteAddr) ?? '';
    const https = takeHeader(req, InternalHeader.https) === 'on';
    const deadlineAt = Number(takeHeader(req, InternalHeader.deadline));
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
    const state = new RequestState({
      requestId,
      remoteAddr,
      https,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      httpVersion: req.httpVersion,
      headers: req.headers,
    });
    const timer = armDeadline(state, deadlineAt);
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished)
        state.abort.abort(new Error('the client went away before the response was sent'));
    });
    requestStorage.run(state, () => {
      if (handler.kind === 'node') {
        try {
          handler.call(req, res);
        } catch (err) {
          failRequest(res, err);
        }
        return;
      }
      serveFetch(handler, req, res, state, https).catch((err: unknown) => failRequest(res, err));
    });
  });
}

async function serveFetch(
  handler: Extract<LoadedHandler, { kind: 'fetch' }>,
  req: IncomingMessage,
  res: ServerResponse,
  state: RequestState,
  https: boolean,
): Promise<void> {
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : await readBody(req);
  const request = lazyRequest({
    method,
    url: `${https ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`,
    headers: req.rawHeaders,
    body,
  });
  const response = await callFetch(handler, request, state);
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
  reportFailure(err);
  sendError(res, 500, failedRequestMessage);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorPageHtml(status, message);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

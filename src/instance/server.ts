import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { InternalHeader } from '../shared/internal-headers.js';
import type { LoadedHandler } from './app-loader.js';
import { errorPage, failurePage, type InstanceErrorPage } from './error-page.js';
import { armDeadline, reportFailure } from './fetch-run.js';
import { requestStorage } from './request-context.js';
import { RequestState } from './request-state.js';

/**
 * The instance's HTTP server (SPEC S6), listening on a Unix socket for the front end: it serves
 * Node `(req, res)` handlers, which need a real IncomingMessage and ServerResponse. Fetch
 * handlers are served over the request channel (channel-server.ts) only. Each request runs
 * inside its RequestContext, so `process.env` and `ctx` are its own.
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
    if (handler?.kind !== 'node') {
      const what = handler
        ? 'a fetch handler, served over the request channel'
        : 'not a handler this instance has';
      sendError(
        res,
        errorPage(500, `the front end asked for handler ${handlerIndex} over HTTP; it is ${what}`),
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
      try {
        handler.call(req, res);
      } catch (err) {
        failRequest(res, err);
      }
    });
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
  sendError(res, failurePage(err));
}

/** Writes `page`, unless the handler already began its response: then the connection is cut. */
function sendError(res: ServerResponse, page: InstanceErrorPage): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(page.status, page.headers);
  res.end(page.body);
}

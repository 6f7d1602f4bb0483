import { createServer, type Server, type Socket } from 'node:net';
import { readFilePrefix } from '../shared/file-prefix.js';
import { encodeFrameParts, FrameDecoder } from '../shared/frame-codec.js';
import { FrameWriter } from '../shared/frame-writer.js';
import {
  type CancelFrame,
  maxChannelHeaderBytes,
  type PackedLines,
  type RequestFrame,
  type ResponseFrame,
} from '../shared/request-channel.js';
import type { LoadedHandler } from './app-loader.js';
import { runCgiRequest } from './cgi/cgi-request.js';
import { DeadlineExceededError } from './deadline.js';
import type { EntrypointServer } from './entrypoint.js';
import { errorPage, failurePage, type InstanceErrorPage } from './error-page.js';
import { armDeadline, callFetch, reportFailure } from './fetch-run.js';
import { lazyRequest } from './lazy-request.js';
import { logLine, packHeldLines, releaseLines } from './log-capture.js';
import { requestStorage } from './request-context.js';
import { headerObject, type RequestFacts } from './request-env.js';
import { RequestState } from './request-state.js';
import { ResponseTooLarge, responseBytes } from './response-body.js';

export interface ChannelServerOptions {
  /** Largest request body the front end sends (S15 max_request_bytes), for the frame decoder. */
  maxRequestBytes: number;
  /** Largest response body (S15 max_response_bytes): a bigger one is not buffered past it. */
  maxResponseBytes: number;
  /** For CGI handlers: where their scripts are, and the S8 environment they get (not the instance's whole env). */
  appDir?: string;
  instanceEnv?: Readonly<Record<string, string>>;
}

/**
 * The instance's end of the request channel (src/shared/request-channel.ts): serves the fetch
 * handlers' requests that the front end sends as frames, each inside its RequestContext, and
 * answers each with one frame carrying the whole response and the lines the request logged.
 * Node `(req, res)` handlers are served by the HTTP server (server.ts) instead.
 */
export function createChannelServer(
  handlers: readonly LoadedHandler[],
  options: ChannelServerOptions,
): Server {
  return createServer((socket) => serveConnection(socket, handlers, options));
}

function serveConnection(
  socket: Socket,
  handlers: readonly LoadedHandler[],
  options: ChannelServerOptions,
): void {
  const writer = new FrameWriter(socket);
  const open = new Map<number, RequestState>();
  const decoder = new FrameDecoder<RequestFrame | CancelFrame>({
    maxHeaderBytes: maxChannelHeaderBytes,
    maxPayloadBytes: options.maxRequestBytes,
  });
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    let frames: ReturnType<typeof decoder.push>;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      console.error(`request channel: ${(err as Error).message}; closing the connection`);
      socket.destroy();
      return;
    }
    for (const { header, payload } of frames) {
      if ('cancel' in header) {
        const state = open.get(header.id);
        if (!state) continue;
        // Its response will be dropped: what it logged goes over IPC, as lines of a finished request.
        releaseLines(state);
        state.abort.abort(new Error('the front end gave up on the request (deadline and grace passed)'));
        continue;
      }
      const state = new RequestState(requestFacts(header), true);
      open.set(header.id, state);
      void serveFrame(handlers[header.handler], header, payload, state, options).then((parts) => {
        open.delete(header.id);
        writer.write(parts);
      });
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    for (const state of open.values()) {
      releaseLines(state);
      state.abort.abort(new Error('the front end went away before the response was sent'));
    }
    open.clear();
  });
}

/**
 * The body the front end spooled to a file (src/frontend/body-spool.ts), read before the handler
 * runs, as a payload would have been: the frame's `bodyLength` bytes from the file's start (the
 * file is a slot that may hold an earlier body's bytes after them). A message when it cannot be
 * read or is shorter than the frame says.
 */
function readSpooledBody(head: RequestFrame, maxRequestBytes: number): Buffer | string {
  const length = head.bodyLength ?? -1;
  if (!(length >= 0 && length <= maxRequestBytes))
    return `the front end announced a spooled request body of ${head.bodyLength} bytes`;
  try {
    return readFilePrefix(head.bodyFile!, length);
  } catch (err) {
    return `cannot read the request body the front end spooled to ${head.bodyFile}: ${(err as Error).message}`;
  }
}

/** Runs one request and resolves with its response frame (never rejects: failures are 500 frames). */
async function serveFrame(
  handler: LoadedHandler | undefined,
  head: RequestFrame,
  payload: Buffer,
  state: RequestState,
  options: ChannelServerOptions,
): Promise<Buffer[]> {
  const { maxResponseBytes } = options;
  const timer = armDeadline(state, head.deadline);
  try {
    const body = head.bodyFile === undefined ? payload : readSpooledBody(head, options.maxRequestBytes);
    if (typeof body === 'string') return answer(head.id, state, errorResponse(errorPage(500, body)));
    if (handler?.kind === 'cgi') return await serveCgi(handler.script, head, body, state, options);
    if (handler?.kind === 'entrypoint')
      return await proxyToOwnServer(handler.server, head, body, state, maxResponseBytes);
    if (handler?.kind !== 'fetch') {
      const what = handler
        ? 'a Node (req, res) handler, served over HTTP'
        : 'not a handler this instance has';
      return answer(
        head.id,
        state,
        errorResponse(
          errorPage(
            500,
            `the front end sent handler ${head.handler} over the request channel; it is ${what}`,
          ),
        ),
      );
    }
    const request = lazyRequest({
      method: head.method,
      url: `${head.https ? 'https' : 'http'}://${hostOf(head.headers)}${head.url}`,
      headers: head.headers,
      body,
    });
    return await requestStorage.run(state, async () => {
      try {
        const response = await callFetch(handler, request, state);
        const payload = await responseBytes(response, maxResponseBytes);
        const headers: string[] = [];
        for (const [name, value] of response.headers) if (name !== 'set-cookie') headers.push(name, value);
        for (const cookie of response.headers.getSetCookie()) headers.push('set-cookie', cookie);
        headers.push('content-length', String(payload.length));
        return answer(head.id, state, {
          status: response.status,
          headers,
          body: head.method === 'HEAD' ? undefined : payload,
        });
      } catch (err) {
        if (err instanceof ResponseTooLarge) {
          return answer(
            head.id,
            state,
            { status: 500, headers: [], body: undefined },
            err.exact ? err.bytes : -1,
          );
        }
        reportFailure(err);
        return answer(head.id, state, errorResponse(failurePage(err)));
      }
    });
  } finally {
    clearTimeout(timer);
  }
}

interface Answer {
  status: number;
  headers: string[];
  body: Buffer | undefined;
}

/**
 * A `script: auto` request, passed to the app's own server (entrypoint.ts). Its lines come from
 * the server's output over IPC, so the frame says they are on their way (`linesOverIpc`) and the
 * platform holds the request's entry a moment for them.
 */
async function proxyToOwnServer(
  server: EntrypointServer,
  head: RequestFrame,
  body: Buffer,
  state: RequestState,
  maxResponseBytes: number,
): Promise<Buffer[]> {
  releaseLines(state);
  try {
    const response = await server.forward({
      method: head.method,
      url: head.url,
      headers: head.headers,
      body,
      requestId: head.requestId,
      signal: state.signal,
      deadlineAt: head.deadline,
      maxResponseBytes,
    });
    if ('tooLarge' in response) {
      return answer(head.id, state, { status: 500, headers: [], body: undefined }, response.tooLarge);
    }
    response.headers.push('content-length', String(response.body.length));
    return answer(head.id, state, {
      status: response.status,
      headers: response.headers,
      body: head.method === 'HEAD' ? undefined : response.body,
    });
  } catch (err) {
    // At the deadline the request to the server is cut (DeadlineExceededError), as a module
    // handler's ctx.signal aborts; a broken connection is the server's failure.
    const failure =
      err instanceof DeadlineExceededError
        ? err
        : new Error(`the app's server (entrypoint) did not answer: ${(err as Error).message}`);
    requestStorage.run(state, () => reportFailure(failure));
    return answer(head.id, state, errorResponse(failurePage(failure)));
  }
}

/**
 * A CGI request (cgi/cgi-request.ts): the script's stderr lines are the request's (warning),
 * its output the response; a failure is a 500 with the reason in the request's log, a local
 * redirect goes back to the front end to be dispatched again.
 */
async function serveCgi(
  script: string,
  head: RequestFrame,
  body: Buffer,
  state: RequestState,
  options: ChannelServerOptions,
): Promise<Buffer[]> {
  const inRequest = (level: 'warning' | 'error', message: string) =>
    requestStorage.run(state, () => logLine(level, message));
  const outcome = await runCgiRequest({
    script,
    appDir: options.appDir ?? process.cwd(),
    instanceEnv: options.instanceEnv ?? {},
    head,
    body,
    signal: state.signal,
    maxResponseBytes: options.maxResponseBytes,
    onStderrLine: (line) => inRequest('warning', line),
    state,
  });
  switch (outcome.kind) {
    case 'document':
    case 'client-redirect': {
      const headers: string[] = [];
      for (let i = 0; i < outcome.headers.length; i += 2) {
        const name = outcome.headers[i]!.toLowerCase();
        if (name === 'content-length') continue;
        headers.push(name, outcome.headers[i + 1]!);
      }
      headers.push('content-length', String(outcome.body.length));
      return answer(head.id, state, {
        status: outcome.status,
        headers,
        body: head.method === 'HEAD' ? undefined : outcome.body,
      });
    }
    case 'local-redirect':
      return answer(
        head.id,
        state,
        { status: 200, headers: [], body: undefined },
        undefined,
        outcome.location,
      );
    case 'failed': {
      if (outcome.code === 'RESPONSE_TOO_LARGE')
        return answer(head.id, state, { status: 500, headers: [], body: undefined }, -1);
      const line = `HANGAR_E_${outcome.code}: the CGI script ${script} failed: ${outcome.reason}`;
      inRequest('error', line);
      return answer(head.id, state, errorResponse(failurePage(line)));
    }
    case 'deadline': {
      const line = `HANGAR_E_${outcome.code}: ${outcome.reason}`;
      inRequest('error', line);
      return answer(head.id, state, errorResponse(failurePage(line)));
    }
    case 'aborted':
      return answer(head.id, state, errorResponse(failurePage()));
  }
}

/** The response frame; the request's lines leave with it, and later ones go over IPC (late lines). */
function answer(
  id: number,
  state: RequestState,
  response: Answer,
  tooLarge?: number,
  localRedirect?: string,
): Buffer[] {
  const { lines, overIpc } = takeLines(state);
  const header: ResponseFrame = { id, status: response.status, headers: response.headers };
  if (overIpc) header.linesOverIpc = true;
  if (tooLarge !== undefined) header.tooLarge = tooLarge;
  if (localRedirect !== undefined) header.localRedirect = localRedirect;
  if (!lines) return encodeFrameParts(header, response.body);
  const text = Buffer.from(lines);
  header.lines = text.length;
  return encodeFrameParts(header, response.body ? [response.body, text] : text);
}

function takeLines(state: RequestState): { lines: PackedLines | undefined; overIpc: boolean } {
  const lines = state.lines;
  state.lines = undefined;
  // Nothing held before this: releaseLines() sent them over IPC.
  return { lines: lines?.length ? packHeldLines(lines) : undefined, overIpc: lines === undefined };
}

/** An error page (error-page.ts) as a response frame's parts. */
function errorResponse(page: InstanceErrorPage): Answer {
  return { status: page.status, headers: Object.entries(page.headers).flat(), body: page.body };
}

function requestFacts(head: RequestFrame): RequestFacts {
  return new FrameFacts(head);
}

/**
 * What a request frame tells about its request, the header object made on first use. A class
 * rather than an object literal with a getter: V8 gives every such literal a hidden class of its
 * own, in old space, and through it the request's objects outlived every young-generation GC
 * until the next full one (docs/decisions.md, "Per-request objects without own accessors").
 */
class FrameFacts implements RequestFacts {
  readonly requestId: string;
  readonly remoteAddr: string;
  readonly https: boolean;
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly #raw: readonly string[];
  #headers: Record<string, string> | undefined;

  constructor(head: RequestFrame) {
    this.requestId = head.requestId;
    this.remoteAddr = head.remoteAddr;
    this.https = head.https;
    this.method = head.method;
    this.url = head.url;
    this.httpVersion = head.httpVersion;
    this.#raw = head.headers;
  }

  get headers(): Record<string, string> {
    this.#headers ??= headerObject(this.#raw);
    return this.#headers;
  }
}

function hostOf(raw: readonly string[]): string {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') return raw[i + 1]!;
  }
  return 'localhost';
}

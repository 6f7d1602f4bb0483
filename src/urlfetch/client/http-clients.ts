/**
 * Inside instances, the HTTP clients go through URL Fetch by default (S13), as App Engine's
 * httplib did, so axios, got, node-fetch and the global `fetch` need no change:
 *
 * - the global `fetch` is URL Fetch's (`redirect: 'manual'` and `'error'` honoured);
 * - undici's global dispatcher (the npm package's `request`, `fetch`, ...) makes URL Fetch calls;
 * - `http.Agent` and `https.Agent` (their prototypes, so the agents libraries make too) hand
 *   Node's HTTP client, instead of a TCP or TLS socket, one end of an in-process stream whose
 *   other end an HTTP server in this module reads: Node's own parsers frame the request and
 *   the response, and each request becomes one URL Fetch call to the agent's origin. Redirects
 *   are the client's business there (it sees the 3xx), TLS options (`rejectUnauthorized`) map
 *   to `validateCertificate`, and bodies are buffered both ways (docs/urlfetch.md).
 *
 * With `GAE_USE_SOCKETS_HTTPLIB` set (any value, in `env_variables`) none of this is
 * installed: the clients open sockets, which the sockets shim takes through the socket
 * service under the S12 rules.
 */
import { createServer, Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Duplex } from 'node:stream';
import { currentRequest, requestStorage } from '../../instance/request-context.js';
import { callThroughService, fetchThroughService, replyToResponse } from './call.js';

/** The variable that keeps the HTTP clients on plain sockets (S13). */
export const SOCKETS_HTTPLIB_ENV = 'GAE_USE_SOCKETS_HTTPLIB';

let installed = false;

/** Installs URL Fetch as the HTTP clients' path, unless GAE_USE_SOCKETS_HTTPLIB is set. Once. */
export function installHttpClients(env: NodeJS.ProcessEnv = process.env): boolean {
  if (installed || env[SOCKETS_HTTPLIB_ENV] !== undefined) return false;
  installed = true;
  patchGlobalFetch();
  patchAgent(HttpAgent.prototype, 'http:');
  patchAgent(HttpsAgent.prototype, 'https:');
  // undici's own `request`, `fetch` and friends (the npm package) dispatch through this
  // global, which they share with one another across versions.
  (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] = new UrlFetchDispatcher();
  return true;
}

/**
 * The undici global dispatcher's one method its APIs call, `dispatch(options, handler)`, made
 * a URL Fetch call: the handler gets the response as undici's own connection would give it
 * (`onConnect`, `onHeaders` with raw header buffers, `onData`, `onComplete`). Redirects are the
 * caller's (undici's `request` does not follow them either).
 */
class UrlFetchDispatcher {
  dispatch(options: UndiciDispatchOptions, handler: UndiciHandler): boolean {
    let aborted: unknown;
    handler.onConnect?.((reason: unknown) => {
      aborted = reason ?? new Error('aborted');
    });
    void (async () => {
      const body = await undiciBody(options.body);
      const method = options.method ?? 'GET';
      const reply = await callThroughService(
        {
          method,
          url: new URL(options.path ?? '/', options.origin).href,
          headers: undiciHeaders(options.headers),
          body,
        },
        { followRedirects: false, validateCertificate: true, allowTruncated: false },
      );
      if (aborted !== undefined) throw aborted;
      const raw: Buffer[] = [];
      for (const [name, value] of reply.headers) raw.push(Buffer.from(name), Buffer.from(value));
      handler.onHeaders?.(reply.status, raw, () => {}, reply.statusText);
      if (reply.body.length > 0 && method !== 'HEAD') handler.onData?.(reply.body);
      handler.onComplete?.([]);
    })().catch((err: unknown) => handler.onError?.(err as Error));
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

interface UndiciDispatchOptions {
  origin: string | URL;
  path?: string;
  method?: string;
  headers?: unknown;
  body?: unknown;
}

interface UndiciHandler {
  onConnect?(abort: (reason?: unknown) => void): void;
  onHeaders?(
    status: number,
    rawHeaders: Buffer[],
    resume: () => void,
    statusText: string,
  ): boolean | undefined;
  onData?(chunk: Buffer): boolean | undefined;
  onComplete?(trailers: Buffer[]): void;
  onError?(err: Error): void;
}

/** undici's header forms: an object, a flat `[name, value, ...]` array, or pairs. */
function undiciHeaders(headers: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!headers) return out;
  if (Array.isArray(headers)) {
    if (headers.every((h) => Array.isArray(h))) {
      for (const [name, value] of headers as Array<[string, string]>) out.push([String(name), String(value)]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) out.push([String(headers[i]), String(headers[i + 1])]);
    }
  } else if (typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) out.push([name, String(one)]);
    }
  }
  return out.filter(
    ([name]) => !/^(host|connection|keep-alive|transfer-encoding|content-length|expect)$/i.test(name),
  );
}

/** undici's body forms, buffered (URL Fetch sends a body whole). */
async function undiciBody(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  throw new TypeError(
    'urlfetch: this request body type cannot be sent through URL Fetch; pass a string, a Buffer or a stream',
  );
}

function patchGlobalFetch(): void {
  const urlFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const mode = init?.redirect ?? request.redirect;
    const reply = await fetchThroughService(request, {
      followRedirects: mode === 'follow',
      validateCertificate: true,
      allowTruncated: false,
    });
    if (
      mode === 'error' &&
      reply.status >= 300 &&
      reply.status < 400 &&
      reply.headers.some(([n]) => n.toLowerCase() === 'location')
    ) {
      throw new TypeError('fetch failed', {
        cause: new Error(`redirect mode is "error" and ${request.url} redirected`),
      });
    }
    return replyToResponse(reply, request.method);
  };
  Object.defineProperty(globalThis, 'fetch', {
    value: urlFetch,
    writable: true,
    configurable: true,
    enumerable: true,
  });
}

interface ConnectOptions {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  rejectUnauthorized?: boolean;
  servername?: string;
}

type CreateConnection = (
  options: ConnectOptions,
  callback?: (err: Error | null, socket: Duplex) => void,
) => Duplex;

function patchAgent(prototype: object, protocol: 'http:' | 'https:'): void {
  const agent = prototype as { createConnection: CreateConnection };
  agent.createConnection = function createConnection(options: ConnectOptions): Duplex {
    const host = options.host ?? options.hostname ?? 'localhost';
    const port = Number(options.port ?? (protocol === 'https:' ? 443 : 80));
    const origin = `${protocol}//${host.includes(':') ? `[${host}]` : host}:${port}`;
    const [client, server] = streamPair(protocol === 'https:');
    // The request that made the connection: its log gets the call's line, its deadline ends it.
    const context = currentRequest();
    serving.set(server, {
      origin,
      validateCertificate: options.rejectUnauthorized !== false,
      context,
      client,
    });
    loopback.emit('connection', server);
    return client;
  };
}

interface Connection {
  origin: string;
  validateCertificate: boolean;
  context: ReturnType<typeof currentRequest>;
  client: FakeSocket;
}

const serving = new WeakMap<object, Connection>();

/**
 * Reads the requests Node's HTTP client writes on the in-process streams, and answers each
 * with the URL Fetch call's response. Never listens on any port.
 */
const loopback = createServer((req, res) => {
  const connection = serving.get(req.socket);
  if (!connection) {
    res.destroy();
    return;
  }
  const run = () => void answer(req, res, connection);
  if (connection.context) requestStorage.run(connection.context, run);
  else run();
});
// Node's client sends keep-alive; one connection carries one request's context, so it is not kept.
loopback.keepAliveTimeout = 0;

async function answer(req: IncomingMessage, res: ServerResponse, connection: Connection): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    // What the call's framing sets itself; `expect: 100-continue` means nothing to a buffered call.
    if (!/^(host|connection|keep-alive|transfer-encoding|content-length|expect)$/i.test(name))
      headers.push([name, req.rawHeaders[i + 1]!]);
  }
  const body = Buffer.concat(chunks);
  const method = req.method ?? 'GET';
  try {
    // The body as Node's client framed it, whatever the method: no web Request in between.
    const reply = await callThroughService(
      { method, url: `${connection.origin}${req.url ?? '/'}`, headers, body },
      { followRedirects: false, validateCertificate: connection.validateCertificate, allowTruncated: false },
    );
    const out: string[] = [];
    for (const [name, value] of reply.headers) {
      if (!/^(connection|keep-alive|transfer-encoding|content-length)$/i.test(name)) out.push(name, value);
    }
    out.push('Content-Length', String(reply.body.length), 'Connection', 'close');
    if (reply.statusText) res.writeHead(reply.status, reply.statusText, out);
    else res.writeHead(reply.status, out);
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  } catch (err) {
    // The client's request fails with URL Fetch's own error (code and message), as a socket error would.
    connection.client.destroy(err as Error);
    res.destroy();
  }
}

/**
 * A socket-shaped end of an in-process stream: what Node's HTTP client and libraries call on
 * a socket (timeouts, keep-alive, addresses) is there, and does what a socket would.
 */
class FakeSocket extends Duplex {
  other: FakeSocket | undefined;
  readonly encrypted: boolean;
  connecting = false;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly remoteFamily = 'IPv4';
  #timer: NodeJS.Timeout | undefined;
  #timeoutMs = 0;

  constructor(encrypted: boolean) {
    super({ allowHalfOpen: true });
    this.encrypted = encrypted;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#active();
    this.other?.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    clearTimeout(this.#timer);
    const other = this.other;
    this.other = undefined;
    if (other && !other.destroyed) other.destroy();
    callback(error);
  }

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    this.#active();
    return super.push(chunk, encoding);
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.#timeoutMs = ms;
    if (callback) this.once('timeout', callback);
    this.#active();
    return this;
  }

  #active(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0) {
      this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs);
      this.#timer.unref();
    }
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: '127.0.0.1', family: 'IPv4', port: 0 };
  }
}

function streamPair(encrypted: boolean): [FakeSocket, FakeSocket] {
  const client = new FakeSocket(encrypted);
  const server = new FakeSocket(encrypted);
  client.other = server;
  server.other = client;
  return [client, server];
}

/**
 * URL Fetch (SPEC S13), in the socket service process: an app's HTTP call made outside its
 * instance, with the same destination rules, resolver and no-rebinding dial as its sockets
 * (dial.ts), and URL Fetch's own limits: allowed ports, a request and a response size, a
 * deadline over the whole call, at most 5 redirects (each hop checked again), certificates
 * validated unless the app says not to, and the platform's word in the User-Agent.
 *
 * Bodies are buffered both ways, as App Engine's URL Fetch did: the call is one message in and
 * one out (docs/urlfetch.md).
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errnoError, type WireError } from '../../sockets/errno.js';
import { type DialDeps, dialTcp } from '../../sockets/service/dial.js';

/** What an app asks for (the `urlfetch` hello, protocol.ts), its body apart. */
export interface UrlFetchCall {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  /** The whole call, redirects included; the instance has already cut it to the request's deadline. */
  deadlineMs: number;
  followRedirects: boolean;
  validateCertificate: boolean;
  allowTruncated: boolean;
}

export interface UrlFetchLimits {
  maxRequestBytes: number;
  maxResponseBytes: number;
  maxDeadlineMs: number;
}

export interface UrlFetchResult {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  /** The URL that answered (after redirects). */
  url: string;
  redirects: number;
  /** The body was longer than the limit and cut there (`allowTruncated`). */
  truncated: boolean;
  body: Buffer;
}

export const MAX_REDIRECTS = 5;

export interface CallControl {
  /** Aborts the call: its caller is gone (the request's own deadline, the instance's end). */
  cancel?: AbortSignal;
  /** Takes `bytes` of response body from the service's budget; false: the budget is spent. */
  hold?(bytes: number): boolean;
}

/**
 * What the calls in flight may hold at once. The service buffers bodies (S13), so without a
 * bound one app's many big calls would take the memory of the process every app's sockets
 * live in: each app has at most `maxCallsPerApp` calls in flight, and all calls together hold
 * at most `maxBytes` of bodies. A call over either fails at once, saying which.
 *
 * @example
 * const budget = new UrlFetchBudget(256 * 2 ** 20, 32);
 */
export class UrlFetchBudget {
  readonly maxBytes: number;
  readonly maxCallsPerApp: number;
  #bytes = 0;
  readonly #calls = new Map<string, number>();

  constructor(maxBytes: number, maxCallsPerApp: number) {
    this.maxBytes = maxBytes;
    this.maxCallsPerApp = maxCallsPerApp;
  }

  /** Starts a call of `app`; throws ERR_URLFETCH_TOO_MANY_CALLS when it has its most in flight. */
  enter(app: string): void {
    const calls = this.#calls.get(app) ?? 0;
    if (calls >= this.maxCallsPerApp) {
      fail(
        'ERR_URLFETCH_TOO_MANY_CALLS',
        `urlfetch: app ${app} has ${calls} calls in flight, the most at once; wait for some to finish`,
      );
    }
    this.#calls.set(app, calls + 1);
  }

  leave(app: string): void {
    const calls = (this.#calls.get(app) ?? 1) - 1;
    if (calls > 0) this.#calls.set(app, calls);
    else this.#calls.delete(app);
  }

  take(bytes: number): boolean {
    if (this.#bytes + bytes > this.maxBytes) return false;
    this.#bytes += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#bytes = Math.max(0, this.#bytes - bytes);
  }

  /** Bodies held now, for tests and the service's own view. */
  get heldBytes(): number {
    return this.#bytes;
  }
}

/** The error of a call whose body the service's budget cannot hold now. */
export function budgetSpent(budget: UrlFetchBudget): never {
  return fail(
    'ERR_URLFETCH_BUSY',
    `urlfetch: the platform holds ${Math.round(budget.maxBytes / 2 ** 20)} MiB of URL Fetch bodies at once and that is in use now; try again shortly, or fetch less at a time`,
  );
}

/**
 * The ports URL Fetch may call (S13, as App Engine's): 80–90, 440–450, 1024–65535.
 *
 * @example
 * allowedUrlFetchPort(443) // true
 * allowedUrlFetchPort(25) // false
 */
export function allowedUrlFetchPort(port: number): boolean {
  return (port >= 80 && port <= 90) || (port >= 440 && port <= 450) || (port >= 1024 && port <= 65535);
}

/**
 * The request a redirect leads to (the fetch standard's rules): 303, and 301/302 after a POST,
 * become a GET without a body; 307 and 308 keep method and body. Undefined when `status` is no
 * redirect or has no Location.
 *
 * @example
 * redirectTarget('https://a.example/x', 'POST', 303, '/done') // { url: 'https://a.example/done', method: 'GET', dropBody: true }
 */
export function redirectTarget(
  from: string,
  method: string,
  status: number,
  location: string | undefined,
): { url: string; method: string; dropBody: boolean } | undefined {
  if (![301, 302, 303, 307, 308].includes(status) || !location) return undefined;
  let url: string;
  try {
    url = new URL(location, from).href;
  } catch {
    return undefined;
  }
  const toGet = status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST';
  return toGet ? { url, method: 'GET', dropBody: true } : { url, method, dropBody: false };
}

/** The platform's suffix of every call's User-Agent: the calling app is always named. */
export function userAgentFor(app: string, own: string | undefined): string {
  const suffix = `Hangar-URLFetch (+urlfetch; appid: ${app})`;
  return own ? `${own} ${suffix}` : suffix;
}

function fail(code: string, message: string, extra: Partial<WireError> = {}): never {
  throw errnoError({ code, message, syscall: 'urlfetch', ...extra });
}

/** Headers the platform sets itself on each hop: the app's own are dropped. */
const platformHeaders = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
]);

/**
 * Makes the call: every hop's destination is vetted and dialled like an app socket, so a
 * redirect to a refused address is refused too. Rejects with Node-style errors
 * (`ERR_URLFETCH_*`, `EACCES` from the policy, TLS codes for certificates).
 *
 * @example
 * const result = await performUrlFetch('shop', call, body, limits, { policy, resolver });
 */
export async function performUrlFetch(
  app: string,
  call: UrlFetchCall,
  body: Buffer,
  limits: UrlFetchLimits,
  deps: DialDeps,
  control: CallControl = {},
): Promise<UrlFetchResult> {
  const { cancel } = control;
  if (body.length > limits.maxRequestBytes) {
    fail(
      'ERR_URLFETCH_TOO_LARGE',
      `urlfetch: the request body has ${body.length} bytes, more than urlfetch.max_request_bytes (${limits.maxRequestBytes})`,
    );
  }
  const deadlineMs = Math.min(call.deadlineMs, limits.maxDeadlineMs);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deadlineMs);
  const cancelled = () => controller.abort();
  cancel?.addEventListener('abort', cancelled, { once: true });
  try {
    let url = call.url;
    let method = call.method.toUpperCase();
    let payload = body;
    let headers = call.headers;
    for (let redirects = 0; ; redirects++) {
      const hop = await oneHop(
        app,
        { ...call, url, method, headers },
        payload,
        limits,
        deps,
        controller.signal,
        control.hold,
      );
      const next = call.followRedirects
        ? redirectTarget(url, method, hop.status, headerValue(hop.headers, 'location'))
        : undefined;
      if (!next) return { ...hop, url, redirects };
      if (redirects >= MAX_REDIRECTS) {
        fail(
          'ERR_URLFETCH_TOO_MANY_REDIRECTS',
          `urlfetch: more than ${MAX_REDIRECTS} redirects, the last to ${next.url}; pass followRedirects: false to see each one`,
        );
      }
      url = next.url;
      method = next.method;
      if (next.dropBody) {
        payload = Buffer.alloc(0);
        headers = headers.filter(([name]) => !/^content-/i.test(name));
      }
    }
  } catch (err) {
    if (cancel?.aborted) fail('ECANCELED', 'urlfetch: the caller went away before the call ended');
    if (controller.signal.aborted) {
      fail(
        'ERR_URLFETCH_DEADLINE',
        `urlfetch: ${call.method} ${withoutQuery(call.url)} took longer than its deadline of ${deadlineMs} ms`,
      );
    }
    throw err;
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', cancelled);
  }
}

async function oneHop(
  app: string,
  call: UrlFetchCall,
  body: Buffer,
  limits: UrlFetchLimits,
  deps: DialDeps,
  signal: AbortSignal,
  hold: ((bytes: number) => boolean) | undefined,
): Promise<Omit<UrlFetchResult, 'url' | 'redirects'>> {
  let target: URL;
  try {
    target = new URL(call.url);
  } catch {
    return fail('ERR_INVALID_URL', `urlfetch: '${call.url.slice(0, 200)}' is not a URL`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    fail('ERR_URLFETCH_PROTOCOL', `urlfetch: ${target.protocol} URLs cannot be fetched; use http: or https:`);
  }
  const secure = target.protocol === 'https:';
  const port = Number(target.port || (secure ? 443 : 80));
  if (!allowedUrlFetchPort(port)) {
    fail(
      'ERR_URLFETCH_BAD_PORT',
      `urlfetch: port ${port} of ${target.host} is not allowed; URL Fetch calls ports 80-90, 440-450 and 1024-65535 (use the Sockets API for others)`,
      { port },
    );
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const { socket } = await dialTcp({ host, port }, deps);
  if (signal.aborted) {
    socket.destroy();
    throw signal.reason;
  }
  const stream = secure ? await secureOver(socket, host, call.validateCertificate, signal) : socket;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of call.headers) {
    const lower = name.toLowerCase();
    if (platformHeaders.has(lower) || lower === 'user-agent') continue;
    const prior = headers[lower];
    headers[lower] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  headers.host = target.host;
  headers['user-agent'] = userAgentFor(app, headerValue(call.headers, 'user-agent'));
  headers.connection = 'close';
  if (body.length > 0 || !['GET', 'HEAD'].includes(call.method))
    headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req: ClientRequest = httpRequest({
      method: call.method,
      path: `${target.pathname}${target.search}`,
      headers,
      createConnection: () => stream,
      signal,
    });
    req.on('error', reject);
    req.on('response', (res) => readResponse(res, call, limits, target, hold).then(resolve, reject));
    req.end(body.length > 0 ? body : undefined);
  });
}

function secureOver(socket: Socket, host: string, validate: boolean, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      // An IP address is no server name (SNI carries names only).
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      rejectUnauthorized: validate,
      ALPNProtocols: ['http/1.1'],
    });
    const abort = () => tls.destroy(signal.reason as Error);
    signal.addEventListener('abort', abort, { once: true });
    tls.once('secureConnect', () => {
      signal.removeEventListener('abort', abort);
      resolve(tls);
    });
    tls.once('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', abort);
      if (validate && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME/i.test(err.code ?? '')) {
        reject(
          errnoError({
            code: err.code ?? 'ERR_TLS_CERT',
            syscall: 'urlfetch',
            hostname: host,
            message: `urlfetch: the certificate of ${host} is not valid (${err.message}); pass validateCertificate: false to call it anyway`,
          }),
        );
      } else reject(err);
    });
  });
}

function readResponse(
  res: IncomingMessage,
  call: UrlFetchCall,
  limits: UrlFetchLimits,
  target: URL,
  hold: ((bytes: number) => boolean) | undefined,
): Promise<Omit<UrlFetchResult, 'url' | 'redirects'>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    const done = () => {
      const headers: Array<[string, string]> = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2)
        headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers,
        truncated,
        body: Buffer.concat(chunks, size),
      });
    };
    res.on('data', (chunk: Buffer) => {
      if (truncated) return;
      if (hold && !hold(chunk.length)) {
        res.destroy();
        reject(
          errnoError({
            code: 'ERR_URLFETCH_BUSY',
            syscall: 'urlfetch',
            message:
              'urlfetch: the platform holds all the URL Fetch bodies it can at once just now; try again shortly, or fetch less at a time',
          }),
        );
        return;
      }
      if (size + chunk.length > limits.maxResponseBytes) {
        if (!call.allowTruncated) {
          res.destroy();
          reject(
            errnoError({
              code: 'ERR_URLFETCH_TOO_LARGE',
              syscall: 'urlfetch',
              message: `urlfetch: the response of ${target.host}${target.pathname} is longer than urlfetch.max_response_bytes (${limits.maxResponseBytes}); pass allowTruncated: true to take its first ${limits.maxResponseBytes} bytes`,
            }),
          );
          return;
        }
        chunks.push(chunk.subarray(0, limits.maxResponseBytes - size));
        size = limits.maxResponseBytes;
        truncated = true;
        res.destroy();
        done();
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', done);
    res.on('error', (err) => {
      if (!truncated) reject(err);
    });
  });
}

function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  for (const [key, value] of headers) if (key.toLowerCase() === name) return value;
  return undefined;
}

function withoutQuery(url: string): string {
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

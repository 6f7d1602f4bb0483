/**
 * Hangar's instance runtime for the Node processes of an app's own server (SPEC S4.3), preloaded
 * with `--import` through NODE_OPTIONS (entrypoint.ts sets it, with HANGAR_PRELOAD), so that an
 * Express app started by `npm start` has what a module handler has:
 *
 * - `net`/`tls`/`dgram`/`dns` through the socket service (S12), except the one TCP port the
 *   platform gave the server (PORT), on 127.0.0.1 only;
 * - each incoming request in a context of its own: `console.*` lines written while handling it
 *   leave as JSON lines with its `requestId` on stdout, which the instance files under the
 *   request (S9); `process.env` holds its S8 variables (REQUEST_LOG_ID, ...); its deadline
 *   (S6) aborts the context's signal, which `hangar`'s APIs and the sockets shim honour;
 * - `hangar` imports and TypeScript, through the instance's loader hooks.
 *
 * `npm` itself, a Node process too, is left alone: it serves no request.
 */
import { Server } from 'node:http';
import { register } from 'node:module';
import { format } from 'node:util';
import type { LogLevel } from '../shared/log-levels.js';
import { DeadlineExceededError } from './deadline.js';
import { DEADLINE_HEADER, PRELOAD_ENV, type PreloadConfig } from './preload-contract.js';
import { installPerRequestEnv, requestStorage } from './request-context.js';
import type { RequestFacts } from './request-env.js';
import { RequestState } from './request-state.js';

const severity: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warning: 'WARNING',
  error: 'ERROR',
  critical: 'CRITICAL',
};

const raw = process.env[PRELOAD_ENV];
/**
 * npm itself (`npm start` runs the app's script as its child) serves no request: the preload
 * leaves it alone, which spares every instance start a loader thread and a socket service
 * connection in npm's process.
 */
const npmItself = /[\\/]npm[\\/]bin[\\/]np[mx]-cli\.js$/.test(process.argv[1] ?? '');
const config = raw && !npmItself ? (JSON.parse(raw) as PreloadConfig) : undefined;

if (config) {
  if (config.sockets) {
    const { installSocketShim } = await import('../sockets/client/install.js');
    installSocketShim({
      ...config.sockets,
      instance: config.instanceId,
      service: config.service,
      version: config.version,
      ownTcpPort: config.port,
    });
  }
  installPerRequestEnv();
  captureRequestConsole();
  bindRequests();
  register('./loader-hooks.js', { parentURL: import.meta.url, data: { cacheDir: config.cacheDir } });
}

/**
 * `console.*` inside a request: a JSON line with its id and severity on stdout (one write, so
 * lines of concurrent requests never interleave); outside one, Node's own console.
 */
function captureRequestConsole(): void {
  const methods: Array<['debug' | 'log' | 'info' | 'warn' | 'error', LogLevel]> = [
    ['debug', 'debug'],
    ['log', 'info'],
    ['info', 'info'],
    ['warn', 'warning'],
    ['error', 'error'],
  ];
  for (const [method, level] of methods) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const store = requestStorage.getStore();
      if (!store) return original(...args);
      const message = args.length === 1 && typeof args[0] === 'string' ? args[0] : format(...args);
      process.stdout.write(
        `${JSON.stringify(structured(message, store.requestId) ?? { severity: severity[level], message, requestId: store.requestId })}\n`,
      );
    };
  }
}

/**
 * A line the app already wrote in App Engine's structured form (a JSON object with `severity`)
 * keeps its own fields, and gets the request's id when it names no request.
 */
function structured(text: string, requestId: string): Record<string, unknown> | undefined {
  if (text.charCodeAt(0) !== 123 /* { */) return undefined;
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined;
  const fields = entry as Record<string, unknown>;
  if (typeof fields.severity !== 'string') return undefined;
  return fields.requestId === undefined ? { ...fields, requestId } : fields;
}

/** Runs every HTTP server's `request` listeners inside the request's context (its facts from the headers the instance sent). */
function bindRequests(): void {
  const emit = Server.prototype.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
    if (event !== 'request') return emit.call(this, event, ...args);
    const req = args[0] as import('node:http').IncomingMessage;
    const res = args[1] as import('node:http').ServerResponse;
    const requestId = req.headers['x-appengine-request-log-id'];
    if (typeof requestId !== 'string') return emit.call(this, event, ...args);
    const deadline = Number(req.headers[DEADLINE_HEADER]);
    hideHeader(req, DEADLINE_HEADER);
    const state = new RequestState(factsOf(req, requestId));
    let timer: NodeJS.Timeout | undefined;
    if (deadline > 0) {
      timer = setTimeout(
        () => state.abort.abort(new DeadlineExceededError()),
        Math.max(0, deadline - Date.now()),
      );
      res.once('close', () => clearTimeout(timer));
    }
    return requestStorage.run(state, () => emit.call(this, event, ...args));
  } as typeof Server.prototype.emit;
}

function factsOf(req: import('node:http').IncomingMessage, requestId: string): RequestFacts {
  const forwardedFor = String(req.headers['x-forwarded-for'] ?? '');
  return {
    requestId,
    // The front end appends the client it saw last.
    remoteAddr: forwardedFor.split(',').at(-1)?.trim() || '',
    https: req.headers['x-forwarded-proto'] === 'https',
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    httpVersion: req.httpVersion,
    headers: req.headers,
  };
}

/** Removes a header the instance added for this runtime, so the app's code never sees it. */
function hideHeader(req: import('node:http').IncomingMessage, name: string): void {
  delete req.headers[name];
  const rawHeaders = req.rawHeaders;
  for (let i = rawHeaders.length - 2; i >= 0; i -= 2) {
    if (rawHeaders[i]!.toLowerCase() === name) rawHeaders.splice(i, 2);
  }
}

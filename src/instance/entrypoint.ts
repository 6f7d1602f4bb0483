/**
 * The app's own server inside an instance (SPEC S4.3): for `script: auto` handlers (and every
 * request of an app.yaml without `handlers:`), the instance runs the entrypoint command —
 * `entrypoint:`, else `npm start` as App Engine does — with `PORT` set, waits until it accepts
 * connections there, and proxies each request the front end sends over the request channel to
 * it over HTTP/1.1 on 127.0.0.1. The front end's pipeline (limits, deadlines, rewriting, gzip,
 * logs) stays in front, as for module handlers.
 *
 * The server runs in a process group of its own, ended with the instance: by the instance when
 * it stops or the platform goes, and by the platform (told the group's leader) when the
 * instance itself was killed. If the server exits, so does the instance, and the platform
 * replaces it. Its stdout and stderr lines are the app's log lines (S9): a JSON line with
 * `severity` and the request's `requestId` or `logging.googleapis.com/trace` belongs to that
 * request, anything else is an instance line (stdout info, stderr error, as App Engine files
 * them).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { HangarError } from '../shared/errors.js';
import { hopByHop } from '../shared/hop-by-hop.js';
import type { LogLevel } from '../shared/log-levels.js';
import { DeadlineExceededError } from './deadline.js';
import { logLine, requestLine } from './log-capture.js';
import { DEADLINE_HEADER, PRELOAD_ENV, type PreloadConfig } from './preload-contract.js';

/**
 * `net` as Node made it, kept before the sockets shim patches it for app code (main.ts imports
 * this module first): the instance's own connections to the app's server stay on its loopback,
 * which the shim (rightly) refuses to app code.
 */
const RawSocket = net.Socket;
const rawConnect = net.Socket.prototype.connect;
const rawListen = net.Server.prototype.listen;

/** A connection to 127.0.0.1:`port` made with Node's own `net`. */
function loopbackConnection(port: number): net.Socket {
  const socket = new RawSocket();
  (rawConnect as (this: net.Socket, port: number, host: string) => net.Socket).call(
    socket,
    port,
    '127.0.0.1',
  );
  return socket;
}

/** How often the server's port is tried while it starts. */
const READY_POLL_MS = 25;
/** The last stderr lines kept to explain a server that never listened or exited. */
const TAIL_LINES = 20;
/** How long the server has to exit after SIGTERM when the instance stops. */
const STOP_GRACE_MS = 5_000;
/** Trace ids of finished requests kept, for lines that arrive after their response. */
const RECENT_TRACES = 1024;

export interface EntrypointOptions {
  command: string;
  appDir: string;
  /** The instance's environment; PORT is added. */
  env: NodeJS.ProcessEnv;
  /**
   * What the server's Node processes get preloaded (entrypoint-preload.ts), without the port,
   * which is chosen here. Undefined: nothing preloaded.
   */
  preload?: Omit<PreloadConfig, 'port'>;
  startTimeoutMs: number;
  /** Slots of the instance: connections kept open to the server. */
  connections: number;
  /** The server's process was started: `pid` leads its process group. */
  onSpawn?(pid: number): void;
  /** The server has exited on its own (not stopped): the instance must end. */
  onExit(reason: string): void;
}

/** One request as the channel server hands it over. */
export interface ProxiedRequest {
  method: string;
  /** Path and query. */
  url: string;
  /** Flat `[name, value, ...]`, as the front end sanitised them. */
  headers: readonly string[];
  body: Buffer;
  requestId: string;
  /** Aborted at the request's deadline, or when the front end gives up on it. */
  signal: AbortSignal;
  /** Epoch ms of the request's deadline, for the server's preloaded runtime (its ctx signal). */
  deadlineAt?: number | undefined;
  maxResponseBytes: number;
}

export type ProxiedResponse =
  | { status: number; headers: string[]; body: Buffer }
  | { tooLarge: number; status: number; headers: string[] };

export interface EntrypointServer {
  readonly pid: number;
  readonly port: number;
  forward(request: ProxiedRequest): Promise<ProxiedResponse>;
  /** SIGTERM to its group, SIGKILL after a grace period; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL to its group at once (the instance is going away). */
  kill(): void;
}

/**
 * Starts the server and resolves once it accepts connections on PORT; rejects with a message
 * that says what happened (it exited, or never listened within the start timeout) and the last
 * lines of its stderr.
 *
 * @example
 * const server = await startEntrypoint({ command: 'npm start', appDir, env: process.env, startTimeoutMs: 30_000, connections: 10, onExit });
 */
export async function startEntrypoint(options: EntrypointOptions): Promise<EntrypointServer> {
  const port = await freePort();
  const child = spawn('/bin/sh', ['-c', options.command], {
    cwd: options.appDir,
    env: {
      // `npm start` must not look for a newer npm on the registry at every instance start.
      npm_config_update_notifier: 'false',
      ...options.env,
      ...preloadEnvironment(options.env, options.preload, port),
      PORT: String(port),
    },
    // Its own process group: stopping it reaches `npm start`'s children too.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new HangarError(
      'INSTANCE_START_FAILED',
      `the entrypoint \`${options.command}\` could not be started (spawn /bin/sh failed)`,
    );
  }
  options.onSpawn?.(pid);
  const tail: string[] = [];
  const traces = new TraceIndex();
  readLines(child, 'stdout', 'info', traces);
  readLines(child, 'stderr', 'error', traces, (line) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  });
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve(signal ? `was ended by ${signal}` : `exited with code ${code}`),
    );
  });
  const explain = (what: string) =>
    `the entrypoint \`${options.command}\` ${what}` +
    (tail.length > 0 ? `\n--- its stderr ---\n${tail.join('\n')}` : ' (it wrote nothing to stderr)');

  const startedAt = Date.now();
  for (;;) {
    const outcome = await Promise.race([accepts(port), exited.then((why) => `exit:${why}`)]);
    if (outcome === true) break;
    if (typeof outcome === 'string') {
      throw new HangarError(
        'INSTANCE_START_FAILED',
        explain(`${outcome.slice(5)} before it listened on PORT ${port}`),
      );
    }
    if (Date.now() - startedAt > options.startTimeoutMs) {
      killGroup(pid);
      throw new HangarError(
        'INSTANCE_START_FAILED',
        explain(
          `did not accept connections on PORT ${port} within ${options.startTimeoutMs} ms; it must listen on process.env.PORT (e.g. app.listen(process.env.PORT))`,
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  void exited.then((why) => {
    if (!stopping) options.onExit(explain(why));
  });

  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(1, options.connections) });
  // Node's own connections (see RawSocket), not the patched net the Agent would use.
  (agent as unknown as { createConnection: () => net.Socket }).createConnection = () =>
    loopbackConnection(port);
  return {
    pid,
    port,
    forward: (request) => forward(port, agent, request, traces),
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      agent.destroy();
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
      // What it left running in its group goes with it.
      killGroup(pid);
    },
    kill() {
      stopping = true;
      killGroup(pid);
    },
  };
}

/** The preload's file, for NODE_OPTIONS. */
const preloadUrl = new URL('./entrypoint-preload.js', import.meta.url).href;

/**
 * NODE_OPTIONS and HANGAR_PRELOAD for the server's Node processes: Hangar's runtime preloaded
 * into each (`npm start` → node server.js), after whatever NODE_OPTIONS the app set.
 */
function preloadEnvironment(
  env: NodeJS.ProcessEnv,
  preload: EntrypointOptions['preload'],
  port: number,
): Record<string, string> {
  if (!preload) return {};
  const own = env.NODE_OPTIONS?.trim();
  return {
    NODE_OPTIONS: `${own ? `${own} ` : ''}--import ${JSON.stringify(preloadUrl)}`,
    [PRELOAD_ENV]: JSON.stringify({ ...preload, port } satisfies PreloadConfig),
  };
}

/** A port nobody listens on now, on 127.0.0.1 (the server gets it as PORT). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = new net.Server();
    probe.once('error', reject);
    (rawListen as (this: net.Server, port: number, host: string, cb: () => void) => net.Server).call(
      probe,
      0,
      '127.0.0.1',
      () => {
        const address = probe.address();
        probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
      },
    );
  });
}

/** True once a connection to the port succeeds; false when it is refused. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = loopbackConnection(port);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone.
  }
}

function killGroup(pid: number): void {
  signalGroup(pid, 'SIGKILL');
}

function forward(
  port: number,
  agent: Agent,
  request: ProxiedRequest,
  traces: TraceIndex,
): Promise<ProxiedResponse> {
  const trace = traceOf(request.headers);
  if (trace) traces.add(trace, request.requestId);
  const headers: string[] = [];
  for (let i = 0; i < request.headers.length; i += 2) {
    const name = request.headers[i]!;
    if (name.toLowerCase() === 'content-length') continue;
    headers.push(name, request.headers[i + 1]!);
  }
  // App Engine's own header for the request's log id, and the deadline for the preloaded runtime
  // (which hides it from the app); clients can send neither X-AppEngine-* nor X-Hangar-* (S5).
  headers.push(
    'X-Appengine-Request-Log-Id',
    request.requestId,
    'Content-Length',
    String(request.body.length),
  );
  if (request.deadlineAt !== undefined) headers.push(DEADLINE_HEADER, String(request.deadlineAt));
  return new Promise((resolve, reject) => {
    if (request.signal.aborted) return reject(abortReason(request.signal));
    const upstream = httpRequest({
      host: '127.0.0.1',
      port,
      method: request.method,
      path: request.url,
      headers,
      agent,
    });
    const onAbort = () => upstream.destroy(abortReason(request.signal));
    request.signal.addEventListener('abort', onAbort, { once: true });
    const done = () => request.signal.removeEventListener('abort', onAbort);
    upstream.once('error', (err) => {
      done();
      reject(err);
    });
    upstream.once('response', (response: IncomingMessage) => {
      const answerHeaders: string[] = [];
      const raw = response.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (hopByHop.has(name) || name === 'content-length') continue;
        answerHeaders.push(name, raw[i + 1]!);
      }
      const status = response.statusCode ?? 502;
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > request.maxResponseBytes) {
        done();
        response.destroy();
        return resolve({ tooLarge: declared, status, headers: answerHeaders });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > request.maxResponseBytes) {
          done();
          response.destroy();
          resolve({ tooLarge: -1, status, headers: answerHeaders });
          return;
        }
        chunks.push(chunk);
      });
      response.once('end', () => {
        done();
        if (size <= request.maxResponseBytes) {
          resolve({ status, headers: answerHeaders, body: Buffer.concat(chunks, size) });
        }
      });
      response.once('error', (err) => {
        done();
        reject(err);
      });
    });
    upstream.end(request.body);
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DeadlineExceededError(0);
}

/** The trace id of `X-Cloud-Trace-Context: TRACE/SPAN;o=1`, which the front end always sets. */
function traceOf(headers: readonly string[]): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'x-cloud-trace-context') continue;
    const value = headers[i + 1]!;
    const slash = value.indexOf('/');
    return slash > 0 ? value.slice(0, slash) : value.split(';')[0];
  }
  return undefined;
}

/** Request ids by trace id, for requests in flight and the last RECENT_TRACES finished. */
class TraceIndex {
  readonly #ids = new Map<string, string>();

  add(trace: string, requestId: string): void {
    this.#ids.set(trace, requestId);
    if (this.#ids.size > RECENT_TRACES) this.#ids.delete(this.#ids.keys().next().value!);
  }

  requestOf(trace: string): string | undefined {
    return this.#ids.get(trace);
  }
}

/** App Engine's `severity` names (Cloud Logging) → the request log's levels. */
const severities: Record<string, LogLevel> = {
  DEFAULT: 'info',
  DEBUG: 'debug',
  INFO: 'info',
  NOTICE: 'info',
  WARNING: 'warning',
  WARN: 'warning',
  ERROR: 'error',
  CRITICAL: 'critical',
  ALERT: 'critical',
  EMERGENCY: 'critical',
};

/**
 * The request and level of one output line: a JSON line with `severity` and `requestId` (or a
 * `logging.googleapis.com/trace` of a known request) is that request's line at that level;
 * anything else is an instance line at `fallback`.
 *
 * @example
 * classifyLine('{"severity":"WARNING","message":"slow","requestId":"abc"}', 'info', () => undefined)
 * // { requestId: 'abc', level: 'warning', message: 'slow' }
 */
export function classifyLine(
  line: string,
  fallback: LogLevel,
  requestOfTrace: (trace: string) => string | undefined,
): { requestId?: string; level: LogLevel; message: string } {
  if (line.charCodeAt(0) === 123 /* { */) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const entry = parsed as Record<string, unknown>;
      const level = typeof entry.severity === 'string' ? severities[entry.severity.toUpperCase()] : undefined;
      const message =
        typeof entry.message === 'string'
          ? entry.message
          : typeof entry.textPayload === 'string'
            ? entry.textPayload
            : line;
      let requestId = typeof entry.requestId === 'string' ? entry.requestId : undefined;
      const trace = entry['logging.googleapis.com/trace'];
      if (requestId === undefined && typeof trace === 'string') {
        // `projects/PROJECT/traces/TRACE` or the bare trace id.
        requestId = requestOfTrace(trace.slice(trace.lastIndexOf('/') + 1));
      }
      if (level !== undefined) return requestId ? { requestId, level, message } : { level, message };
    }
  }
  return { level: fallback, message: line };
}

function readLines(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  fallback: LogLevel,
  traces: TraceIndex,
  also?: (line: string) => void,
): void {
  const source = child[stream];
  if (!source) return;
  const lines = createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    also?.(line);
    const { requestId, level, message } = classifyLine(line, fallback, (trace) => traces.requestOf(trace));
    if (requestId) requestLine(requestId, level, message);
    else logLine(level, message);
  });
}

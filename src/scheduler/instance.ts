/**
 * The instance seam (ARCHITECTURE.md "The instance seam"): everything above the scheduler
 * reaches an instance through a `Lease` from its pool, and the pool holds instances only as
 * `InstanceHandle`s made by an `InstanceFactory`. How an instance runs (a Node process with
 * a request channel, a CGI process per request, an app's own server on PORT, a pod elsewhere)
 * and how bytes reach it are the implementation's business, the way devappserver2 keeps the
 * process, the transport and the slot accounting apart.
 */
import type { Expiry } from '../shared/expiry.js';
import type { PackedLines } from '../shared/request-channel.js';

/** Where an instance is in its life. */
export type InstanceState = 'starting' | 'ready' | 'draining' | 'stopped';

/**
 * Who made a request: a client (`user`), or the platform itself before the instance takes
 * traffic (`start`: `/_ah/start` for manual scaling; `warmup`: `/_ah/warmup`, S6).
 */
export type RequestKind = 'user' | 'start' | 'warmup';

/** One buffered request for an instance, as the front end sanitised it (S5 step 5). */
export interface InstanceRequest {
  kind: RequestKind;
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  httpVersion: string;
  /** Flat `[name, value, ...]`, hop-by-hop and client `X-Hangar-*` headers removed; the body's length set. */
  headers: string[];
  /** The whole body, in the chunks it arrived in (empty for none, or when it is in `bodyFile`). */
  body: readonly Buffer[];
  /** The body, when the front end buffered it in a file (src/frontend/body-spool.ts). */
  bodyFile?: { readonly file: string; readonly length: number };
  /** Index of the handler among the version's script handlers (the instance's `modules`). */
  handler: number;
  requestId: string;
  remoteAddr: string;
  https: boolean;
  /** Epoch ms of the request's deadline; the handler's `ctx.signal` aborts then (S6). */
  deadlineAt?: number;
  /** Fires when the front end gives up on the request (deadline and grace passed). */
  expiry?: Expiry;
}

/** An instance's whole answer (S5 step 6: never streamed). */
export interface InstanceResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** App lines the request wrote, in the request log's stored JSON form (S9). */
  lines: PackedLines | undefined;
  /** `lines` are all of the request's lines: none are still on their way over IPC. */
  linesComplete: boolean;
  /**
   * A CGI script's local redirect (S4.2): path and query that the front end dispatches again
   * as a GET, answering with that instead of this response.
   */
  localRedirect?: string;
}

/**
 * A response the platform refuses after it came (RESPONSE_TOO_LARGE) still ran the handler:
 * the error `send` rejects with carries the lines the request wrote, for its log entry.
 */
export interface LinesOfRefusedResponse {
  lines?: PackedLines | undefined;
  linesComplete?: boolean;
}

/** How far over its memory an instance is: its class's limit, or the hard cap above it. */
export type MemoryLevel = 'limit' | 'cap';

/** The hard memory cap, as a multiple of the class's limit (docs/security.md). */
export const memoryCapFactor = 1.25;

/** Why an instance ended, for the pool's decisions and the platform's log. */
export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it ended, when the platform or the kernel ended it (e.g. the memory cap). */
  reason?: string;
}

/**
 * One instance as the pool holds it. Slot accounting (in flight, served, idle since) is the
 * pool's; the handle only runs requests. Implementations: `ModuleInstance` (module-instance.ts).
 */
export interface InstanceHandle {
  readonly id: string;
  readonly state: InstanceState;
  /** The process that runs it, when it is a local process. */
  readonly pid: number | undefined;
  readonly startedAt: Date;
  /** Milliseconds from start to ready; undefined while starting. */
  readonly readyMs: number | undefined;
  /** Resident memory from the last report (bytes; 0 until one came). */
  readonly rss: number;
  /** Why the platform killed it, for the requests that were on it. */
  readonly killedBecause: string | undefined;
  /**
   * Epoch ms of its last sign of life (a heartbeat, a pong): its event loop answers several
   * times a second, so a stale value means a blocked loop (S6). Undefined while starting.
   */
  readonly lastHeardAt: number | undefined;
  /** Resolves once it takes requests; rejects with HangarError INSTANCE_START_FAILED and the reason. */
  start(): Promise<void>;
  /**
   * Runs one request and resolves with its whole response. Rejects with the expiry's reason
   * when `request.expiry` fires first; with an error whose `code` is `ECONNREFUSED`/`ENOENT`
   * when the request never reached the instance, and another connection error when it was
   * lost on the way back; with HangarError RESPONSE_TOO_LARGE or UPSTREAM_INVALID for an
   * answer that cannot be passed on. `lease.send()` turns these into the S6 outcomes.
   */
  send(request: InstanceRequest): Promise<InstanceResponse>;
  /** True when it answers within `timeoutMs`: a blocked event loop cannot (S6, stuck vs slow). */
  ping(timeoutMs: number): Promise<boolean>;
  /** Asks it to exit (its requests are already drained) and kills it if it does not, in time. */
  stop(): Promise<void>;
  /** Ends it at once; `reason` is kept as `killedBecause`. */
  kill(reason?: string): void;
  /** Called once when it ends, expectedly or not. */
  onExit(listener: (exit: InstanceExit) => void): void;
  /**
   * Called once when its memory first passes its class's limit (`limit`: replace it after its
   * requests), and once more if it passes the hard cap (`cap`: it must end now).
   */
  onMemoryExceeded(listener: (level: MemoryLevel) => void): void;
}

/** Makes the instances of one version's code; a pool reloads by taking a new factory. */
export interface InstanceFactory {
  /** A new instance, not started yet. */
  create(): InstanceHandle;
  /** Requests one instance takes at once (1 when threadsafe: false). */
  readonly slots: number;
  /** Resident memory above which an instance is replaced (instance_class, S6). */
  readonly memoryLimitBytes: number;
}

/**
 * A request's hold on one slot of one instance. `send` runs the request there and turns a
 * failure into what it means for the client (S6): HangarError DEADLINE_EXCEEDED (the
 * instance is checked for a blocked loop), INSTANCE_EXITED or INSTANCE_KILLED (a lost
 * instance; `retryable` when the request never reached it). `release()` exactly once.
 */
export interface Lease {
  readonly instanceId: string;
  /** How long the request waited in the pending queue. */
  readonly pendingMs: number;
  /** Set once `send` was called, when this was the instance's first request: a loading request (S6, S9). */
  readonly loading: boolean;
  send(request: InstanceRequest): Promise<InstanceResponse>;
  release(): void;
}

/** Codes of a connection to an instance that failed or broke: the instance is gone or going. */
const connectionCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'ECONNREFUSED', 'ENOENT', 'EPIPE']);

/** True when `err` (from `InstanceHandle.send`) says the connection failed, not the answer. */
export function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && connectionCodes.has(code);
}

/** True when the request never left for the instance (refused, or no socket): nothing ran. */
export function neverDelivered(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT';
}

/**
 * True for an error of `lease.send` whose request never reached the instance: it may be sent
 * once more, on another instance (S6 forbids running a request twice, not retrying one that
 * never ran).
 */
export function isRetryable(err: unknown): boolean {
  return (err as { retryable?: unknown } | undefined)?.retryable === true;
}

/** What the front end needs of a version's instances. */
export interface InstancePool {
  /** A slot, at once or after the pending queue; rejects with PENDING_TIMEOUT (503) or the start error. */
  acquire(): Promise<Lease>;
  /**
   * A slot on one instance, for a request addressed to it (S11 `INSTANCE-dot-...`, admin only):
   * at once when that instance serves and has a free slot; otherwise a rejection at once with
   * HangarError INSTANCE_UNAVAILABLE (503) saying why (busy, starting, draining, unresponsive,
   * gone). It never queues, starts an instance or scales; the lease counts like acquire()'s.
   * A pool without it cannot be addressed by instance (the front end answers 503).
   */
  acquireInstance?(instanceId: string): Promise<Lease>;
}

/** An instance as the admin API, metering and the CLI see it: the handle's facts and the pool's counts. */
export interface InstanceStatus {
  id: string;
  state: InstanceState;
  pid: number | undefined;
  startedAt: Date;
  readyMs: number | undefined;
  rss: number;
  memoryLimitBytes: number;
  slots: number;
  inflight: number;
  served: number;
}

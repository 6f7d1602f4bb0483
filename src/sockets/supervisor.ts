/**
 * The platform's side of the socket service (runs in the platform process): starts the
 * service process, races "ready" against "failed", "exited" and a timeout (so a crash at start
 * becomes an error carrying its stderr; shared/supervised-child.ts), restarts it if it dies,
 * answers the admin API's socket list and metering's byte totals (shared/pending-replies.ts),
 * and stops it with the platform, killing it by its pid if it does not exit in time.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlatformConfig } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { PendingReplies } from '../shared/pending-replies.js';
import { runSocketPath } from '../shared/socket-path.js';
import { ChildStartError, SupervisedChild } from '../shared/supervised-child.js';
import {
  FromService,
  NODE_NAME,
  type ServiceInit,
  type SocketBytes,
  type SocketView,
  type ToService,
} from './ipc.js';
import { appToken } from './protocol.js';

const serviceMain = fileURLToPath(new URL('./service/main.js', import.meta.url));

export interface StartSocketServiceOptions {
  dataDir: string;
  config: PlatformConfig['sockets'];
  /** URL Fetch's limits (S13): the service makes the calls. */
  urlfetch?: PlatformConfig['urlfetch'];
  mode: 'dev' | 'serve';
  logger: Logger;
  /**
   * Metering: called about once a second (and once more at close) with the bytes an app
   * version's sockets moved since the last call, both directions together (S10 counts them
   * as outgoing bandwidth).
   */
  onBytes?(delta: SocketBytes): void;
  /**
   * One node of a platform on a PostgreSQL database (S16, docs/sockets.md "Several nodes"):
   * descriptors name `node` (`hsk2.<node>.<id>.<secret>`), open sockets are kept in the
   * database's socket registry, and `attach` of another node's socket is forwarded to it.
   * Without it, a single node as before (`hsk1` descriptors).
   */
  database?: { url: string; node: string };
  /**
   * With `database`: the address of the peer listener other nodes forward attaches to
   * (default 127.0.0.1, which only serves nodes on this machine; give an address of the nodes'
   * private network otherwise, never a public one). `0.0.0.0`/`::` are advertised to the other
   * nodes as this machine's host name.
   */
  peerHost?: string;
  /** With `database`: the peer listener's port (default 0: any free port, recorded in the database). */
  peerPort?: number;
  /** With `database`: how often bytes and activity of open sockets are written to the database (default 2000 ms). */
  registrySyncMs?: number;
}

/** The supervisor's timeouts, from the platform config (`sockets.start_timeout`, ...). */
type Timeouts = Pick<
  PlatformConfig['sockets'],
  'startTimeoutMs' | 'stopTimeoutMs' | 'requestTimeoutMs' | 'restartDelayMs'
>;

/** What an instance needs to reach the service (InstanceInit `sockets`). */
export interface SocketsInit {
  path: string;
  app: string;
  token: string;
}

export interface SocketServiceHandle {
  readonly path: string;
  readonly pid: number | undefined;
  /** The `sockets` part of an instance's start configuration for `app`. */
  instanceInit(app: string): SocketsInit;
  /**
   * Open sockets, for `GET /api/sockets` and `hangar sockets list`; with `database`, every
   * node's, each with its `node`.
   */
  list(): Promise<SocketView[]>;
  /**
   * The metering hook: socket bytes per app version since the platform started, both
   * directions (S10 counts them as outgoing bandwidth). Cumulative; take differences to meter
   * an interval. Survives restarts of the service process.
   */
  socketBytesByApp(): Promise<SocketBytes[]>;
  close(): Promise<void>;
}

/**
 * Starts the socket-service process and resolves once it listens.
 *
 * @example
 * const sockets = await startSocketService({ dataDir, config: platformConfig.sockets, mode: 'dev', logger });
 * instanceSpec.sockets = sockets.instanceInit('guestbook');
 */
export async function startSocketService(options: StartSocketServiceOptions): Promise<SocketServiceHandle> {
  const supervisor = new Supervisor(options);
  await supervisor.start();
  return supervisor;
}

class Supervisor implements SocketServiceHandle {
  readonly path: string;
  readonly #options: StartSocketServiceOptions;
  readonly #timeouts: Timeouts;
  readonly #key = randomBytes(32).toString('hex');
  #child: SupervisedChild | undefined;
  #closing = false;
  readonly #replies = new PendingReplies<SocketView[] | SocketBytes[]>();
  /** Totals of service processes that are gone, added to the live one's. */
  #carried = new Map<string, SocketBytes>();
  /** The live process's totals at the last poll: carried over if it dies, and the base of deltas. */
  #lastSeen: SocketBytes[] = [];
  #pollTimer: NodeJS.Timeout | undefined;

  constructor(options: StartSocketServiceOptions) {
    this.#options = options;
    this.#timeouts = options.config;
    this.path = runSocketPath(join(options.dataDir, 'run'), 'sockets.sock');
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  instanceInit(app: string): SocketsInit {
    return { path: this.path, app, token: appToken(this.#key, app) };
  }

  async start(): Promise<void> {
    mkdirSync(join(this.path, '..'), { recursive: true });
    const { config, mode, logger, database } = this.#options;
    if (database && !NODE_NAME.test(database.node)) {
      throw new HangarError(
        'USAGE',
        `the node name ${JSON.stringify(database.node)} is not valid: use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit`,
      );
    }
    const init: ServiceInit = {
      path: this.path,
      key: this.#key,
      mode,
      idleTimeoutMs: config.idleTimeoutMs,
      maxOpenPerApp: config.maxOpenPerApp,
      allow: [...config.allow],
      blocked: [...config.blocked],
      strict: config.strict,
      ...(this.#options.urlfetch
        ? {
            urlfetch: {
              maxRequestBytes: this.#options.urlfetch.maxRequestBytes,
              maxResponseBytes: this.#options.urlfetch.maxResponseBytes,
              maxDeadlineMs: this.#options.urlfetch.maxDeadlineMs,
            },
          }
        : {}),
      ...(database
        ? {
            database: {
              url: database.url,
              node: database.node,
              peerHost: this.#options.peerHost ?? '127.0.0.1',
              peerPort: this.#options.peerPort ?? 0,
              syncIntervalMs: this.#options.registrySyncMs ?? 2_000,
            },
          }
        : {}),
    };
    // Until it is ready its stderr only goes to the tail a failed start reports.
    let started = false;
    const child = new SupervisedChild({
      args: [serviceMain],
      env: { ...process.env, HANGAR_SOCKETS_INIT: JSON.stringify(init) },
      onLine: (stream, line) => {
        if (started && stream === 'stderr') logger.error(`[sockets] ${line}`);
      },
    });
    this.#child = child;
    // From spawn on: after a restart, instances that kept the path may connect before "ready" arrives.
    child.onMessage((raw) => this.#message(raw));
    const { startTimeoutMs } = this.#timeouts;
    try {
      await child.ready({
        isReady: (raw) => {
          const message = FromService.safeParse(raw);
          if (!message.success) return undefined;
          if (message.data.type === 'ready') return true;
          if (message.data.type === 'failed') return message.data.message;
          return undefined;
        },
        startTimeoutMs,
      });
    } catch (err) {
      if (!(err instanceof ChildStartError)) throw err;
      // The wording the service's start timeout had before the shared helper.
      const reason = err.kind === 'timeout' ? `no ready within ${startTimeoutMs} ms` : err.reason;
      const tail = err.stderr.trim();
      throw new HangarError(
        'SOCKET_SERVICE_FAILED',
        `the socket service failed to start: ${reason}${tail ? `\n--- socket service stderr ---\n${tail}` : ''}`,
        { cause: err },
      );
    }
    started = true;
    child.onExit((code, signal) => this.#died(code, signal));
    this.#pollTimer = setInterval(() => this.#poll().catch(() => {}), 1_000);
    this.#pollTimer.unref();
  }

  /** Asks the live service for its totals and reports what changed since the last time. */
  async #poll(): Promise<SocketBytes[]> {
    const live = await this.#request<SocketBytes[]>('bytes');
    const before = toMap(this.#lastSeen);
    this.#lastSeen = live;
    for (const entry of live) {
      const previous = before.get(keyOf(entry));
      const sent = entry.sent - (previous?.sent ?? 0);
      const received = entry.received - (previous?.received ?? 0);
      const urlfetchCalls = entry.urlfetchCalls - (previous?.urlfetchCalls ?? 0);
      const urlfetchBytes = entry.urlfetchBytes - (previous?.urlfetchBytes ?? 0);
      if (sent > 0 || received > 0 || urlfetchCalls > 0 || urlfetchBytes > 0)
        this.#options.onBytes?.({ ...entry, sent, received, urlfetchCalls, urlfetchBytes });
    }
    return live;
  }

  list(): Promise<SocketView[]> {
    return this.#request<SocketView[]>('list');
  }

  async socketBytesByApp(): Promise<SocketBytes[]> {
    const live = await this.#poll().catch(() => this.#lastSeen);
    return merge(this.#carried, live);
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#pollTimer);
    const child = this.#child;
    if (!child?.running) return;
    // The last bytes go to metering before the sockets close.
    await this.#poll().catch(() => {});
    const stopped = await child.stop({
      message: { type: 'stop' } satisfies ToService,
      graceMs: this.#timeouts.stopTimeoutMs,
    });
    if (stopped.killed) this.#options.logger.warn(`killed the socket service: ${stopped.reason}`);
  }

  #request<T extends SocketView[] | SocketBytes[]>(type: 'list' | 'bytes'): Promise<T> {
    const child = this.#child;
    if (!child?.connected) return Promise.reject(new Error('the socket service is not running'));
    const { requestTimeoutMs } = this.#timeouts;
    return this.#replies.request((id) => child.send({ type, id } satisfies ToService), {
      timeoutMs: requestTimeoutMs,
      timeoutMessage: `the socket service did not answer '${type}' within ${requestTimeoutMs / 1000} s`,
    }) as Promise<T>;
  }

  #message(raw: unknown): void {
    const message = FromService.safeParse(raw);
    if (!message.success) return;
    const m = message.data;
    if (m.type === 'warning') this.#options.logger.warn(`[${m.app}] ${m.message}`);
    else if (m.type === 'list') this.#replies.settle(m.id, m.sockets);
    else if (m.type === 'list-failed') this.#replies.fail(m.id, new Error(m.message));
    else if (m.type === 'bytes') this.#replies.settle(m.id, m.bytes);
  }

  /** The service died while the platform runs: its sockets are gone; start a new one. */
  #died(code: number | null, signal: NodeJS.Signals | null): void {
    // A process that is gone answers nothing it was asked.
    this.#replies.failAll(new Error(`the socket service exited (${signal ?? `code ${code}`})`));
    if (this.#closing) return;
    this.#carried = toMap(merge(this.#carried, this.#lastSeen));
    this.#lastSeen = [];
    clearInterval(this.#pollTimer);
    this.#options.logger.error(
      `the socket service exited (${signal ?? `code ${code}`}); its open sockets are gone, starting a new one`,
    );
    setTimeout(() => {
      if (!this.#closing) this.start().catch((err: Error) => this.#options.logger.error(err.message));
    }, this.#timeouts.restartDelayMs).unref();
  }
}

function keyOf(entry: SocketBytes): string {
  return `${entry.app}\0${entry.service}\0${entry.version}`;
}

function toMap(entries: SocketBytes[]): Map<string, SocketBytes> {
  return new Map(entries.map((entry) => [keyOf(entry), { ...entry }]));
}

function merge(carried: Map<string, SocketBytes>, live: SocketBytes[]): SocketBytes[] {
  const out = toMap([...carried.values()]);
  for (const entry of live) {
    const existing = out.get(keyOf(entry));
    if (existing) {
      existing.sent += entry.sent;
      existing.received += entry.received;
      existing.urlfetchCalls += entry.urlfetchCalls;
      existing.urlfetchBytes += entry.urlfetchBytes;
    } else out.set(keyOf(entry), { ...entry });
  }
  return [...out.values()];
}

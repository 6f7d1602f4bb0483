/**
 * The platform's side of the socket service (runs in the platform process): starts the
 * service process, races "ready" against "failed", "exited" and a timeout (so a crash at start
 * becomes an error carrying its stderr), restarts it if it dies, answers the admin API's
 * socket list and metering's byte totals, and stops it by its pid with the platform.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlatformConfig } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { FromService, type ServiceInit, type SocketBytes, type SocketView, type ToService } from './ipc.js';
import { appToken } from './protocol.js';

const serviceMain = fileURLToPath(new URL('./service/main.js', import.meta.url));

export interface StartSocketServiceOptions {
  dataDir: string;
  config: PlatformConfig['sockets'];
  mode: 'dev' | 'serve';
  logger: Logger;
  /**
   * Metering: called about once a second (and once more at close) with the bytes an app
   * version's sockets moved since the last call, both directions together (S10 counts them
   * as outgoing bandwidth).
   */
  onBytes?(delta: SocketBytes): void;
  startTimeoutMs?: number;
}

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
  /** Open sockets, for `GET /api/sockets` and `hangar sockets list`. */
  list(): Promise<SocketView[]>;
  /**
   * The metering hook: socket bytes per app version since the platform started, both
   * directions (S10 counts them as outgoing bandwidth). Cumulative; take differences to meter
   * an interval. Survives restarts of the service process.
   */
  socketBytesByApp(): Promise<SocketBytes[]>;
  close(): Promise<void>;
}

/** Starts the socket-service process and resolves once it listens. */
export async function startSocketService(options: StartSocketServiceOptions): Promise<SocketServiceHandle> {
  const supervisor = new Supervisor(options);
  await supervisor.start();
  return supervisor;
}

class Supervisor implements SocketServiceHandle {
  readonly path: string;
  readonly #options: StartSocketServiceOptions;
  readonly #key = randomBytes(32).toString('hex');
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #closing = false;
  #nextId = 1;
  readonly #waiting = new Map<number, (message: FromService) => void>();
  /** Totals of service processes that are gone, added to the live one's. */
  #carried = new Map<string, SocketBytes>();
  /** The live process's totals at the last poll: carried over if it dies, and the base of deltas. */
  #lastSeen: SocketBytes[] = [];
  #pollTimer: NodeJS.Timeout | undefined;

  constructor(options: StartSocketServiceOptions) {
    this.#options = options;
    this.path = socketPath(join(options.dataDir, 'run'));
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  instanceInit(app: string): SocketsInit {
    return { path: this.path, app, token: appToken(this.#key, app) };
  }

  async start(): Promise<void> {
    mkdirSync(join(this.path, '..'), { recursive: true });
    const { config, mode } = this.#options;
    const init: ServiceInit = {
      path: this.path,
      key: this.#key,
      mode,
      idleTimeoutMs: config.idleTimeoutMs,
      maxOpenPerApp: config.maxOpenPerApp,
      allow: [...config.allow],
      blocked: [...config.blocked],
      strict: config.strict,
    };
    const child = spawn(process.execPath, [serviceMain], {
      env: { ...process.env, HANGAR_SOCKETS_INIT: JSON.stringify(init) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.#child = child;
    const stderr: string[] = [];
    child.stdout?.on('data', () => {});
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr.push(chunk);
      if (stderr.length > 40) stderr.shift();
    });
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (raw) => this.#message(raw));
    const started = await new Promise<{ ok: true } | { ok: false; reason: string }>((resolve) => {
      const timeoutMs = this.#options.startTimeoutMs ?? 15_000;
      const timer = setTimeout(
        () => resolve({ ok: false, reason: `no ready within ${timeoutMs} ms` }),
        timeoutMs,
      );
      const onMessage = (raw: unknown) => {
        const message = FromService.safeParse(raw);
        if (!message.success) return;
        if (message.data.type === 'ready') finish({ ok: true });
        if (message.data.type === 'failed') finish({ ok: false, reason: message.data.message });
      };
      const onExit = (code: number | null, signal: string | null) =>
        finish({ ok: false, reason: `it exited (${signal ?? `code ${code}`}) before it was ready` });
      const finish = (result: { ok: true } | { ok: false; reason: string }) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(result);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    if (!started.ok) {
      this.#kill();
      await this.#exited;
      const tail = stderr.join('').trim();
      throw new HangarError(
        'SOCKET_SERVICE_FAILED',
        `the socket service failed to start: ${started.reason}${tail ? `\n--- socket service stderr ---\n${tail}` : ''}`,
      );
    }
    child.stderr?.on('data', (chunk: string) => this.#options.logger.error(`[sockets] ${chunk.trimEnd()}`));
    child.once('exit', (code, signal) => this.#died(code, signal));
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
      if (sent > 0 || received > 0) this.#options.onBytes?.({ ...entry, sent, received });
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
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // The last bytes go to metering before the sockets close.
    await this.#poll().catch(() => {});
    if (child.connected) child.send({ type: 'stop' } satisfies ToService);
    const killer = setTimeout(() => this.#kill(), 3_000);
    await this.#exited;
    clearTimeout(killer);
  }

  #request<T>(type: 'list' | 'bytes'): Promise<T> {
    const child = this.#child;
    if (!child?.connected) return Promise.reject(new Error('the socket service is not running'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`the socket service did not answer '${type}' within 5 s`));
      }, 5_000);
      this.#waiting.set(id, (message) => {
        clearTimeout(timer);
        resolve(
          (message.type === 'list' ? message.sockets : message.type === 'bytes' ? message.bytes : []) as T,
        );
      });
      child.send({ type, id } satisfies ToService);
    });
  }

  #message(raw: unknown): void {
    const message = FromService.safeParse(raw);
    if (!message.success) return;
    const m = message.data;
    if (m.type === 'warning') this.#options.logger.warn(`[${m.app}] ${m.message}`);
    else if (m.type === 'list' || m.type === 'bytes') {
      const waiter = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      waiter?.(m);
    }
  }

  /** The service died while the platform runs: its sockets are gone; start a new one. */
  #died(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#closing) return;
    this.#carried = toMap(merge(this.#carried, this.#lastSeen));
    this.#lastSeen = [];
    clearInterval(this.#pollTimer);
    this.#options.logger.error(
      `the socket service exited (${signal ?? `code ${code}`}); its open sockets are gone, starting a new one`,
    );
    setTimeout(() => {
      if (!this.#closing) this.start().catch((err: Error) => this.#options.logger.error(err.message));
    }, 1_000).unref();
  }

  #kill(): void {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
    } else out.set(keyOf(entry), { ...entry });
  }
  return [...out.values()];
}

/** Unix socket paths are limited to ~107 bytes; deep data dirs fall back to a short temp path. */
function socketPath(runDir: string): string {
  const preferred = join(runDir, 'sockets.sock');
  if (Buffer.byteLength(preferred) <= 100) return preferred;
  const tag = createHash('sha256').update(runDir).digest('hex').slice(0, 12);
  return join(tmpdir(), `hangar-${tag}`, 'sockets.sock');
}

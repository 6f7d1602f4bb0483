import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { HangarError } from '../shared/errors.js';
import { type AppLogLine, type InstanceInit, InstanceMessage } from '../shared/messages.js';
import { PendingReplies } from '../shared/pending-replies.js';
import { channelSocketPath, inspectorSocketPath } from '../shared/request-channel.js';
import { newInstanceId } from '../shared/request-id.js';
import { runSocketPath } from '../shared/socket-path.js';
import { ChildStartError, SupervisedChild } from '../shared/supervised-child.js';
import { loaderOnNode, type VersionLoader } from '../versions/precompiled.js';
import {
  type InstanceExit,
  type InstanceFactory,
  type InstanceHandle,
  type InstanceRequest,
  type InstanceResponse,
  type InstanceState,
  type MemoryLevel,
  memoryCapFactor,
} from './instance.js';
import { InstanceChannel } from './instance-channel.js';
import { type InstanceNode, isolateInstance } from './isolation.js';
import type { ConfinedInstance, MemoryCgroups } from './memory-cgroup.js';
import { memoryWatchIntervalMs, residentBytes } from './memory-watch.js';
import { sendOverChannel, sendOverHttp } from './module-transport.js';
import { type SparePlan, startupVariable, type WarmSpares } from './warm-spares.js';

/**
 * The instance runtime: the bundle `npm run build` makes of it (scripts/build-instance.mjs), or
 * its modules as tsc wrote them where there is none.
 */
const instanceMain = [
  fileURLToPath(new URL('../instance/main.bundle.js', import.meta.url)),
  fileURLToPath(new URL('../instance/main.js', import.meta.url)),
].find((file) => existsSync(file))!;

/** What an instance of a version is started with; the pool fills in the instance's own id. */
export interface InstanceSpec {
  appDir: string;
  service: string;
  version: string;
  runDir: string;
  cacheDir: string;
  handlers: InstanceInit['handlers'];
  /** The app's own server, when a handler is `script: auto` (S4.3). */
  entrypoint?: InstanceInit['entrypoint'];
  /** S8 variables common to every request, without INSTANCE_ID. */
  env: Record<string, string>;
  /** Most concurrent requests the instance takes (1 when threadsafe: false); sizes its connection pool. */
  slots: number;
  /** Resident memory above which the instance is replaced (instance_class, S6). */
  memoryLimitBytes: number;
  heartbeatIntervalMs: number;
  limits: InstanceInit['limits'];
  /** The socket service, for the in-instance sockets shim (S12). */
  sockets?: InstanceInit['sockets'];
  /** Whether 500 pages show the error (the dev server); undefined: the generic page. */
  errorDetail?: InstanceInit['errorDetail'];
  /** `hangar dev --inspect`: open the inspector and relay it to the instance's `.in.sock`. */
  inspect?: boolean;
  startTimeoutMs: number;
  /** How long an instance asked to stop may take to exit before it is killed. */
  stopTimeoutMs: number;
  /** Instances' cgroups with the kernel's memory cap, where cgroup v2 allows it (memory-cgroup.ts). */
  memoryCgroups?: MemoryCgroups | undefined;
  /**
   * The Node the instances run on (the version's `runtime:`, src/versions/node-runtimes.ts); the
   * platform's own when left out. A function, as the first instance of a version may have to
   * wait for it (a download); once it is known it should return it without a promise, so that
   * starts stay synchronous up to the spawn.
   */
  node?: () => InstanceNode | Promise<InstanceNode>;
  /**
   * How a deployed version's instances load its code (src/versions/precompiled.ts): compiled at
   * deploy with no loader hooks, or with the hooks and why. Undefined: the hooks (`hangar dev`).
   */
  loader?: VersionLoader;
  /** The platform's warm spares (warm-spares.ts); undefined: every instance spawns its process. */
  spares?: WarmSpares | undefined;
  /** Each line the instance prints (its stdout and stderr). */
  onOutput?: (instanceId: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** App log lines (S9) the instance shipped, in the order it wrote them. */
  onLogs?: (instanceId: string, lines: AppLogLine[]) => void;
}

/** The HTTP socket of instance `id`; its request channel's and inspector relay's sit beside it. */
export function instanceSocketPath(runDir: string, id: string): string {
  return runSocketPath(runDir, `${id.slice(0, 12)}.sock`, channelSocketPath);
}

/**
 * How instances of `spec` on `node` are spawned, short of the app's own: the Node executable,
 * the isolation wrapper and Node flags, and the environment every instance of this kind has.
 * Instances with equal plans are interchangeable before they load their app (warm-spares.ts).
 *
 * @example
 * const plan = instancePlan(spec, node, true); // { command: '/usr/bin/unshare', args: [...], env }
 */
export function instancePlan(
  spec: Pick<InstanceSpec, 'cacheDir' | 'handlers' | 'inspect'>,
  node: InstanceNode | undefined,
  precompiled: boolean,
): SparePlan {
  // HANGAR_INSTANCE_EXEC_ARGV passes Node flags that NODE_OPTIONS refuses (e.g. --cpu-prof) to instances.
  // No V8 flag by default, not even a heap limit: on Node 20 any V8 flag makes Node reject the
  // compiled code of its own modules, +55 ms per instance start (docs/decisions.md, issue 14).
  const execArgv = process.env.HANGAR_INSTANCE_EXEC_ARGV?.split(' ').filter(Boolean) ?? [];
  // On the instance's own loopback (brought up below), on any port: inspector-relay.ts takes
  // it to a Unix socket the platform's stable debugger port forwards to.
  if (spec.inspect) execArgv.push('--inspect=127.0.0.1:0');
  // Node 25+ deprecates module.register (DEP0205), which the instance runtime uses for its
  // loader hooks: the warning is Hangar's, not the app's, so not printed at every start.
  const quiet = majorOf(node?.version ?? process.version) >= 25 ? ['--disable-warning=DEP0205'] : [];
  // Network isolation (isolation.ts): a wrapper such as `unshare --net`, or Node's permission model.
  const options = isolateInstance(
    {
      args: ['--enable-source-maps', ...quiet, ...execArgv, instanceMain],
      env: {
        ...withoutPlatformSecrets(process.env),
        // `node` in the instance's own child processes is the runtime's Node too, as on App Engine.
        ...(node && node.execPath !== process.execPath
          ? { PATH: `${dirname(node.execPath)}${delimiter}${process.env.PATH ?? ''}` }
          : {}),
        TZ: 'UTC',
      },
    },
    spec.cacheDir,
    undefined,
    node,
    // The app's own server and CGI scripts: processes of the app's, reached (and reaching
    // out through the egress proxy) over the instance's loopback.
    {
      ownProcesses:
        spec.inspect === true || spec.handlers.some((h) => h.kind === 'entrypoint' || h.kind === 'cgi'),
      precompiled,
    },
  );
  return {
    args: options.args,
    env: options.env ?? process.env,
    ...(options.execPath === undefined ? {} : { execPath: options.execPath }),
    ...(options.command === undefined ? {} : { command: options.command }),
    ...(options.commandArgs === undefined ? {} : { commandArgs: options.commandArgs }),
  };
}

/**
 * Makes module instances of one version's code (S4.1 module handlers): a pool given this
 * factory runs each instance as a Node process.
 *
 * @example
 * const pool = new VersionPool(moduleInstanceFactory(spec), options);
 */
export function moduleInstanceFactory(spec: InstanceSpec): InstanceFactory {
  return {
    create: () => new ModuleInstance(spec),
    slots: spec.slots,
    memoryLimitBytes: spec.memoryLimitBytes,
  };
}

/**
 * One module instance: a Node process running the app's modules (src/instance), and the two
 * ways requests reach it (module-transport.ts). Start-up races "ready" against "failed",
 * "exited" and a timeout, so a crash while loading becomes an error carrying the instance's
 * own stderr (the miniflare pattern).
 */
export class ModuleInstance implements InstanceHandle {
  readonly id = newInstanceId();
  readonly spec: InstanceSpec;
  readonly socketPath: string;
  readonly startedAt = new Date();
  /** Milliseconds from spawn (or from taking a warm spare) to "ready" (module loaded, server listening); undefined while starting. */
  readyMs: number | undefined;
  state: InstanceState = 'starting';
  /** Resident memory from the last heartbeat or pong. */
  rss = 0;
  /** Set once the instance is over its memory limit; reported once. */
  #overMemory = false;
  /** Set once it passed the hard cap; reported once. */
  #overCap = false;
  /** Epoch ms of the last heartbeat or pong (S6 liveness). */
  lastHeardAt: number | undefined;
  #memoryWatch: NodeJS.Timeout | undefined;
  /** Why the platform killed it (a blocked event loop), for the requests that were on it. */
  killedBecause: string | undefined;
  readonly #pongs = new PendingReplies<void>();
  #memoryListener: ((level: MemoryLevel) => void) | undefined;
  /** The request channel (fetch handlers); set once started. It connects on first use. */
  #channel: InstanceChannel | undefined;
  #child: SupervisedChild | undefined;
  #pool: Pool | undefined;
  #nodeHandlers = new Set<number>();
  /** The app's own server's process (S4.3): the leader of its group, and when it started (`/proc`). */
  #ownServer: { pid: number; started: string } | undefined;
  #exitListeners: Array<(exit: InstanceExit) => void> = [];
  /** Stopped or killed while it waited for its Node, before there was a process. */
  #cancelled = false;

  constructor(spec: InstanceSpec) {
    this.spec = spec;
    // The request channel's socket (`.ch.sock`) beside it is the longer of the two.
    this.socketPath = instanceSocketPath(spec.runDir, this.id);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Fetch handlers go over the request channel; Node (req, res) handlers over HTTP on a
   * keep-alive pool made on first use, sized to the instance's slots.
   */
  send(request: InstanceRequest): Promise<InstanceResponse> {
    const limit = this.spec.limits.maxResponseBytes;
    if (this.#channel && !this.#nodeHandlers.has(request.handler))
      return sendOverChannel(this.#channel, request, limit);
    this.#pool ??= new Pool('http://localhost', {
      socketPath: this.socketPath,
      connections: this.spec.slots,
      keepAliveTimeout: 30_000,
    });
    return sendOverHttp(this.#pool, request, limit);
  }

  onExit(listener: (exit: InstanceExit) => void): void {
    this.#exitListeners.push(listener);
  }

  async start(): Promise<void> {
    const { spec } = this;
    // Before a version's first instance its Node may still be on its way (a download).
    const found = spec.node?.();
    const node = found instanceof Promise ? await found : found;
    if (this.#cancelled) {
      this.state = 'stopped';
      throw new HangarError(
        'INSTANCE_START_FAILED',
        `instance of ${spec.service}/${spec.version} was stopped while its Node (runtime) was being prepared`,
      );
    }
    mkdirSync(join(this.socketPath, '..'), { recursive: true });
    rmSync(this.socketPath, { force: true });
    rmSync(channelSocketPath(this.socketPath), { force: true });
    rmSync(inspectorSocketPath(this.socketPath), { force: true });
    // A version compiled at deploy loads without loader hooks, unless its Node is older than the
    // one it was compiled for (src/versions/precompiled.ts).
    const loader = spec.loader && loaderOnNode(spec.loader, node?.version ?? process.version);
    const precompiled = loader?.kind === 'precompiled';
    const init: InstanceInit = {
      instanceId: this.id,
      appDir: spec.appDir,
      socketPath: this.socketPath,
      cacheDir: spec.cacheDir,
      handlers: spec.handlers,
      ...(spec.entrypoint ? { entrypoint: spec.entrypoint } : {}),
      env: { ...spec.env, INSTANCE_ID: this.id },
      heartbeatIntervalMs: spec.heartbeatIntervalMs,
      limits: spec.limits,
      sockets: spec.sockets,
      ...(spec.errorDetail ? { errorDetail: spec.errorDetail } : {}),
      ...(spec.inspect ? { inspect: true } : {}),
      ...(precompiled ? { precompiled: true } : {}),
      ...(loader?.kind === 'hooks' ? { hooksBecause: loader.because } : {}),
    };
    const plan = instancePlan(spec, node, precompiled);
    const onLine = (stream: 'stdout' | 'stderr', line: string) => spec.onOutput?.(this.id, stream, line);
    // A warm spare of this kind when one waits (it gets `init` over IPC once it listens); an app
    // whose env_variables Node reads at start, or a debugged one, gets a process of its own.
    const spare = spec.spares?.take(plan, !spec.inspect && startupVariable(spec.env) === undefined);
    let child: SupervisedChild;
    if (spare) {
      child = spare.child;
      spare.attach(onLine);
    } else {
      child = new SupervisedChild({
        ...plan,
        cwd: spec.appDir,
        env: { ...plan.env, ...spec.env, TZ: 'UTC', HANGAR_INSTANCE_INIT: JSON.stringify(init) },
        onLine,
      });
    }
    this.#child = child;
    spec.spares?.settleAfter(plan, child);
    // The kernel's hard cap where cgroup v2 allows it (memory-cgroup.ts); the RSS watch either way.
    const cap = spec.memoryLimitBytes * memoryCapFactor;
    const confined =
      spec.memoryCgroups && child.pid !== undefined
        ? spec.memoryCgroups.confine(this.id.slice(0, 12), child.pid, cap).catch(() => undefined)
        : undefined;
    child.onExit((code, signal) => void this.#ended({ code, signal }, confined, cap));
    // From spawn on, not only once ready: lines of the app's module top level count too.
    child.onMessage((raw) => this.#onMessage(raw));
    spare?.init({ type: 'init', init });
    let nodeHandlers: number[] = [];
    try {
      await child.ready({
        startTimeoutMs: spec.startTimeoutMs,
        isReady: (raw) => {
          const message = InstanceMessage.safeParse(raw);
          if (!message.success) return undefined;
          if (message.data.type === 'failed') return message.data.error.message;
          if (message.data.type !== 'ready') return undefined;
          nodeHandlers = message.data.nodeHandlers;
          return true;
        },
      });
    } catch (err) {
      const { reason, stderr } =
        err instanceof ChildStartError ? err : { reason: String(err), stderr: child.stderrTail };
      throw new HangarError(
        'INSTANCE_START_FAILED',
        `instance of ${spec.service}/${spec.version} failed to start: ${reason}` +
          (stderr && !reason.includes(stderr) ? `\n--- instance stderr ---\n${stderr}` : ''),
        { cause: err },
      );
    }
    this.#nodeHandlers = new Set(nodeHandlers);
    this.#channel = new InstanceChannel(channelSocketPath(this.socketPath), spec.limits.maxResponseBytes);
    this.readyMs = Date.now() - this.startedAt.getTime();
    this.lastHeardAt = Date.now();
    this.#watchMemory(child);
    this.state = 'ready';
  }

  /** The process is gone: say why when the kernel ended it at the memory cap, then tell the listeners. */
  async #ended(
    exit: InstanceExit,
    confined: Promise<ConfinedInstance | undefined> | undefined,
    cap: number,
  ): Promise<void> {
    clearInterval(this.#memoryWatch);
    this.#endOwnServer();
    const cgroup = await confined;
    if (cgroup && (await cgroup.oomKilled())) {
      this.killedBecause ??= `the kernel ended it: memory passed its hard cap of ${Math.round(cap / 2 ** 20)} MiB (cgroup memory.max)`;
    }
    void cgroup?.remove();
    this.state = 'stopped';
    this.#pongs.failAll(new Error('the instance exited'));
    rmSync(this.socketPath, { force: true });
    rmSync(channelSocketPath(this.socketPath), { force: true });
    rmSync(inspectorSocketPath(this.socketPath), { force: true });
    const ended = this.killedBecause ? { ...exit, reason: this.killedBecause } : exit;
    for (const listener of this.#exitListeners) listener(ended);
  }

  /** Called once, when a heartbeat first shows the instance over its memory limit. */
  onMemoryExceeded(listener: (level: MemoryLevel) => void): void {
    this.#memoryListener = listener;
  }

  /**
   * Resolves true when the instance answers within `timeoutMs`. A blocked event loop
   * (`while (true) {}`) cannot answer: that is how the supervisor tells stuck from slow.
   */
  ping(timeoutMs: number): Promise<boolean> {
    const child = this.#child;
    if (!child?.connected || this.state === 'stopped') return Promise.resolve(false);
    return this.#pongs
      .request((id) => child.send({ type: 'ping', id }), { timeoutMs })
      .then(
        () => true,
        () => false,
      );
  }

  /**
   * Ends the app's own server's process group (S4.3) when the instance has ended: the instance
   * ends it itself when it can, but not when it was killed (stop timeout, memory cap, a blocked
   * loop). At once, so that the group's id cannot have been given to another group meanwhile.
   */
  #endOwnServer(): void {
    const own = this.#ownServer;
    this.#ownServer = undefined;
    // Still the process that was reported (a pid is reused, its start time is not).
    if (own === undefined || processStat(own.pid)?.started !== own.started) return;
    try {
      process.kill(-own.pid, 'SIGKILL');
    } catch {
      // Already gone: the instance ended it.
    }
  }

  #onMessage(raw: unknown): void {
    const type = (raw as { type?: unknown } | null)?.type;
    if (type === 'entrypoint') {
      const message = InstanceMessage.safeParse(raw);
      if (!message.success || message.data.type !== 'entrypoint' || this.#ownServer !== undefined) return;
      // The message comes from a process that may run app code: the platform ends only a group
      // led by a child of this instance (Linux; elsewhere the instance ends it alone).
      const stat = processStat(message.data.pid);
      if (stat && stat.parent === this.pid && stat.group === message.data.pid)
        this.#ownServer = { pid: message.data.pid, started: stat.started };
      return;
    }
    if (type === 'logs') {
      const message = InstanceMessage.safeParse(raw);
      if (message.success && message.data.type === 'logs') this.spec.onLogs?.(this.id, message.data.lines);
      return;
    }
    if (type !== 'heartbeat' && type !== 'pong') return;
    const message = InstanceMessage.safeParse(raw);
    if (!message.success) return;
    const m = message.data;
    if (m.type !== 'heartbeat' && m.type !== 'pong') return;
    this.lastHeardAt = Date.now();
    if (m.type === 'pong') this.#pongs.settle(m.id, undefined);
    this.#reportMemory(m.rss);
  }

  /**
   * The hard cap is checked from outside the process (memory-watch.ts): an instance
   * allocating in a tight loop sends no heartbeat, and must still end when it passes the cap.
   */
  #watchMemory(child: SupervisedChild): void {
    const pid = child.pid;
    if (pid === undefined) return;
    let reading = false;
    this.#memoryWatch = setInterval(() => {
      if (reading) return;
      reading = true;
      void residentBytes(pid).then((rss) => {
        reading = false;
        if (rss !== undefined && this.state !== 'stopped') this.#reportMemory(rss);
      });
    }, memoryWatchIntervalMs);
    this.#memoryWatch.unref();
  }

  /** Over the class's limit: replaced after its requests; over the hard cap: ended now (S6). */
  #reportMemory(rss: number): void {
    this.rss = rss;
    const limit = this.spec.memoryLimitBytes;
    if (!this.#overMemory && rss > limit) {
      this.#overMemory = true;
      this.#memoryListener?.('limit');
    }
    if (!this.#overCap && rss > limit * memoryCapFactor) {
      this.#overCap = true;
      this.#memoryListener?.('cap');
    }
  }

  /**
   * Asks the instance to exit (the pool drained its requests first) and kills it if it has
   * not exited within `stopTimeoutMs`.
   */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) this.#cancelled = true;
    if (this.state === 'stopped' || !child) return;
    this.state = 'draining';
    await child.stop({ message: { type: 'stop' }, graceMs: this.spec.stopTimeoutMs });
    this.#channel?.close();
    await this.#pool?.destroy();
  }

  /** Ends the process at once by its pid; `reason` tells the requests that were on it why. */
  kill(reason?: string): void {
    if (reason !== undefined) this.killedBecause ??= reason;
    if (!this.#child) this.#cancelled = true;
    this.#child?.kill();
  }
}

function majorOf(version: string): number {
  return Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
}

/** Parent, process group and start time (clock ticks since boot, as text) of `pid`, from /proc; undefined elsewhere or when it is gone. */
function processStat(pid: number): { parent: number; group: number; started: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces: the fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { parent: Number(fields[1]), group: Number(fields[2]), started: fields[19] ?? '' };
}

/**
 * The platform's environment without what only the platform may know: the platform database's
 * URL (`serve` reads HANGAR_DATABASE_URL, docs/scale-out.md) holds its password, and with it an
 * app could read every app's logs and the admin token. Instances, their CGI scripts and their
 * own servers get the rest, as before.
 */
export function withoutPlatformSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { HANGAR_DATABASE_URL: _database, ...rest } = env;
  return rest;
}

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { entrypointCommand } from '../config/app-config.js';
import type { AppConfig, InstanceClass, PlatformConfig, Scaling } from '../config/types.js';
import { matchHandler } from '../frontend/handler-match.js';
import type { ServiceRoute } from '../frontend/route.js';
import type { InstanceExit, Lease, RequestKind } from '../scheduler/instance.js';
import { instanceIsolation, permissionFlagsFor } from '../scheduler/isolation.js';
import type { MemoryCgroups } from '../scheduler/memory-cgroup.js';
import {
  type InstanceSpec,
  instancePlan,
  instanceSocketPath,
  moduleInstanceFactory,
} from '../scheduler/module-instance.js';
import { type ScalingDecision, VersionPool } from '../scheduler/version-pool.js';
import type { WarmSpares } from '../scheduler/warm-spares.js';
import { inspectorSocketPath, type PackedLines } from '../shared/request-channel.js';
import { newRequestId } from '../shared/request-id.js';
import type { RequestRecord } from '../shared/request-record.js';
import {
  type NodeRuntime,
  type NodeRuntimeResolver,
  nodeRuntimeResolver,
} from '../versions/node-runtimes.js';
import { loaderOnNode, versionLoader } from '../versions/precompiled.js';

export interface RuntimeContext {
  application: string;
  /** `dev` (APPLICATION_ID `dev~app`) or `serve` (`s~app`), S8. */
  mode: 'dev' | 'serve';
  serverSoftware: string;
  /** `host:port` of the default version, for DEFAULT_VERSION_HOSTNAME. */
  defaultHostname: string;
  dataDir: string;
  platformConfig: PlatformConfig;
  /** Each line an instance prints (its stdout and stderr), with the service it belongs to. */
  onOutput?(service: string, instanceId: string, stream: 'stdout' | 'stderr', line: string): void;
  /** App log lines from instances (S9). */
  onLogs?: InstanceSpec['onLogs'];
  /** Instances' cgroups with the kernel's memory cap, where cgroup v2 allows it. */
  memoryCgroups?: MemoryCgroups | undefined;
  /** The platform's warm spares (src/scheduler/warm-spares.ts); undefined: none. */
  spares?: WarmSpares | undefined;
  /** How instances reach the socket service (S12). */
  sockets?: InstanceSpec['sockets'];
  /** Whether 500 pages show the error (the dev server only). */
  errorDetail?: InstanceSpec['errorDetail'];
  /** `hangar dev --inspect`: instances open their inspector (inspector-proxy.ts reaches it). */
  inspect?: boolean;
  onDecision?(decision: ScalingDecision): void;
  onStartFailed?(error: Error): void;
  onExit?(service: string, instanceId: string, exit: InstanceExit): void;
  /** Requests the platform makes itself (`/_ah/start`, `/_ah/warmup`), for the request log. */
  onInternalRequest?(record: RequestRecord): void;
  /**
   * Finds the Node of each `runtime:` (src/versions/node-runtimes.ts). One per platform, so that
   * services naming the same runtime share one resolution and download; when left out, the
   * service makes its own from `dataDir` and `platformConfig.runtimes`.
   */
  nodeRuntimes?: NodeRuntimeResolver;
}

/**
 * The Node that instances of `config` run on: its `runtime:` resolved (fetched on first use,
 * src/versions/node-runtimes.ts) and checked against how this platform confines instances.
 * Call it before the service starts to turn a runtime that cannot be had into a start error
 * (`hangar dev` does); instances wait for it otherwise.
 *
 * @example
 * const node = await serviceNode(nodeRuntimes, config); // { execPath, version: 'v24.11.1', ... }
 */
export async function serviceNode(resolver: NodeRuntimeResolver, config: AppConfig): Promise<NodeRuntime> {
  const node = await resolver.resolve(config.runtime);
  // Throws when the permission mode cannot confine this Node (Node 18 has no permission model).
  permissionFlagsFor(instanceIsolation(), node);
  return node;
}

/** What `hangar serve` knows of a deployed version beyond its app.yaml (S1, docs/serve.md). */
export interface DeployedVersion {
  /** MAJOR: the deployed name, whatever app.yaml's `version:` says. */
  version: string;
  /** MINOR of this deploy. */
  minor: string;
  /** The version dir: its app, its build's `precompiled.json` (src/versions/build.ts). */
  dir: string;
  /** The loader hooks' compile cache, for a version that needs the hooks (src/versions/precompiled.ts). */
  cacheDir: string;
}

/** Version name under `hangar dev` when app.yaml sets none (see docs/decisions.md). */
export const defaultDevVersion = 'dev';

const MiB = 2 ** 20;
/** Memory limit per instance class (S6). */
export const memoryLimits: Record<InstanceClass, number> = {
  F1: 384 * MiB,
  F2: 768 * MiB,
  F4: 1536 * MiB,
  F4_1G: 3072 * MiB,
  B1: 384 * MiB,
  B2: 768 * MiB,
  B4: 1536 * MiB,
  B4_1G: 3072 * MiB,
  B8: 3072 * MiB,
};

/**
 * Scaling as this machine applies it. A threadsafe app whose app.yaml sets no max_instances is
 * capped at the machine's cores: each instance already serves max_concurrent_requests at once,
 * and more Node processes than cores only contend for them (measured: 9 instances on 2 cores
 * served a third of what 1 did). `threadsafe: false` apps keep the default of 20, as there an
 * instance is the unit of concurrency.
 */
export function effectiveScaling(config: AppConfig, cores: number = availableParallelism()): Scaling {
  const scaling = config.scaling;
  if (scaling.kind !== 'automatic' || scaling.maxInstancesExplicit || !config.threadsafe) return scaling;
  return { ...scaling, maxInstances: Math.max(scaling.minInstances, Math.min(scaling.maxInstances, cores)) };
}

/**
 * Scaling while a debugger is attached (`hangar dev --inspect`): one instance, so that every
 * request meets the breakpoints of the process the debugger is in.
 */
function oneInstance(scaling: Scaling): Scaling {
  if (scaling.kind === 'manual') return { ...scaling, instances: 1 };
  if (scaling.kind === 'basic') return { ...scaling, maxInstances: 1 };
  return {
    ...scaling,
    minInstances: Math.min(scaling.minInstances, 1),
    maxInstances: 1,
    minIdleInstances: 0,
  };
}

/** REMOTE_ADDR of the platform's own requests (/_ah/start, /_ah/warmup), as App Engine's 0.1.0.3. */
const internalRemoteAddr = '0.1.0.3';

/** A running service of the platform: its route for the front end and the pool behind it. */
export class ServiceRuntime implements ServiceRoute {
  config: AppConfig;
  handlerIndex: Map<number, number>;
  pool: VersionPool;
  /** The dev server's last reload that did not load, while the previous code serves (reload-notice.ts). */
  reloadFailure: string | undefined;
  readonly #context: RuntimeContext;
  readonly #nodeRuntimes: NodeRuntimeResolver;

  /** A deployed version's identity and compile cache (`hangar serve`); undefined under `dev`. */
  readonly #deployed: DeployedVersion | undefined;

  constructor(config: AppConfig, context: RuntimeContext, deployed?: DeployedVersion) {
    this.#context = context;
    this.#deployed = deployed;
    this.#nodeRuntimes =
      context.nodeRuntimes ??
      nodeRuntimeResolver({ dataDir: context.dataDir, configured: context.platformConfig.runtimes });
    this.config = config;
    const { spec, handlerIndex } = this.#spec(config);
    this.handlerIndex = handlerIndex;
    this.pool = this.#pool(config, spec);
    // A deployed version's kind of instance process gets a warm spare before its first request.
    if (deployed && context.spares) void this.#announceSpare(spec, context.spares);
  }

  /** Tells the warm spares how this version's instances are started, once its Node is known. */
  async #announceSpare(spec: InstanceSpec, spares: WarmSpares): Promise<void> {
    try {
      const node = await spec.node?.();
      const loader = spec.loader && loaderOnNode(spec.loader, node?.version ?? process.version);
      spares.prepare(instancePlan(spec, node, loader?.kind === 'precompiled'));
    } catch {
      // A runtime that cannot be had: the instance start says why.
    }
  }

  /**
   * Starts one instance of the version: resolves once its handlers loaded and it serves, rejects
   * with the instance's start error (the module's own message). A deploy's check that the
   * version loads before it is committed (S11); the instance stays, so the first request after
   * the deploy finds it running.
   */
  proveLoads(): Promise<void> {
    return this.pool.startInstance('a deploy checks that the version loads');
  }

  /**
   * `hangar dev --inspect`: the inspector relay of the newest instance that is up (after a
   * reload, the new code's), for the debugger port to forward to.
   */
  inspectorSocket(): string | undefined {
    const up = this.pool.instances.filter((i) => i.state === 'ready' || i.state === 'starting');
    const newest = up.sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())[0];
    return newest && inspectorSocketPath(instanceSocketPath(join(this.#context.dataDir, 'run'), newest.id));
  }

  /** Instances of this version now. */
  get instanceCount(): number {
    return this.pool.instances.length;
  }

  /** Drains and stops the version's instances: requests in flight finish (within drain_timeout). */
  close(): Promise<void> {
    return this.pool.close();
  }

  get app(): string {
    return this.#context.application;
  }
  get service(): string {
    return this.config.service;
  }
  get version(): string {
    return this.#deployed?.version ?? this.config.version ?? defaultDevVersion;
  }

  /**
   * The request deadline (S6): `limits.request_deadline` for automatic scaling; basic and
   * manual scaling have none unless the platform config sets one.
   */
  get deadlineMs(): number | undefined {
    const { limits } = this.#context.platformConfig;
    if (this.config.scaling.kind === 'automatic' || limits.requestDeadlineExplicit)
      return limits.requestDeadlineMs;
    return undefined;
  }

  get deadlineGraceMs(): number {
    return this.#context.platformConfig.limits.deadlineGraceMs;
  }

  /**
   * New code or a new app.yaml (the dev server's reload): it takes over only once an instance
   * of it has loaded, and the old instances drain. Until then, and when it fails to load, the
   * previous code and app.yaml serve on and this rejects with the start error. A changed
   * app.yaml gets a new pool (scaling settings may differ); new code alone reuses the pool.
   */
  async reload(config: AppConfig = this.config): Promise<void> {
    // A new runtime: its Node first (may download), so one that cannot be had keeps the old pool.
    if (config.runtime !== this.config.runtime) await serviceNode(this.#nodeRuntimes, config);
    const { spec, handlerIndex } = this.#spec(config);
    if (config === this.config) {
      await this.pool.reloadWhenLoaded(moduleInstanceFactory(spec));
      return;
    }
    const pool = this.#pool(config, spec, { warm: false });
    try {
      await pool.startInstance('the app.yaml changed; its first instance starts beside the running ones');
    } catch (err) {
      await pool.close();
      throw err;
    }
    const old = this.pool;
    this.config = config;
    this.handlerIndex = handlerIndex;
    this.pool = pool;
    await old.close();
  }

  #pool(config: AppConfig, spec: InstanceSpec, over: { warm?: boolean } = {}): VersionPool {
    const ctx = this.#context;
    const { limits, scheduler } = ctx.platformConfig;
    const scaling = ctx.inspect ? oneInstance(effectiveScaling(config)) : effectiveScaling(config);
    return new VersionPool(moduleInstanceFactory(spec), {
      app: this.app,
      service: config.service,
      version: this.version,
      scaling,
      maxPendingLatencyMs: Math.min(
        (scaling.kind === 'automatic' ? scaling.maxPendingLatencyMs : undefined) ??
          limits.maxPendingLatencyMs,
        limits.maxPendingLatencyMs,
      ),
      drainTimeoutMs: limits.drainTimeoutMs,
      idlePeriodMs: scheduler.idlePeriodMs,
      startBackoffMaxMs: scheduler.startBackoffMaxMs,
      heartbeatTimeoutMs: scheduler.heartbeatTimeoutMs,
      unresponsiveAfterMs: limits.unresponsiveAfterMs,
      warm: over.warm ?? (ctx.mode === 'dev' || scaling.kind === 'manual'),
      prepare: (lease, first) => this.#prepare(lease, first),
      onDecision: ctx.onDecision,
      onStartFailed: ctx.onStartFailed,
      onExit: (instanceId, exit) => ctx.onExit?.(config.service, instanceId, exit),
    });
  }

  /**
   * S6: manual scaling sends `GET /_ah/start` to each new instance (2xx or 404 = started);
   * with `inbound_services: [warmup]` each new instance after the first gets `GET /_ah/warmup`
   * before user traffic. Either is then the instance's loading request.
   */
  async #prepare(lease: Lease, first: boolean): Promise<void> {
    if (this.config.scaling.kind === 'manual') {
      const status = await this.#internalRequest(lease, 'start', '/_ah/start');
      if (status !== 404 && (status < 200 || status > 299)) {
        throw new Error(`GET /_ah/start answered ${status}; an instance counts as started on 2xx or 404`);
      }
    }
    if (!first && this.config.inboundServices.includes('warmup'))
      await this.#internalRequest(lease, 'warmup', '/_ah/warmup');
  }

  /**
   * A platform-made GET on the new instance's lease, through the app's handlers like a user
   * request (the same transport, the same log entry); 404 when no script handler matches.
   */
  async #internalRequest(lease: Lease, kind: RequestKind, path: string): Promise<number> {
    const started = performance.now();
    const requestId = newRequestId();
    const found = matchHandler(this.config.handlers, path);
    const index = found ? this.handlerIndex.get(found.index) : undefined;
    let status = 404;
    let bytesOut = 0;
    let lines: PackedLines | undefined;
    let linesComplete = false;
    if (index !== undefined) {
      const response = await lease.send({
        kind,
        method: 'GET',
        url: path,
        httpVersion: '1.1',
        headers: ['host', this.#context.defaultHostname],
        body: [],
        handler: index,
        requestId,
        remoteAddr: internalRemoteAddr,
        https: false,
      });
      status = response.status;
      bytesOut = response.body.length;
      lines = response.lines;
      linesComplete = response.linesComplete;
    }
    this.#context.onInternalRequest?.({
      requestId,
      method: 'GET',
      resource: path,
      status,
      latencyMs: performance.now() - started,
      service: this.service,
      version: this.version,
      instanceId: lease.instanceId,
      bytesOut,
      loadingRequest: lease.loading,
      lines,
      linesComplete,
    });
    return status;
  }

  #spec(config: AppConfig): { spec: InstanceSpec; handlerIndex: Map<number, number> } {
    const ctx = this.#context;
    const handlers: InstanceSpec['handlers'] = [];
    const handlerIndex = new Map<number, number>();
    config.handlers.forEach((handler, index) => {
      if (handler.kind === 'module') {
        handlerIndex.set(index, handlers.length);
        handlers.push({ kind: 'module', module: handler.module, exportName: handler.exportName });
      } else if (handler.kind === 'entrypoint') {
        handlerIndex.set(index, handlers.length);
        handlers.push({ kind: 'entrypoint' });
      } else if (handler.kind === 'cgi') {
        handlerIndex.set(index, handlers.length);
        handlers.push({ kind: 'cgi', script: handler.script });
      }
    });
    const version = this.#deployed?.version ?? config.version ?? defaultDevVersion;
    // On the dev server MINOR is always 1 (S1); deployed versions will carry their own.
    const minor = this.#deployed?.minor ?? '1';
    const env: Record<string, string> = {
      ...config.envVariables,
      APPLICATION_ID: `${ctx.mode === 'dev' ? 'dev' : 's'}~${ctx.application}`,
      CURRENT_MODULE_ID: config.service,
      CURRENT_VERSION_ID: `${version}.${minor}`,
      SERVER_SOFTWARE: ctx.serverSoftware,
      AUTH_DOMAIN: ctx.platformConfig.authDomain,
      DEFAULT_VERSION_HOSTNAME: ctx.defaultHostname,
      DATACENTER: ctx.mode === 'dev' ? 'dev' : 'local',
      TZ: 'UTC',
    };
    // S6: one request at a time without threadsafe; else max_concurrent_requests (basic/manual: 10).
    const slots = !config.threadsafe
      ? 1
      : config.scaling.kind === 'automatic'
        ? config.scaling.maxConcurrentRequests
        : 10;
    return {
      handlerIndex,
      spec: {
        appDir: config.dir,
        service: config.service,
        version,
        runDir: join(ctx.dataDir, 'run'),
        cacheDir: this.#deployed?.cacheDir ?? join(ctx.dataDir, 'cache', 'ts'),
        // Deployed versions: compiled at deploy, loaded without hooks where the build allowed it.
        ...(this.#deployed ? { loader: versionLoader(this.#deployed.dir) } : {}),
        spares: ctx.spares,
        handlers,
        ...(handlers.some((h) => h.kind === 'entrypoint')
          ? {
              entrypoint: {
                command: entrypointCommand(config),
                startTimeoutMs: ctx.platformConfig.scheduler.startTimeoutMs,
              },
            }
          : {}),
        env,
        slots,
        memoryLimitBytes: memoryLimits[config.instanceClass],
        heartbeatIntervalMs: ctx.platformConfig.scheduler.heartbeatIntervalMs,
        limits: {
          maxRequestBytes: ctx.platformConfig.limits.maxRequestBytes,
          maxResponseBytes: ctx.platformConfig.limits.maxResponseBytes,
        },
        startTimeoutMs: ctx.platformConfig.scheduler.startTimeoutMs,
        stopTimeoutMs: ctx.platformConfig.scheduler.stopTimeoutMs,
        // Known at once once resolved (hangar dev resolves before it starts services); else the
        // first instance waits for it, and a failure is that instance's start error.
        node: () => this.#nodeRuntimes.resolved(config.runtime) ?? serviceNode(this.#nodeRuntimes, config),
        onOutput: (instanceId, stream, line) => ctx.onOutput?.(config.service, instanceId, stream, line),
        ...(ctx.onLogs ? { onLogs: ctx.onLogs } : {}),
        sockets: ctx.sockets,
        memoryCgroups: ctx.memoryCgroups,
        ...(ctx.errorDetail ? { errorDetail: ctx.errorDetail } : {}),
        ...(ctx.inspect ? { inspect: true } : {}),
      },
    };
  }
}

import { join } from 'node:path';
import type { AppConfig, PlatformConfig } from '../config/types.js';
import type { ServiceRoute } from '../frontend/frontend.js';
import type { InstanceSpec } from '../scheduler/instance-process.js';
import { VersionPool, type VersionPoolOptions } from '../scheduler/version-pool.js';

export interface RuntimeContext {
  application: string;
  /** `dev` (APPLICATION_ID `dev~app`) or `serve` (`s~app`), S8. */
  mode: 'dev' | 'serve';
  serverSoftware: string;
  /** `host:port` of the default version, for DEFAULT_VERSION_HOSTNAME. */
  defaultHostname: string;
  dataDir: string;
  platformConfig: PlatformConfig;
  onOutput: InstanceSpec['onOutput'];
  pool: Omit<VersionPoolOptions, 'drainTimeoutMs' | 'retryAfterFailureMs'>;
}

/** Version name under `hangar dev` when app.yaml sets none (see docs/decisions.md). */
export const defaultDevVersion = 'dev';

/** A running service of the platform: its route for the front end and the pool behind it. */
export class ServiceRuntime implements ServiceRoute {
  config: AppConfig;
  moduleIndex: Map<number, number>;
  readonly pool: VersionPool;
  readonly #context: RuntimeContext;

  constructor(config: AppConfig, context: RuntimeContext) {
    this.#context = context;
    this.config = config;
    const { spec, moduleIndex } = this.#spec(config);
    this.moduleIndex = moduleIndex;
    this.pool = new VersionPool(spec, {
      ...context.pool,
      drainTimeoutMs: context.platformConfig.limits.drainTimeoutMs,
      retryAfterFailureMs: 1_000,
    });
  }

  get app(): string {
    return this.#context.application;
  }
  get service(): string {
    return this.config.service;
  }
  get version(): string {
    return this.config.version ?? defaultDevVersion;
  }

  /** New code or a new app.yaml: a fresh instance takes over, the old one drains. */
  async reload(config: AppConfig = this.config): Promise<void> {
    const { spec, moduleIndex } = this.#spec(config);
    this.config = config;
    this.moduleIndex = moduleIndex;
    await this.pool.reload(spec);
  }

  #spec(config: AppConfig): { spec: InstanceSpec; moduleIndex: Map<number, number> } {
    const ctx = this.#context;
    const modules: InstanceSpec['modules'] = [];
    const moduleIndex = new Map<number, number>();
    config.handlers.forEach((handler, index) => {
      if (handler.kind !== 'module') return;
      moduleIndex.set(index, modules.length);
      modules.push({ module: handler.module, exportName: handler.exportName });
    });
    const version = config.version ?? defaultDevVersion;
    // On the dev server MINOR is always 1 (S1); deployed versions will carry their own.
    const minor = '1';
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
    const maxConcurrentRequests = !config.threadsafe
      ? 1
      : config.scaling.kind === 'automatic'
        ? config.scaling.maxConcurrentRequests
        : 10;
    return {
      moduleIndex,
      spec: {
        appDir: config.dir,
        service: config.service,
        version,
        runDir: join(ctx.dataDir, 'run'),
        cacheDir: join(ctx.dataDir, 'cache', 'ts'),
        modules,
        env,
        maxConcurrentRequests,
        startTimeoutMs: 30_000,
        onOutput: ctx.onOutput,
      },
    };
  }
}

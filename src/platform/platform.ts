import { relative } from 'node:path';
import { isDevEnvFile } from '../config/dev-env-files.js';
import type { DispatchRule } from '../config/dispatch-config.js';
import type { AppConfig, PlatformConfig } from '../config/types.js';
import { DevRouteTable } from '../frontend/route.js';
import { HangarError } from '../shared/errors.js';
import { paint } from '../shared/logger.js';
import { devServerSoftware } from '../shared/version.js';
import { type InspectorProxy, startInspectorProxy } from './inspector-proxy.js';
import { type PlatformBase, startCore } from './platform-core.js';
import { ServiceRuntime, serviceNode } from './service-runtime.js';
import { TreeWatcher } from './watcher.js';

export interface DevPlatformOptions extends PlatformBase {
  /** One config per service; exactly one of them is the `default` service. */
  services: AppConfig[];
  application: string;
  watch: boolean;
  /** Re-reads a service's app.yaml after it changed; a rejection keeps the running config. */
  reloadConfig(file: string): Promise<AppConfig>;
  /** Stack traces with every frame (`--full-traces`), on the terminal and on 500 pages; else the app's own. */
  fullTraces?: boolean;
  /**
   * `--inspect[=PORT]`: each service's instance opens its inspector, reached on PORT (the
   * default service) and the ports after it (the others, in order); one instance per service.
   */
  inspect?: { port: number };
  /** dispatch.yaml's rules, when the file sits beside the services' folders (S11). */
  dispatch?: readonly DispatchRule[];
}

export interface RunningPlatform {
  url: string;
  /** Set when an HTTPS listener runs. */
  httpsUrl?: string;
  adminUrl: string;
  services: ServiceRuntime[];
  /** With `inspect`: the debugger port of each service. */
  inspectors: Array<{ service: string; port: number }>;
  close(): Promise<void>;
}

/**
 * Wires one `hangar dev` platform process (ARCHITECTURE.md): the platform core
 * (platform-core.ts), a pool per service's version, and the file watcher.
 */
export async function startDevPlatform(options: DevPlatformOptions): Promise<RunningPlatform> {
  const { logger } = options;
  const services: ServiceRuntime[] = [];
  // `<service>.localhost` and `<service>-dot-...` pick a service (S11); anything else the default.
  const routes = new DevRouteTable();
  if (options.dispatch) routes.setDispatch(options.dispatch);
  const core = await startCore({
    mode: 'dev',
    platformConfig: options.inspect ? inspectable(options.platformConfig) : options.platformConfig,
    host: options.host,
    port: options.port,
    adminPort: options.adminPort,
    dataDir: options.dataDir,
    logger,
    serverSoftware: devServerSoftware,
    exposeErrors: true,
    requestLines: true,
    fullTraces: options.fullTraces === true,
    routes,
    runtimes: () => services,
    ...(options.https ? { https: options.https } : {}),
  });
  const { dataDir } = core;
  // Each service's `runtime:` (S3) before the services start: a Node that cannot be had (or
  // fetched, which is logged) stops the start with the reason instead of failing every instance.
  try {
    for (const [config, node] of await Promise.all(
      options.services.map(async (config) => [config, await serviceNode(core.nodeRuntimes, config)] as const),
    )) {
      if (node.source !== 'platform')
        logger.info(
          `${config.service}: runtime ${config.runtime} runs on Node ${node.version} (${node.execPath})`,
        );
    }
  } catch (err) {
    await core.close(async () => {});
    throw err;
  }
  const adminUrl = await core.listenAdmin();

  for (const config of options.services) {
    const base = core.context(options.application, new URL(core.url).host);
    const runtime = new ServiceRuntime(config, {
      ...base,
      errorDetail: options.fullTraces ? 'full' : 'trimmed',
      ...(options.inspect ? { inspect: true } : {}),
      onOutput: (service, instanceId, stream, line) =>
        // Node's own word on the inspector names the port inside the instance's namespace,
        // which nothing outside can reach: the banner names the debugger port instead.
        !(options.inspect && nodeInspectorBanner.test(line)) &&
        logger.raw(
          `${paint(logger.color, stream === 'stderr' ? 'magenta' : 'gray', `[${service} ${instanceId.slice(0, 8)}]`)} ${line}`,
        ),
      onStartFailed: (error) => logger.error(error.message),
      onExit: (service, instanceId, { code, signal }) => {
        if (!core.closing) {
          logger.warn(
            `instance ${instanceId.slice(0, 8)} of ${service} exited (${signal ?? `code ${code}`})`,
          );
        }
      },
      onDecision: (d) => {
        base.onDecision?.(d);
        const who = d.instanceId ? ` ${d.instanceId.slice(0, 8)}` : '';
        logger.raw(
          paint(logger.color, 'blue', `[scaling] ${d.service}/${d.version}: ${d.action}${who}: ${d.reason}`),
        );
      },
    });
    services.push(runtime);
    routes.set(runtime);
  }

  const proxies: InspectorProxy[] = [];
  if (options.inspect) {
    try {
      for (const [i, runtime] of services.entries()) {
        proxies.push(
          await startInspectorProxy({
            host: '127.0.0.1',
            port: options.inspect.port === 0 ? 0 : options.inspect.port + i,
            target: () => runtime.inspectorSocket(),
          }),
        );
      }
    } catch (err) {
      await Promise.all(proxies.map((proxy) => proxy.close()));
      await core.close(async () => {
        await Promise.all(services.map((runtime) => runtime.pool.close()));
      });
      const port = options.inspect.port + proxies.length;
      throw new HangarError(
        'ADDRESS_IN_USE',
        `the debugger port ${port} (--inspect) cannot be used: ${(err as Error).message}; pick another with --inspect=PORT`,
      );
    }
  }

  const watchers = options.watch ? services.map((runtime) => watchService(runtime, dataDir, options)) : [];
  return {
    url: core.url,
    ...(core.httpsUrl ? { httpsUrl: core.httpsUrl } : {}),
    adminUrl,
    services,
    inspectors: proxies.map((proxy, i) => ({ service: services[i]!.service, port: proxy.port })),
    async close() {
      for (const watcher of watchers) watcher.close();
      await Promise.all(proxies.map((proxy) => proxy.close()));
      await core.close(async () => {
        await Promise.all(services.map((runtime) => runtime.pool.close()));
      });
    },
  };
}

function watchService(runtime: ServiceRuntime, dataDir: string, options: DevPlatformOptions): TreeWatcher {
  const { logger } = options;
  let reloading = Promise.resolve();
  const failed = (what: string, err: unknown) => {
    const message = (err as Error).message;
    runtime.reloadFailure = message;
    logger.error(`${message}\n(still serving the previous ${what}; fix it and save again)`);
  };
  return new TreeWatcher(runtime.config.dir, {
    ignore: [dataDir],
    debounceMs: 50,
    onChange: (files) => {
      reloading = reloading.then(async () => {
        // app.yaml, or the variables of .env/.env.local (read with it, dev-env-files.ts).
        const configChanged = files.some(
          (file) => file === runtime.config.file || isDevEnvFile(file, runtime.config.dir),
        );
        let config = runtime.config;
        if (configChanged) {
          try {
            config = await options.reloadConfig(runtime.config.file);
          } catch (err) {
            failed('app.yaml', err);
            return;
          }
        }
        const names = files.map((file) => relative(runtime.config.dir, file) || file);
        logger.info(
          paint(
            logger.color,
            'cyan',
            `${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''} changed; reloading ${runtime.service}`,
          ),
        );
        try {
          // The new code takes over only once an instance of it has loaded (service-runtime.ts).
          await runtime.reload(config);
          if (runtime.reloadFailure !== undefined) {
            runtime.reloadFailure = undefined;
            logger.info(paint(logger.color, 'green', `${runtime.service}: the new code loaded and serves`));
          }
        } catch (err) {
          failed(configChanged ? 'code and app.yaml' : 'code', err);
        }
      });
    },
  });
}

/** What Node prints on stderr when its inspector opens (`--inspect`). */
const nodeInspectorBanner =
  /^(Debugger listening on ws:|For help, see: https:\/\/nodejs\.org\/en\/docs\/inspector)/;

/** One hour: as good as never, for a developer stopped at a breakpoint. */
const pausedForDebugger = 60 * 60 * 1000;

/**
 * The platform config while a debugger may hold an instance at a breakpoint: its event loop
 * stops, it misses its heartbeats and does not answer pings, and the platform would take it
 * for stuck and kill it. Requests still end at their deadline.
 */
function inspectable(config: PlatformConfig): PlatformConfig {
  return {
    ...config,
    limits: { ...config.limits, unresponsiveAfterMs: pausedForDebugger },
    scheduler: { ...config.scheduler, heartbeatTimeoutMs: pausedForDebugger },
  };
}

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createAdminServer, type InstanceView } from '../admin/admin-server.js';
import { ensureAdminToken } from '../admin/admin-token.js';
import type { AppConfig, PlatformConfig } from '../config/types.js';
import type { TlsFiles } from '../frontend/listener.js';
import { DevRouteTable } from '../frontend/route.js';
import { openLogStore } from '../logs/open-store.js';
import { startRequestLogThread } from '../logs/request-log-thread.js';
import { instanceIsolation, reportIsolation } from '../scheduler/isolation.js';
import { probeMemoryCgroup } from '../scheduler/memory-cgroup.js';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { DATABASE_FILE } from '../shared/database.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { paint } from '../shared/logger.js';
import { devServerSoftware } from '../shared/version.js';
import { startSocketService } from '../sockets/supervisor.js';
import { nodeRuntimeResolver } from '../versions/node-runtimes.js';
import { ServiceRuntime, serviceNode } from './service-runtime.js';
import { createTraffic } from './traffic.js';
import { TreeWatcher } from './watcher.js';

export interface DevPlatformOptions {
  /** One config per service; exactly one of them is the `default` service. */
  services: AppConfig[];
  application: string;
  platformConfig: PlatformConfig;
  host: string;
  port: number;
  adminPort: number;
  dataDir: string;
  watch: boolean;
  logger: Logger;
  /** Re-reads a service's app.yaml after it changed; a rejection keeps the running config. */
  reloadConfig(file: string): Promise<AppConfig>;
  /** An HTTPS listener too (`--https-port`), with its certificate. */
  https?: { port: number; tls: TlsFiles };
}

export interface RunningPlatform {
  url: string;
  /** Set when an HTTPS listener runs. */
  httpsUrl?: string;
  adminUrl: string;
  services: ServiceRuntime[];
  close(): Promise<void>;
}

/**
 * Wires one `hangar dev` platform process (ARCHITECTURE.md): front end, a pool per service's
 * version, the admin API and the file watcher.
 */
export async function startDevPlatform(options: DevPlatformOptions): Promise<RunningPlatform> {
  const { logger } = options;
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const token = ensureAdminToken(dataDir);
  // How instances are kept off the network but for the socket service (S12); a warning unless netns.
  reportIsolation(instanceIsolation(), logger);
  // Each service's `runtime:` (S3) before anything listens: a Node that cannot be had (or fetched,
  // which is logged) stops the start with the reason instead of failing every instance start.
  const nodeRuntimes = nodeRuntimeResolver({
    dataDir,
    configured: options.platformConfig.runtimes,
    log: (message) => logger.info(message),
  });
  for (const [config, node] of await Promise.all(
    options.services.map(async (config) => [config, await serviceNode(nodeRuntimes, config)] as const),
  )) {
    if (node.source !== 'platform')
      logger.info(
        `${config.service}: runtime ${config.runtime} runs on Node ${node.version} (${node.execPath})`,
      );
  }
  // The request log (S9) runs on a worker thread with its own connection to hangar.db
  // (request-log-thread.ts), and prints the dev terminal's request lines with their app lines.
  // The schema is checked here first, so a database Hangar cannot use stops the start with its reason.
  const logStore = { kind: 'sqlite', dataDir } as const;
  openLogStore(logStore).close();
  const logErrorsShown = new Set<string>();
  const requestLogs = startRequestLogThread({
    store: logStore,
    retention: {
      maxAgeMs: options.platformConfig.logs.retentionMs,
      maxBytes: options.platformConfig.logs.maxBytes,
    },
    terminal: logger.fd === undefined ? undefined : { fd: logger.fd, color: logger.color },
    // Each record is in run/'s journal before its answer goes out; a crash loses none (docs/logs.md).
    journal: {
      dir: join(dataDir, 'run'),
      onError: (message) => {
        if (logErrorsShown.has(message)) return;
        logErrorsShown.add(message);
        logger.error(`request log: ${message}`);
      },
    },
    onRecovered: (r) =>
      logger.info(
        `request log: ${r.recovered} entries recovered from the journal of platform process ${r.pids.join(', ')}, which ended without closing its log (${r.alreadyStored} were stored already)`,
      ),
    onError: (message) => {
      if (logErrorsShown.has(message)) return;
      logErrorsShown.add(message);
      logger.error(
        `request log: ${message} (in ${join(dataDir, DATABASE_FILE)}); lines are kept in memory and retried`,
      );
    },
  });

  let closing = false;
  const services: ServiceRuntime[] = [];
  const decisions: ScalingDecision[] = [];
  // `<service>.localhost` and `<service>-dot-...` pick a service (S11); anything else the default.
  const routes = new DevRouteTable();
  // Front end (S5) over HTTP and optionally HTTPS, metering (S10) behind it: traffic.ts.
  const traffic = createTraffic({
    dataDir,
    platformConfig: options.platformConfig,
    serverSoftware: devServerSoftware,
    exposeErrors: true,
    ...(options.https ? { tls: options.https.tls } : {}),
    routes,
    instances: () =>
      services.flatMap((runtime) =>
        runtime.pool.instances.map((instance) => ({
          id: instance.id,
          app: runtime.app,
          service: runtime.service,
          version: runtime.version,
          startedAt: instance.startedAt,
          state: instance.state,
        })),
      ),
    logger,
    onRequest: (record) => requestLogs.request(record),
    journal: requestLogs.journal,
  });
  const { server, httpsServer } = traffic;
  // The socket service (S12) owns every app socket; its bytes are outgoing bandwidth (S10).
  // The hard memory cap (docs/security.md): the kernel's where cgroup v2 allows it, else the
  // platform's RSS watch; said once, so an operator knows which.
  const memoryCgroups = await probeMemoryCgroup();
  logger.info(
    typeof memoryCgroups === 'string'
      ? `memory caps: the platform's RSS watch, every 100 ms (no kernel cap: ${memoryCgroups})`
      : `memory caps: cgroup v2 memory.max per instance under ${memoryCgroups.dir}`,
  );
  const sockets = await startSocketService({
    dataDir,
    config: options.platformConfig.sockets,
    mode: 'dev',
    logger,
    onBytes: ({ app, service, version, sent, received }) => {
      for (const name of ['socket_bytes', 'outgoing_bytes'] as const)
        traffic.meter.add(app, service ?? 'default', version ?? 'dev', name, sent + received);
    },
  });
  const admin = createAdminServer(token, {
    sockets: () => sockets.list(),
    instances: () => services.flatMap(instanceViews),
    decisions: () => decisions,
    quotas: traffic.quotas,
    metrics: traffic.metrics,
    logs: requestLogs,
  });
  await listen(server, options.port, options.host, '--port');
  if (httpsServer && options.https)
    await listen(httpsServer, options.https.port, options.host, '--https-port');
  await listen(admin, options.adminPort, options.host, '--admin-port');
  traffic.ports.http = (server.address() as AddressInfo).port;
  if (httpsServer) traffic.ports.https = (httpsServer.address() as AddressInfo).port;
  const url = `http://${hostForUrl(options.host)}:${(server.address() as AddressInfo).port}`;
  const httpsUrl = httpsServer ? `https://${hostForUrl(options.host)}:${traffic.ports.https}` : undefined;
  const adminUrl = `http://${hostForUrl(options.host)}:${(admin.address() as AddressInfo).port}`;

  for (const config of options.services) {
    const runtime = new ServiceRuntime(config, {
      application: options.application,
      mode: 'dev',
      serverSoftware: devServerSoftware,
      defaultHostname: new URL(url).host,
      dataDir,
      platformConfig: options.platformConfig,
      sockets: sockets.instanceInit(options.application),
      memoryCgroups: typeof memoryCgroups === 'string' ? undefined : memoryCgroups,
      onOutput: (service, instanceId, stream, line) =>
        logger.raw(
          `${paint(logger.color, stream === 'stderr' ? 'magenta' : 'gray', `[${service} ${instanceId.slice(0, 8)}]`)} ${line}`,
        ),
      onLogs: (instanceId, lines) => requestLogs.lines(instanceId, lines),
      onStartFailed: (error) => logger.error(error.message),
      onExit: (service, instanceId, { code, signal }) => {
        if (!closing) {
          logger.warn(
            `instance ${instanceId.slice(0, 8)} of ${service} exited (${signal ?? `code ${code}`})`,
          );
        }
      },
      onDecision: (d) => {
        decisions.push(d);
        if (decisions.length > 500) decisions.shift();
        const who = d.instanceId ? ` ${d.instanceId.slice(0, 8)}` : '';
        logger.raw(
          paint(logger.color, 'blue', `[scaling] ${d.service}/${d.version}: ${d.action}${who}: ${d.reason}`),
        );
      },
      onInternalRequest: (record) => requestLogs.request(record),
      nodeRuntimes,
    });
    services.push(runtime);
    routes.set(runtime);
  }

  const watchers = options.watch ? services.map((runtime) => watchService(runtime, dataDir, options)) : [];
  return {
    url,
    ...(httpsUrl ? { httpsUrl } : {}),
    adminUrl,
    services,
    async close() {
      closing = true;
      for (const watcher of watchers) watcher.close();
      admin.close();
      admin.closeAllConnections();
      // Drain (S6): no new connections; requests in flight finish on their instances, then
      // their responses are written before the connections close.
      const frontends = httpsServer ? [server, httpsServer] : [server];
      const closed = frontends.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const s of frontends) s.closeIdleConnections();
      await Promise.all(services.map((runtime) => runtime.pool.close()));
      await Promise.all(
        frontends.map((s, i) => closeWhenIdle(s, closed[i]!, options.platformConfig.limits.shutdownGraceMs)),
      );
      // Before the meter's last write: the socket service reports its final bytes as it stops.
      await sockets.close();
      if (typeof memoryCgroups !== 'string') await memoryCgroups.remove();
      traffic.close();
      await requestLogs.close();
    },
  };
}

/** Closes keep-alive connections as their last response goes out; any left after `graceMs` are cut. */
async function closeWhenIdle(server: Server, closed: Promise<void>, graceMs: number): Promise<void> {
  const sweep = setInterval(() => server.closeIdleConnections(), 20);
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  server.closeIdleConnections();
  await closed;
  clearInterval(sweep);
  clearTimeout(timer);
}

function watchService(runtime: ServiceRuntime, dataDir: string, options: DevPlatformOptions): TreeWatcher {
  const { logger } = options;
  let reloading = Promise.resolve();
  return new TreeWatcher(runtime.config.dir, {
    ignore: [dataDir],
    debounceMs: 50,
    onChange: (files) => {
      reloading = reloading.then(async () => {
        const configChanged = files.some((file) => resolve(file) === runtime.config.file);
        let config = runtime.config;
        if (configChanged) {
          try {
            config = await options.reloadConfig(runtime.config.file);
          } catch (err) {
            logger.error(`${(err as Error).message}\n(still serving the previous app.yaml)`);
            return;
          }
        }
        logger.info(
          paint(
            logger.color,
            'cyan',
            `${files.slice(0, 3).join(', ')}${files.length > 3 ? ', ...' : ''} changed; reloading ${runtime.service}`,
          ),
        );
        try {
          await runtime.reload(config);
        } catch (err) {
          // A new runtime: whose Node cannot be had.
          logger.error(`${(err as Error).message}\n(still serving the previous app.yaml)`);
        }
      });
    },
  });
}

function instanceViews(runtime: ServiceRuntime): InstanceView[] {
  return runtime.pool.instances.map((instance) => ({
    id: instance.id,
    app: runtime.app,
    service: runtime.service,
    version: runtime.version,
    state: instance.state,
    pid: instance.pid,
    busySlots: instance.inflight,
    slots: instance.slots,
    requestsServed: instance.served,
    started: instance.startedAt.toISOString(),
    readyMs: instance.readyMs ?? null,
    memory: instance.rss,
    memoryLimit: instance.memoryLimitBytes,
  }));
}

function listen(server: Server, port: number, host: string, flag: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new HangarError(
              'ADDRESS_IN_USE',
              `${host}:${port} is already in use; pick another with ${flag} (0 = any free port)`,
            )
          : err,
      );
    });
    server.listen(port, host, () => resolvePromise());
  });
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * What every platform process runs, `hangar dev` and `hangar serve` alike (ARCHITECTURE.md):
 * the data dir and its admin token, the request log on its thread, the front end with metering
 * (traffic.ts), the socket service, the memory caps, the Node runtimes, the admin API. What
 * differs is handed in: the route table and the running versions (dev: services from app.yaml
 * files; serve: deployed versions, serve-state.ts), the mode and what clients are shown.
 */

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { type AdminSource, createAdminServer, type InstanceView } from '../admin/admin-server.js';
import { ensureAdminToken } from '../admin/admin-token.js';
import { type PlatformConfigSource, platformConfigView } from '../admin/config-view.js';
import type { PlatformConfig } from '../config/types.js';
import type { TlsFiles } from '../frontend/listener.js';
import type { NodeHealth } from '../frontend/options.js';
import type { RouteTable } from '../frontend/route.js';
import { DevSignIn } from '../frontend/sign-in/dev-sign-in.js';
import { OidcSignIn } from '../frontend/sign-in/oidc-sign-in.js';
import { CookieSigner, SessionCookies } from '../frontend/sign-in/session-cookie.js';
import { ensureSessionSecret } from '../frontend/sign-in/session-secret.js';
import { NoSignIn, type SignIn } from '../frontend/sign-in/sign-in.js';
import { openLogStore } from '../logs/open-store.js';
import { startRequestLogThread } from '../logs/request-log-thread.js';
import { TimeSeries, timeSeriesQuery } from '../metering/time-series.js';
import { instanceIsolation, reportIsolation } from '../scheduler/isolation.js';
import { type MemoryCgroups, probeMemoryCgroup } from '../scheduler/memory-cgroup.js';
import { instancePlan } from '../scheduler/module-instance.js';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { WarmSpares } from '../scheduler/warm-spares.js';
import { DATABASE_FILE } from '../shared/database.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { startSocketService } from '../sockets/supervisor.js';
import { type NodeRuntimeResolver, nodeRuntimeResolver } from '../versions/node-runtimes.js';
import { lockDataDir } from './data-dir-lock.js';
import { instanceMetricsText, LoadingWaits, sparesView } from './instance-metrics.js';
import type { RuntimeContext, ServiceRuntime } from './service-runtime.js';
import { createTraffic, type Traffic } from './traffic.js';

/** Where a platform process keeps its state and listens, and where it says what it does: dev's and serve's options share these. */
export interface PlatformBase {
  platformConfig: PlatformConfig;
  /** The file `platformConfig` was read from, for `GET /api/config`; undefined: the defaults. */
  platformConfigSource?: PlatformConfigSource | undefined;
  host: string;
  port: number;
  adminPort: number;
  dataDir: string;
  logger: Logger;
  /** An HTTPS listener too (`--https-port`), with its certificate. */
  https?: { port: number; tls: TlsFiles };
  /**
   * Shared state in PostgreSQL (`serve --database`, S16): every store is kept there, so nodes on
   * the same database are one platform. Undefined: SQLite in the data dir.
   */
  database?: ClusterDatabase;
}

/** A node's place in a platform of several `serve` nodes on one PostgreSQL database (S16). */
export interface ClusterDatabase {
  /** postgres://USER:PASSWORD@HOST:PORT/DATABASE */
  url: string;
  /** This node's name (`--node`), unique among the nodes on the database. */
  node: string;
  /**
   * Where this node's socket service takes attaches forwarded by other nodes (`--peer-host`,
   * docs/sockets.md "Several nodes"); default 127.0.0.1, which serves nodes on one machine only.
   */
  peerHost?: string;
}

export interface CoreOptions extends PlatformBase {
  mode: 'dev' | 'serve';
  /** SERVER_SOFTWARE and the front end's Server header (S2). */
  serverSoftware: string;
  /** Error text in 5xx pages (dev) or generic pages (serve). */
  exposeErrors: boolean;
  /** Print each request's line with its app lines on the platform's terminal (dev only). */
  requestLines: boolean;
  /** The request lines' stack traces with every frame (`hangar dev --full-traces`); else the app's own. */
  fullTraces?: boolean;
  routes: RouteTable;
  /** The running versions, for the admin API and metering's instance counts. */
  runtimes(): readonly ServiceRuntime[];
  /** The node's health at HEALTH_PATH for a load balancer (serve on a shared database). */
  health?: () => NodeHealth;
}

export interface PlatformCore {
  dataDir: string;
  token: string;
  traffic: Traffic;
  nodeRuntimes: NodeRuntimeResolver;
  decisions: ScalingDecision[];
  /** Filled in by serve with its deploy and versions endpoints before the admin port listens. */
  admin: AdminSource;
  url: string;
  httpsUrl: string | undefined;
  /** The front end's port. */
  port: number;
  /** What a version of `app` needs to run (the rest of a ServiceRuntime's context). */
  context(app: string, defaultHostname: string): RuntimeContext;
  /** Opens the admin port; call once the admin source is complete. Resolves to its URL. */
  listenAdmin(): Promise<string>;
  /** Set while the platform stops, so instance exits are not reported as failures. */
  readonly closing: boolean;
  /** Stops everything: `stopRuntimes` drains the versions between the listeners and the services. */
  close(stopRuntimes: () => Promise<void>): Promise<void>;
}

/**
 * Sign-in for `login:` handlers (S11): dev's fake page; under serve the OpenID Connect provider
 * of `auth.oidc`, or none when it is not configured (login: handlers then say what to set).
 */
function createSignIn(options: CoreOptions, signer: CookieSigner): SignIn {
  const { auth, authDomain } = options.platformConfig;
  const sessions = new SessionCookies(signer);
  if (options.mode === 'dev') return new DevSignIn(sessions, authDomain);
  if (!auth.oidc) return new NoSignIn(sessions, authDomain);
  options.logger.info(`sign-in: OpenID Connect with ${auth.oidc.issuer} (client ${auth.oidc.clientId})`);
  return new OidcSignIn({
    oidc: auth.oidc,
    admins: auth.admins,
    sessions,
    authDomain,
    warn: (message) => options.logger.warn(message),
  });
}

export async function startCore(options: CoreOptions): Promise<PlatformCore> {
  const { logger } = options;
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // One platform per data dir: a second one is told which is there (data-dir-lock.ts).
  const lock = lockDataDir(dataDir);
  const token = ensureAdminToken(dataDir);
  // One signer for the data dir's session secret: `login:` sessions and the console's (each its own purpose).
  const cookieSigner = new CookieSigner(ensureSessionSecret(dataDir));
  // How instances are kept off the network but for the socket service (S12); a warning unless netns.
  reportIsolation(instanceIsolation(), logger);
  const nodeRuntimes = nodeRuntimeResolver({
    dataDir,
    configured: options.platformConfig.runtimes,
    log: (message) => logger.info(message),
  });
  // The request log (S9) runs on a worker thread with its own connection to hangar.db
  // (request-log-thread.ts); under dev it prints the terminal's request lines with their app lines.
  // The schema is checked here first, so a database Hangar cannot use stops the start with its reason.
  const logStore = options.database
    ? ({ kind: 'postgres', url: options.database.url } as const)
    : ({ kind: 'sqlite', dataDir } as const);
  await (await openLogStore(logStore)).close();
  const logErrorsShown = new Set<string>();
  const once = (message: string, say: () => void) => {
    if (logErrorsShown.has(message)) return;
    logErrorsShown.add(message);
    say();
  };
  const requestLogs = startRequestLogThread({
    store: logStore,
    retention: {
      maxAgeMs: options.platformConfig.logs.retentionMs,
      maxBytes: options.platformConfig.logs.maxBytes,
    },
    terminal:
      options.requestLines && logger.fd !== undefined
        ? { fd: logger.fd, color: logger.color, fullTraces: options.fullTraces === true }
        : undefined,
    // Each record is in run/'s journal before its answer goes out; a crash loses none (docs/logs.md).
    journal: {
      dir: join(dataDir, 'run'),
      onError: (message) => once(message, () => logger.error(`request log: ${message}`)),
    },
    onRecovered: (r) =>
      logger.info(
        `request log: ${r.recovered} entries recovered from the journal of platform process ${r.pids.join(', ')}, which ended without closing its log (${r.alreadyStored} were stored already)`,
      ),
    onError: (message) =>
      once(message, () =>
        logger.error(
          `request log: ${message} (in ${join(dataDir, DATABASE_FILE)}); lines are kept in memory and retried`,
        ),
      ),
  });

  let closing = false;
  const decisions: ScalingDecision[] = [];
  // The platform's instances, for instance-hours (metering) and the console's instance chart.
  const instanceSamples = () =>
    options.runtimes().flatMap((runtime) =>
      runtime.pool.instances.map((instance) => ({
        id: instance.id,
        app: runtime.app,
        service: runtime.service,
        version: runtime.version,
        startedAt: instance.startedAt,
        state: instance.state,
      })),
    );
  // The last hour per second in memory, for the console's charts (docs/console.md).
  const timeSeries = new TimeSeries();
  // Instance processes started ahead of need (docs/scaling.md "Warm spares"): under serve one by
  // default; under dev none unless the config asks (docs/decisions.md).
  const { scheduler } = options.platformConfig;
  const spareCount = scheduler.warmSpares ?? (options.mode === 'serve' ? 1 : 0);
  const spares =
    spareCount > 0
      ? new WarmSpares({
          count: spareCount,
          cwd: join(dataDir, 'run'),
          startTimeoutMs: scheduler.startTimeoutMs,
          backoffMaxMs: scheduler.startBackoffMaxMs,
          log: (message) => logger.warn(message),
        })
      : undefined;
  // Under serve, the usual kind of instance (the platform's Node, a version compiled at deploy,
  // module handlers only) has its spare from the start: the first deploy's instance takes it.
  if (options.mode === 'serve')
    spares?.prepare(instancePlan({ cacheDir: join(dataDir, 'cache', 'ts'), handlers: [] }, undefined, true));
  // What loading requests waited for their instance, for /metrics.
  const loadingWaits = new LoadingWaits();
  // Front end (S5) over HTTP and optionally HTTPS, metering (S10) behind it: traffic.ts.
  const traffic = await createTraffic({
    dataDir,
    platformConfig: options.platformConfig,
    serverSoftware: options.serverSoftware,
    exposeErrors: options.exposeErrors,
    ...(options.https ? { tls: options.https.tls } : {}),
    routes: options.routes,
    instances: instanceSamples,
    logger,
    onRequest: (record) => {
      requestLogs.request(record);
      timeSeries.record(record);
      if (record.loadingRequest && record.pendingMs !== undefined) loadingWaits.observe(record.pendingMs);
    },
    journal: requestLogs.journal,
    // Under serve an admin addresses instances with the token (S11); the app never sees it.
    ...(options.mode === 'serve' ? { adminToken: token } : {}),
    signIn: createSignIn(options, cookieSigner),
    ...(options.database ? { database: options.database } : {}),
    ...(options.health ? { health: options.health } : {}),
  });
  const { server, httpsServer } = traffic;
  // The hard memory cap (docs/security.md): the kernel's where cgroup v2 allows it, else the
  // platform's RSS watch; said once, so an operator knows which.
  const cgroups = await probeMemoryCgroup();
  const memoryCgroups: MemoryCgroups | undefined = typeof cgroups === 'string' ? undefined : cgroups;
  logger.info(
    typeof cgroups === 'string'
      ? `memory caps: the platform's RSS watch, every 100 ms (no kernel cap: ${cgroups})`
      : `memory caps: cgroup v2 memory.max per instance under ${cgroups.dir}`,
  );
  // The socket service (S12) owns every app socket; its bytes are outgoing bandwidth (S10).
  const sockets = await startSocketService({
    dataDir,
    config: options.platformConfig.sockets,
    urlfetch: options.platformConfig.urlfetch,
    mode: options.mode,
    logger,
    // One node of several (S16): descriptors name this node, the registry is in PostgreSQL, and
    // attach of another node's socket is forwarded there (docs/sockets.md "Several nodes").
    ...(options.database
      ? {
          database: { url: options.database.url, node: options.database.node },
          ...(options.database.peerHost ? { peerHost: options.database.peerHost } : {}),
        }
      : {}),
    onBytes: ({ app, service, version, sent, received, urlfetchCalls, urlfetchBytes }) => {
      const where = [app, service ?? 'default', version ?? 'dev'] as const;
      if (sent + received > 0)
        for (const name of ['socket_bytes', 'outgoing_bytes'] as const)
          traffic.meter.add(...where, name, sent + received);
      timeSeries.addSocketBytes(...where, sent + received);
      if (urlfetchCalls > 0) traffic.meter.add(...where, 'urlfetch_calls', urlfetchCalls);
      if (urlfetchBytes > 0) traffic.meter.add(...where, 'urlfetch_bytes', urlfetchBytes);
    },
  });
  const adminSource: AdminSource = {
    sockets: () => sockets.list(),
    instances: () => options.runtimes().flatMap(instanceViews),
    warmSpares: () => sparesView(spares, loadingWaits),
    stopInstance: (id) => options.runtimes().some((runtime) => runtime.pool.stopInstance(id)),
    decisions: () => decisions,
    quotas: traffic.quotas,
    timeseries: (params) => timeSeries.query(timeSeriesQuery(params)),
    metrics: async () => {
      const page = await traffic.metrics();
      return { contentType: page.contentType, body: page.body + instanceMetricsText(spares, loadingWaits) };
    },
    logs: requestLogs,
    platformConfig: () => platformConfigView(options.platformConfig, options.platformConfigSource),
  };
  // The console (docs/console.md) on the admin port: its cookie is signed like login:'s sessions.
  const admin = createAdminServer(token, adminSource, { signer: cookieSigner, mode: options.mode });
  try {
    await listen(server, options.port, options.host, '--port');
    if (httpsServer && options.https)
      await listen(httpsServer, options.https.port, options.host, '--https-port');
  } catch (err) {
    // A port in use: what was started stops, so the process exits with the reason instead of
    // hanging on a socket service, a log thread and timers nobody will stop.
    server.close();
    httpsServer?.close();
    await spares?.close();
    await sockets.close();
    if (memoryCgroups) await memoryCgroups.remove();
    await traffic.close();
    await requestLogs.close();
    lock.release();
    throw err;
  }
  // The instance chart's sample, once a second; unref'd, and cleared by close().
  const sampler = setInterval(() => timeSeries.sampleInstances(instanceSamples()), 1_000).unref();
  traffic.ports.http = (server.address() as AddressInfo).port;
  if (httpsServer) traffic.ports.https = (httpsServer.address() as AddressInfo).port;
  const port = (server.address() as AddressInfo).port;
  lock.listening({ http: port });
  const url = `http://${hostForUrl(options.host)}:${port}`;
  const httpsUrl = httpsServer ? `https://${hostForUrl(options.host)}:${traffic.ports.https}` : undefined;

  const core: PlatformCore = {
    dataDir,
    token,
    traffic,
    nodeRuntimes,
    decisions,
    admin: adminSource,
    url,
    httpsUrl,
    port,
    get closing() {
      return closing;
    },
    context(app, defaultHostname) {
      return {
        application: app,
        mode: options.mode,
        serverSoftware: options.serverSoftware,
        defaultHostname,
        dataDir,
        platformConfig: options.platformConfig,
        sockets: sockets.instanceInit(app),
        memoryCgroups,
        spares,
        onLogs: (instanceId, lines) => requestLogs.lines(instanceId, lines),
        onDecision: (d) => {
          decisions.push(d);
          if (decisions.length > 500) decisions.shift();
        },
        onInternalRequest: (record) => requestLogs.request(record),
        nodeRuntimes,
      };
    },
    async listenAdmin() {
      try {
        await listen(admin, options.adminPort, options.host, '--admin-port');
      } catch (err) {
        // The admin port in use: what the core started stops, so the process exits with the reason.
        await core.close(async () => {});
        throw err;
      }
      const adminPort = (admin.address() as AddressInfo).port;
      const adminUrl = `http://${hostForUrl(options.host)}:${adminPort}`;
      lock.listening({ http: port, admin: adminPort }, localUrl(adminUrl));
      return adminUrl;
    },
    async close(stopRuntimes) {
      closing = true;
      clearInterval(sampler);
      admin.close();
      admin.closeAllConnections();
      // Drain (S6, S11): no new connections; requests in flight finish on their instances, then
      // their responses are written before the connections close.
      const frontends = httpsServer ? [server, httpsServer] : [server];
      const closed = frontends.map((s) => new Promise<void>((done) => s.close(() => done())));
      for (const s of frontends) s.closeIdleConnections();
      // The spares have run no app code and serve nothing: they end at once.
      const sparesClosed = spares?.close();
      await stopRuntimes();
      await sparesClosed;
      await Promise.all(
        frontends.map((s, i) => closeWhenIdle(s, closed[i]!, options.platformConfig.limits.shutdownGraceMs)),
      );
      // Before the meter's last write: the socket service reports its final bytes as it stops.
      await sockets.close();
      if (memoryCgroups) await memoryCgroups.remove();
      await traffic.close();
      await requestLogs.close();
      lock.release();
    },
  };
  return core;
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

/** A URL on this machine for a listener on `url`'s address: the any-address is reached on loopback. */
function localUrl(url: string): string {
  return url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}

export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

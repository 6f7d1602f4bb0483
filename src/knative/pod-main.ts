/**
 * Entry point of a version's Knative pod (SPEC S16, docs/kubernetes.md "The pod"): the image
 * `hangar export kubernetes` writes a Dockerfile for runs `node dist/knative/pod-main.js`. It
 * loads the version's app.yaml and handlers the way an instance does (the instance runtime's
 * own modules: per-request env and context, log capture, the sockets shim, the loader hooks,
 * the module loader), then answers HTTP on $PORT as Knative requires (pod-server.ts). With
 * HANGAR_DATABASE_URL, its request log and metering go to the platform database (pod-database.ts).
 *
 * The platform's instances are started differently (src/instance/main.ts, with
 * HANGAR_INSTANCE_INIT and an IPC channel); nothing here changes them.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { versionDeadlineMs } from '../config/deadline.js';
import { isHangarError } from '../shared/errors.js';
import { newInstanceId } from '../shared/request-id.js';
import { serveServerSoftware } from '../shared/version.js';
import { podMessage } from './pod-log.js';
import { type PodOptions, podOptions } from './pod-options.js';

const out = (line: string) => process.stdout.write(line);

/** Node's own `listen`, kept before the sockets shim refuses listening sockets to app code. */
const rawListen = Server.prototype.listen as (
  this: NetServer,
  port: number,
  host: string,
  done: () => void,
) => NetServer;

let options: PodOptions;
try {
  options = podOptions(process.env);
} catch (err) {
  out(podMessage('ERROR', (err as Error).message));
  process.exit(1);
}

/** Set once the app's own server (script: auto) runs, so a stop ends it too. */
let stopOwnServer: (() => Promise<void>) | undefined;

/** Longest a stopping pod spends writing its last log entries and counts to the database. */
const DATABASE_CLOSE_MS = 5_000;

try {
  const { loadAppConfig, loadPlatformConfig } = await import('../config/index.js');
  const config = await loadAppConfig(join(options.appDir, options.appConfig));
  const platformConfig = await loadPlatformConfig(options.config, { givenBy: 'HANGAR_CONFIG' });
  const instanceId = newInstanceId();
  // With the platform database (S16), the request log and the meter run on a thread of their
  // own, started before the app loads (and before the sockets shim, which is the app's).
  const database = options.databaseUrl
    ? (await import('./pod-database.js')).startPodDatabase({
        url: options.databaseUrl,
        instance: {
          id: instanceId,
          app: options.application,
          service: config.service,
          version: options.version,
          startedAt: new Date(),
        },
        quotas: platformConfig.quotas.daily,
        out,
      })
    : undefined;
  // S8: what the platform gives its instances. env_variables of app.yaml fill in what the
  // container's own environment (the Knative Service's env) does not set.
  const s8: Record<string, string> = {
    APPLICATION_ID: `s~${options.application}`,
    CURRENT_MODULE_ID: config.service,
    CURRENT_VERSION_ID: `${options.version}.${options.minor}`,
    INSTANCE_ID: instanceId,
    SERVER_SOFTWARE: serveServerSoftware,
    AUTH_DOMAIN: platformConfig.authDomain,
    DEFAULT_VERSION_HOSTNAME: process.env.DEFAULT_VERSION_HOSTNAME ?? options.application,
    DATACENTER: 'knative',
    TZ: 'UTC',
  };
  // The app runs in this process: the database URL (with its password) is not left in its
  // environment. Code in the pod can still find it (/proc/self/environ holds the environment
  // the pod started with), so the pods' database user has only the grants docs/kubernetes.md
  // lists.
  delete process.env.HANGAR_DATABASE_URL;
  const instanceEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.envVariables))
    instanceEnv[name] = process.env[name] ?? value;
  Object.assign(instanceEnv, s8);
  Object.assign(process.env, instanceEnv);

  const [
    { showErrorDetail },
    { installPerRequestEnv },
    { installLightResponse },
    { captureConsole, logLine },
  ] = await Promise.all([
    import('../instance/error-page.js'),
    import('../instance/request-context.js'),
    import('../instance/light-response.js'),
    import('../instance/log-capture.js'),
  ]);
  showErrorDetail('none');
  installPerRequestEnv();
  if (process.env.HANGAR_REAL_RESPONSE !== '1') installLightResponse();
  captureConsole();
  process.chdir(config.dir);

  const kinds = new Set(config.handlers.map((h) => h.kind));
  // Before the sockets shim, as in an instance: the app's own server is reached over loopback.
  const entrypoint = kinds.has('entrypoint') ? await import('../instance/entrypoint.js') : undefined;
  const sockets = options.sockets
    ? {
        path: (
          await (
            await import('./socket-bridge.js')
          ).startSocketBridge(
            join(tmpdir(), `hangar-${instanceId.slice(0, 12)}`, 'sockets.sock'),
            options.sockets,
          )
        ).path,
        app: options.application,
        token: options.sockets.token,
      }
    : undefined;
  const who = { instance: instanceId, service: config.service, version: options.version };
  const bridge =
    sockets && (kinds.has('entrypoint') || kinds.has('cgi'))
      ? await (await import('../instance/egress-bridge.js')).startEgressBridge({ sockets, ...who })
      : undefined;
  if (sockets) {
    (await import('../sockets/client/install.js')).installSocketShim({
      ...sockets,
      ...who,
      ownListenPaths: [],
    });
  } else {
    out(
      podMessage(
        'WARNING',
        "HANGAR_SOCKETS=none: the app's sockets and HTTP clients go out directly, without the socket service's rules (S12)",
      ),
    );
  }
  let ownServer: Awaited<ReturnType<NonNullable<typeof entrypoint>['startEntrypoint']>> | undefined;
  if (entrypoint) {
    const { entrypointCommand } = await import('../config/index.js');
    ownServer = await entrypoint.startEntrypoint({
      command: entrypointCommand(config),
      appDir: config.dir,
      env: { ...process.env, ...bridge?.env },
      preload: {
        instanceId,
        service: config.service,
        version: options.version,
        cacheDir: options.cacheDir,
        sockets,
      },
      startTimeoutMs: Math.max(1_000, platformConfig.scheduler.startTimeoutMs - 2_000),
      connections: 64,
      onExit(reason) {
        logLine('critical', `${reason}; the pod ends with it and Kubernetes starts another`);
        process.exit(1);
      },
    });
    stopOwnServer = () => ownServer?.stop() ?? Promise.resolve();
  }
  if (config.handlers.some((h) => h.kind === 'module' || h.kind === 'cgi')) {
    mkdirSync(options.cacheDir, { recursive: true });
    const { register } = await import('node:module');
    register('../instance/loader-hooks.js', {
      parentURL: import.meta.url,
      data: { cacheDir: options.cacheDir },
    });
  }
  const { loadModuleHandler } = await import('../instance/app-loader.js');
  type Loaded = Awaited<ReturnType<typeof loadModuleHandler>>;
  const handlers = new Map<number, Loaded>();
  for (const [index, handler] of config.handlers.entries()) {
    if (handler.kind === 'module')
      handlers.set(index, await loadModuleHandler(config.dir, handler.module, handler.exportName));
    else if (handler.kind === 'cgi') handlers.set(index, { kind: 'cgi', script: handler.script });
    else if (handler.kind === 'entrypoint' && ownServer)
      handlers.set(index, { kind: 'entrypoint', server: ownServer });
  }

  const [{ createPodServer }, { podLogLine }] = await Promise.all([
    import('./pod-server.js'),
    import('./pod-log.js'),
  ]);
  const server = createPodServer({
    config,
    handlers,
    limits: platformConfig.limits,
    deadlineMs: versionDeadlineMs(config.scaling, platformConfig.limits),
    serverSoftware: serveServerSoftware,
    appId: options.application,
    version: options.version,
    instanceId,
    instanceEnv: { ...instanceEnv, ...bridge?.env },
    onRequest: database
      ? (entry, metered) => database.record(entry, metered)
      : (entry) => out(podLogLine(entry)),
    ...(database ? { overQuota: () => database.overQuota() } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    rawListen.call(server, options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  out(
    podMessage(
      'INFO',
      `hangar pod of ${options.application}/${config.service}/${options.version}.${options.minor} listening on http://${options.host}:${port}`,
    ),
  );

  // Knative stops a pod with SIGTERM after taking it out of routing: the requests in flight
  // finish (within limits.drain_timeout), the last log entries and counts go to the database
  // (within DATABASE_CLOSE_MS), then the pod exits.
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    void (database?.close(DATABASE_CLOSE_MS) ?? Promise.resolve()).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => {
    const timer = setTimeout(exit, platformConfig.limits.drainTimeoutMs);
    timer.unref();
    server.close(() => {
      void (stopOwnServer?.() ?? Promise.resolve()).then(exit);
    });
    server.closeIdleConnections();
  });
} catch (err) {
  const message = isHangarError(err) ? `${err.code}: ${err.message}` : ((err as Error).stack ?? String(err));
  out(podMessage('ERROR', `the pod could not start: ${message}`));
  void stopOwnServer?.();
  process.exit(1);
}

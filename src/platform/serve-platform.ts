/**
 * Wires one `hangar serve` platform process (SPEC S2, S11; docs/serve.md): the platform core
 * (platform-core.ts) in production mode, the deployed versions from the VersionStore
 * (serve-state.ts), the hostname route table, and the admin API's deploy and versions
 * endpoints. Production mode: `Hangar/X.Y.Z`, `s~APP`, strict socket rules, generic 5xx
 * pages, no per-request terminal lines.
 */
import { join } from 'node:path';
import { authorized } from '../admin/admin-token.js';
import { DEFAULT_FILE_LIMITS } from '../config/index.js';
import { ServeRouteTable } from '../frontend/serve-routes.js';
import { openDatabase } from '../shared/database.js';
import { serveServerSoftware } from '../shared/version.js';
import { FileBlobStore } from '../versions/blob-store.js';
import { SqliteVersionStore } from '../versions/sqlite-store.js';
import { type PlatformBase, startCore } from './platform-core.js';
import { type ServeRuntime, ServeState } from './serve-state.js';
import { ServiceRuntime } from './service-runtime.js';

export interface ServePlatformOptions extends PlatformBase {
  /** Hostnames are `VERSION-dot-SERVICE-dot-APP.<domain>` (S11). */
  domain: string;
}

export interface RunningServe {
  url: string;
  httpsUrl?: string;
  adminUrl: string;
  state: ServeState;
  close(): Promise<void>;
}

export async function startServePlatform(options: ServePlatformOptions): Promise<RunningServe> {
  const { logger, domain } = options;
  let token = '';
  let state: ServeState | undefined;
  const routes = new ServeRouteTable({
    domain,
    isAdmin: (request) => authorized(request.authorization, token),
    instanceIds: (route) => (route as ServiceRuntime).pool.instances.map((instance) => instance.id),
  });
  const core = await startCore({
    mode: 'serve',
    platformConfig: options.platformConfig,
    platformConfigSource: options.platformConfigSource,
    host: options.host,
    port: options.port,
    adminPort: options.adminPort,
    dataDir: options.dataDir,
    logger,
    serverSoftware: serveServerSoftware,
    exposeErrors: false,
    requestLines: false,
    routes,
    runtimes: () => (state?.runtimes ?? []) as ServiceRuntime[],
    ...(options.https ? { https: options.https } : {}),
  });
  token = core.token;
  const hostPort = (name: string) => `${name}.${domain}:${core.port}`;
  const store = new SqliteVersionStore(openDatabase(core.dataDir));
  state = new ServeState({
    dataDir: core.dataDir,
    store,
    blobs: new FileBlobStore(core.dataDir),
    routes,
    nodeRuntimes: core.nodeRuntimes,
    fileLimits: DEFAULT_FILE_LIMITS,
    logger,
    urlFor: (app, service, version) => `http://${hostPort(`${version}-dot-${service}-dot-${app}`)}`,
    runtimeFor: (record, config, _node): ServeRuntime => {
      const base = core.context(record.app, hostPort(record.app));
      const who = `${record.app}/${record.service}/${record.version}`;
      return new ServiceRuntime(
        config,
        {
          ...base,
          // An instance's own stdout and stderr go to the platform's log, named (its app log
          // lines, console.*, go to the request log as under dev).
          onOutput: (_service, instanceId, stream, line) =>
            logger.info(`[${who} ${instanceId.slice(0, 8)} ${stream}] ${line}`),
          onStartFailed: (error) => logger.error(`${who}: ${error.message}`),
          onExit: (_service, instanceId, { code, signal }) => {
            if (!core.closing)
              logger.warn(
                `instance ${instanceId.slice(0, 8)} of ${who} exited (${signal ?? `code ${code}`})`,
              );
          },
          onDecision: (d) => {
            base.onDecision?.(d);
            logger.info(`[scaling] ${record.app}/${d.service}/${d.version}: ${d.action}: ${d.reason}`);
          },
        },
        {
          version: record.version,
          minor: record.minor,
          dir: record.dir,
          cacheDir: join(record.dir, 'cache'),
        },
      );
    },
  });
  await state.start();
  core.admin.deploys = state;
  core.admin.versions = state;
  const adminUrl = await core.listenAdmin();
  const running = state;
  return {
    url: core.url,
    ...(core.httpsUrl ? { httpsUrl: core.httpsUrl } : {}),
    adminUrl,
    state: running,
    close: () => core.close(() => running.close()),
  };
}

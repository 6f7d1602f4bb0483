/**
 * Wires one `hangar serve` platform process (SPEC S2, S11; docs/serve.md): the platform core
 * (platform-core.ts) in production mode, the deployed versions from the VersionStore
 * (serve-state.ts), the hostname route table, and the admin API's deploy and versions
 * endpoints. Production mode: `Hangar/X.Y.Z`, `s~APP`, strict socket rules, generic 5xx
 * pages, no per-request terminal lines.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { authorized } from '../admin/admin-token.js';
import { DEFAULT_FILE_LIMITS } from '../config/index.js';
import type { NodeHealth } from '../frontend/options.js';
import { ServeRouteTable } from '../frontend/serve-routes.js';
import { openDatabase } from '../shared/database.js';
import { openPostgres, type PgPool } from '../shared/postgres.js';
import { serveServerSoftware } from '../shared/version.js';
import { FileBlobStore } from '../versions/blob-store.js';
import { PgBlobStore } from '../versions/pg-blob-store.js';
import { PgVersionStore } from '../versions/pg-store.js';
import { SqliteVersionStore } from '../versions/sqlite-store.js';
import { adoptSharedSecrets, ClusterMembership } from './cluster.js';
import { type PlatformBase, startCore } from './platform-core.js';
import { type ServeRuntime, ServeState } from './serve-state.js';
import { ServiceRuntime } from './service-runtime.js';

export interface ServePlatformOptions extends PlatformBase {
  /** Hostnames are `VERSION-dot-SERVICE-dot-APP.<domain>` (S11). */
  domain: string;
}

export interface RunningServe {
  /** The shared database and this node's name, when serve runs on PostgreSQL. */
  database?: { url: string; node: string };
  url: string;
  httpsUrl?: string;
  adminUrl: string;
  state: ServeState;
  close(): Promise<void>;
}

/** How often a node on a shared database looks for what other nodes changed (S16). */
export const SYNC_INTERVAL_MS = 500;

export async function startServePlatform(options: ServePlatformOptions): Promise<RunningServe> {
  const { logger, domain, database } = options;
  // On PostgreSQL (S16): join the platform first, so this node takes the shared admin token and
  // session secret before the core reads them from the data dir.
  let pool: PgPool | undefined;
  let membership: ClusterMembership | undefined;
  let ready = false;
  let stopping = false;
  if (database) {
    mkdirSync(options.dataDir, { recursive: true });
    pool = await openPostgres(database.url, {
      applicationName: `hangar serve (node ${database.node})`,
      max: 4,
    });
    try {
      membership = await ClusterMembership.join(pool, database.node);
      await adoptSharedSecrets(membership, options.dataDir);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }
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
    ...(database ? { database } : {}),
    // For a load balancer or a readiness probe (docs/scale-out.md): 503 until this node routes
    // the stored versions, and again once it stops, so new requests go to the other nodes.
    health: (): NodeHealth => {
      const status = stopping ? 'stopping' : ready ? 'ok' : 'starting';
      return {
        status: status === 'ok' ? 200 : 503,
        body: {
          status,
          ...(database ? { node: database.node } : {}),
          versions: state?.runtimes.length ?? 0,
          database: !database ? 'sqlite' : membership?.databaseReachable === false ? 'unreachable' : 'ok',
        },
      };
    },
  }).catch(async (err: unknown) => {
    await pool?.end();
    throw err;
  });
  token = core.token;
  const hostPort = (name: string) => `${name}.${domain}:${core.port}`;
  const store = pool ? await PgVersionStore.open(pool) : new SqliteVersionStore(openDatabase(core.dataDir));
  const blobs = pool ? await PgBlobStore.open(pool) : new FileBlobStore(core.dataDir);
  state = new ServeState({
    dataDir: core.dataDir,
    store,
    blobs,
    ...(pool ? { shared: { syncIntervalMs: SYNC_INTERVAL_MS } } : {}),
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
  ready = true;
  core.admin.deploys = state;
  core.admin.versions = state;
  if (membership) {
    const nodes = membership;
    core.admin.nodes = () => nodes.nodes();
  }
  const adminUrl = await core.listenAdmin();
  await membership?.announce(core.url);
  const running = state;
  return {
    ...(database ? { database } : {}),
    url: core.url,
    ...(core.httpsUrl ? { httpsUrl: core.httpsUrl } : {}),
    adminUrl,
    state: running,
    close: async () => {
      stopping = true;
      await membership?.leave();
      await core.close(() => running.close());
      await pool?.end();
    },
  };
}

/**
 * The traffic side of a platform process: the front-end servers (HTTP, and HTTPS when
 * configured), the meter behind them (S10) with its database (SQLite in the data dir, or the
 * platform's PostgreSQL under `serve --database`, S16), and what the admin API shows of it
 * (`/api/quotas`, `/metrics`). platform.ts listens and closes; this wires.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { PlatformConfig } from '../config/types.js';
import { BodySpool, removeStaleSpools } from '../frontend/body-spool.js';
import { BufferBudget } from '../frontend/buffer-budget.js';
import { createFrontendServer, type TlsFiles } from '../frontend/listener.js';
import type { FrontendOptions, ResponseJournal } from '../frontend/options.js';
import type { RouteTable } from '../frontend/route.js';
import type { ListenPorts } from '../frontend/secure-redirect.js';
import type { SignIn } from '../frontend/sign-in/sign-in.js';
import { type InstanceSample, Meter } from '../metering/meter.js';
import { PgMeteringStore } from '../metering/pg-store.js';
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from '../metering/prometheus.js';
import { SqliteMeteringStore } from '../metering/sqlite-store.js';
import type { MeteringStore } from '../metering/types.js';
import { openDatabase } from '../shared/database.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { openPostgres, redactUrl } from '../shared/postgres.js';
import type { RequestRecord } from '../shared/request-record.js';

export interface TrafficOptions {
  dataDir: string;
  platformConfig: PlatformConfig;
  serverSoftware: string;
  exposeErrors: boolean;
  /** Certificate and key for the HTTPS listener; none: HTTP only. */
  tls?: TlsFiles;
  /** Which service version answers a request (S11): `hangar dev`'s DevRouteTable, serve's table. */
  routes: RouteTable;
  /** The platform's instances, for instance-hours. */
  instances(): InstanceSample[];
  logger: Logger;
  onRequest(record: RequestRecord): void;
  /** The request journal: each record in it before its answer's last bytes go out. */
  journal?: ResponseJournal | undefined;
  /** `hangar serve`: an Authorization header carrying this admin token never reaches an app. */
  adminToken?: string | undefined;
  /** Sign-in for `login:` handlers and `/_ah/login` (frontend/sign-in/). */
  signIn?: SignIn;
  /**
   * `serve --database` (S16): the counters are kept in this PostgreSQL database, shared with the
   * other nodes on it, and daily quotas count every node's traffic. Undefined: SQLite. (The
   * shape of platform-core.ts's ClusterDatabase, not imported: platform-core imports this file.)
   */
  database?: { url: string; node: string } | undefined;
  /** The node's health for a load balancer, at HEALTH_PATH (frontend/options.ts). */
  health?: FrontendOptions['health'];
}

export interface Traffic {
  server: Server;
  httpsServer?: Server;
  /** Fill in once the servers listen: `secure:` redirects point at these ports. */
  ports: ListenPorts;
  meter: Meter;
  /**
   * `GET /api/quotas?day=YYYY-MM-DD` (S10, S14): rejects with a HangarError USAGE for a bad day,
   * DATABASE when the counters cannot be read.
   */
  quotas(query: URLSearchParams): Promise<unknown>;
  /** Prometheus text for `/metrics`; rejects with a HangarError DATABASE when the counters cannot be read. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Writes the last counts and closes the database; call after the servers closed. */
  close(): Promise<void>;
}

/** The meter's store and where it is, for messages; `close` ends the connection(s). */
interface OpenStore {
  store: MeteringStore;
  where: string;
  close(): Promise<void>;
}

/**
 * Opens the counters' database: `<data-dir>/hangar.db`, or with `database` a small pool of its
 * own on the platform's PostgreSQL (migrated to the newest `metering` schema).
 */
async function openStore(options: TrafficOptions): Promise<OpenStore> {
  if (options.database) {
    const where = redactUrl(options.database.url);
    const pool = await openPostgres(options.database.url, {
      applicationName: `hangar metering (node ${options.database.node})`,
      max: 2,
    });
    try {
      return { store: await PgMeteringStore.open(pool), where, close: () => pool.end() };
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }
  const db = openDatabase(options.dataDir);
  try {
    return {
      store: new SqliteMeteringStore(db),
      where: db.name,
      close: async () => {
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Builds the front-end servers and the meter. Opens `<data-dir>/hangar.db`, or under
 * `serve --database` connects to PostgreSQL (throws HangarError DATABASE naming the redacted URL
 * when it cannot), and loads today's counts before it returns, so a restarted node enforces the
 * day's quotas from its first request.
 *
 * @example
 * const traffic = await createTraffic({ dataDir, platformConfig, serverSoftware, exposeErrors: true, routes, instances, logger, onRequest });
 * traffic.server.listen(8080);
 */
export async function createTraffic(options: TrafficOptions): Promise<Traffic> {
  const { logger } = options;
  const { store, where, close: closeStore } = await openStore(options);
  let meterErrorShown = false;
  const meter = new Meter(store, {
    quotas: options.platformConfig.quotas.daily,
    instances: options.instances,
    onError: (err) => {
      // Once: a database that stays away does not flood the log every second.
      if (meterErrorShown) return;
      meterErrorShown = true;
      logger.error(
        `metering: cannot write counts to or read them from ${where} (${err.message}); counts are kept in memory and written when it answers again`,
      );
    },
  });
  // The first flush, started by the Meter, loads today's totals (every node's) for the quota check.
  await meter.flush();
  const unreadable = (err: unknown) =>
    new HangarError('DATABASE', `metering: cannot read the counts from ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  const ports: ListenPorts = {};
  // Big request bodies wait for their instance in run/'s spool files, not in the heap
  // (body-spool.ts); those of a platform process that died go first.
  const runDir = join(options.dataDir, 'run');
  removeStaleSpools(runDir);
  const bodySpool = new BodySpool(runDir);
  const frontend: FrontendOptions = {
    bodySpool,
    // One budget for both listeners: it bounds the platform's memory, not a port's.
    bufferBudget: new BufferBudget(options.platformConfig.limits.maxBufferedBytes),
    routes: options.routes,
    exposeErrors: options.exposeErrors,
    limits: options.platformConfig.limits,
    serverSoftware: options.serverSoftware,
    meter,
    ports: () => ports,
    warn: (message) => logger.warn(message),
    onRequest: options.onRequest,
    ...(options.journal ? { journal: options.journal } : {}),
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...(options.signIn ? { signIn: options.signIn } : {}),
    ...(options.health ? { health: options.health } : {}),
  };
  const server = createFrontendServer(frontend);
  const httpsServer = options.tls
    ? createFrontendServer({ ...frontend, https: true, tls: options.tls })
    : undefined;
  return {
    server,
    ...(httpsServer ? { httpsServer } : {}),
    ports,
    meter,
    quotas: async (query) => {
      const day = query.get('day') ?? undefined;
      if (day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
        throw new HangarError('USAGE', `day must be a UTC date YYYY-MM-DD, not '${day}'`);
      }
      return meter.report(day).catch((err: unknown) => {
        throw unreadable(err);
      });
    },
    metrics: async () => ({
      contentType: PROMETHEUS_CONTENT_TYPE,
      body: await prometheusText(meter).catch((err: unknown) => {
        throw unreadable(err);
      }),
    }),
    async close() {
      bodySpool.close();
      await meter.close();
      await closeStore();
    },
  };
}

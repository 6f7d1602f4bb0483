/**
 * The traffic side of a platform process: the front-end servers (HTTP, and HTTPS when
 * configured), the meter behind them (S10) with its database, and what the admin API shows of
 * it (`/api/quotas`, `/metrics`). platform.ts listens and closes; this wires.
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
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from '../metering/prometheus.js';
import { SqliteMeteringStore } from '../metering/sqlite-store.js';
import { openDatabase } from '../shared/database.js';
import { HangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
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
}

export interface Traffic {
  server: Server;
  httpsServer?: Server;
  /** Fill in once the servers listen: `secure:` redirects point at these ports. */
  ports: ListenPorts;
  meter: Meter;
  /** `GET /api/quotas?day=YYYY-MM-DD` (S10, S14). */
  quotas(query: URLSearchParams): unknown;
  /** Prometheus text for `/metrics`. */
  metrics(): { contentType: string; body: string };
  /** Writes the last counts and closes the database; call after the servers closed. */
  close(): void;
}

/**
 * Builds the front-end servers and the meter. Opens `<data-dir>/hangar.db`.
 *
 * @example
 * const traffic = createTraffic({ dataDir, platformConfig, serverSoftware, exposeErrors: true, routes, instances, logger, onRequest });
 * traffic.server.listen(8080);
 */
export function createTraffic(options: TrafficOptions): Traffic {
  const { logger } = options;
  const db = openDatabase(options.dataDir);
  let meterErrorShown = false;
  const meter = new Meter(new SqliteMeteringStore(db), {
    quotas: options.platformConfig.quotas.daily,
    instances: options.instances,
    onError: (err) => {
      if (meterErrorShown) return;
      meterErrorShown = true;
      logger.error(`metering: cannot write counts to ${db.name} (${err.message}); they are kept in memory`);
    },
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
    quotas: (query) => {
      const day = query.get('day') ?? undefined;
      if (day !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
        throw new HangarError('USAGE', `day must be a UTC date YYYY-MM-DD, not '${day}'`);
      }
      return meter.report(day);
    },
    metrics: () => ({ contentType: PROMETHEUS_CONTENT_TYPE, body: prometheusText(meter) }),
    close() {
      meter.close();
      db.close();
      bodySpool.close();
    },
  };
}

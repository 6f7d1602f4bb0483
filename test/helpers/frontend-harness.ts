/**
 * The real front end (createFrontendServer: parser options, early rejections, every S5 step)
 * in the test's own process, on 127.0.0.1 port 0, with a stub route table and stub instances:
 * a lease's `send()` records the request and calls the test's handler. Tests speak raw HTTP to
 * it (raw-http.ts) and assert on the answer, on the finished RequestRecords (what the request
 * log and the dev terminal get) and on what the instance received, or did not.
 *
 * The multi-process path (a real `hangar dev`, real instances) keeps a smaller set in test/e2e/.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { defaultPlatformConfig, loadAppConfig } from '../../src/config/index.js';
import type { AppConfig, PlatformConfig } from '../../src/config/types.js';
import { createFrontendServer } from '../../src/frontend/listener.js';
import type { FrontendOptions } from '../../src/frontend/options.js';
import type { RouteTable, ServiceRoute } from '../../src/frontend/route.js';
import type { ListenPorts } from '../../src/frontend/secure-redirect.js';
import type { TrafficMeter } from '../../src/metering/types.js';
import type { InstancePool, InstanceRequest, InstanceResponse, Lease } from '../../src/scheduler/instance.js';
import type { RequestRecord } from '../../src/shared/request-record.js';
import { devServerSoftware } from '../../src/shared/version.js';
import { repoRoot } from './dev-server.js';

/** The stub instance: answers each request that reached it. */
export type InstanceHandler = (request: InstanceRequest) => InstanceResponse | Promise<InstanceResponse>;

export interface FrontendHarnessOptions {
  /** The app every host routes to (its app.yaml: handlers, error pages). Default: test/fixtures/pipeline. */
  appDir?: string;
  /** Default: 200 `ok` as text/plain. */
  handler?: InstanceHandler;
  /** Over the platform config's defaults (S15). */
  limits?: Partial<PlatformConfig['limits']>;
  /** Replaces the stub table (which routes every host to the app), e.g. an empty one. */
  routes?: RouteTable;
  /** The meter's quota check (S10): the name of a used-up quota, or undefined. Default: none. */
  overQuota?(app: string): string | undefined;
  /** The platform's ports for `secure:` redirects. Default: none (no HTTPS listener). */
  ports?: ListenPorts;
  /** The platform's admin token (serve), stripped from requests before instances get them. Default: none (dev). */
  adminToken?: string;
}

export interface FrontendHarness {
  /** `http://127.0.0.1:PORT`, for raw-http.ts. */
  url: string;
  /** The route the stub table answers with. */
  route: ServiceRoute;
  /** Every request the stub instances received, in order. */
  received: InstanceRequest[];
  /** Every finished request (onRequest, step 8), in order. */
  records: RequestRecord[];
  /** Every request the meter counted (step 8). */
  counted: RequestRecord[];
  /** Leases taken and released: every lease is released once its request ends. */
  leases: { acquired: number; released: number };
  /** Platform warnings (e.g. `secure: always` with no HTTPS listener). */
  warnings: string[];
  /** The first finished record matching `match`, already there or still to come; rejects after `timeoutMs`. */
  record(match: (record: RequestRecord) => boolean, timeoutMs?: number): Promise<RequestRecord>;
  /** Closes the server and every connection to it. */
  stop(): Promise<void>;
  /** The front end's server, e.g. for its open connections (`getConnections`). */
  server: Server;
  /** Resolves once the server holds `n` connections or fewer; rejects after `timeoutMs`. */
  connectionsAtMost(n: number, timeoutMs?: number): Promise<void>;
}

/** An instance's answer, with no app lines. */
export function reply(
  body: string | Buffer,
  init: { status?: number; headers?: InstanceResponse['headers'] } = {},
): InstanceResponse {
  return {
    status: init.status ?? 200,
    headers: init.headers ?? {},
    body: typeof body === 'string' ? Buffer.from(body) : body,
    lines: undefined,
    linesComplete: true,
  };
}

/** The request's headers as a Map of lower-case names (repeated ones joined with `, `). */
export function headerMap(request: InstanceRequest): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < request.headers.length; i += 2) {
    const name = request.headers[i]!.toLowerCase();
    const value = request.headers[i + 1]!;
    const prior = map.get(name);
    map.set(name, prior === undefined ? value : `${prior}, ${value}`);
  }
  return map;
}

/** Starts the front end with stub instances; call `stop()` when done. */
export async function startFrontendHarness(options: FrontendHarnessOptions = {}): Promise<FrontendHarness> {
  const config = await loadAppConfig(options.appDir ?? join(repoRoot, 'test/fixtures/pipeline'));
  const limits = { ...defaultPlatformConfig.limits, ...options.limits };
  const handler = options.handler ?? (() => reply('ok', { headers: { 'content-type': 'text/plain' } }));
  const received: InstanceRequest[] = [];
  const records: RequestRecord[] = [];
  const counted: RequestRecord[] = [];
  const warnings: string[] = [];
  const leases = { acquired: 0, released: 0 };
  const waiters = new Set<() => void>();

  let served = 0;
  const pool: InstancePool = {
    async acquire(): Promise<Lease> {
      leases.acquired++;
      let released = false;
      let loading = false;
      return {
        instanceId: 'stub-instance',
        pendingMs: 0,
        get loading() {
          return loading;
        },
        async send(request) {
          loading = served++ === 0;
          received.push(request);
          return handler(request);
        },
        release() {
          if (released) throw new Error('lease released twice');
          released = true;
          leases.released++;
        },
      };
    },
  };
  const route = serviceRoute(config, pool, limits.deadlineGraceMs);
  const meter: TrafficMeter = {
    overQuota: (app) => options.overQuota?.(app),
    count: (record) => counted.push(record),
  };
  const frontend: FrontendOptions = {
    routes: options.routes ?? { route: () => route },
    exposeErrors: true,
    limits,
    serverSoftware: devServerSoftware,
    meter,
    ...(options.ports ? { ports: () => options.ports! } : {}),
    ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
    warn: (message) => warnings.push(message),
    onRequest: (record) => {
      records.push(record);
      for (const waiter of waiters) waiter();
    },
  };
  const server = createFrontendServer(frontend);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    route,
    received,
    records,
    counted,
    leases,
    warnings,
    record: (match, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = records.find(match);
          if (!found) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`no matching request record within ${timeoutMs} ms; records: ${describe(records)}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: () => close(server),
    server,
    connectionsAtMost: (n, timeoutMs = 5_000) => connectionsAtMost(server, n, timeoutMs),
  };
}

/** Polls the server's connection count (it changes on 'close' events the test cannot see). */
async function connectionsAtMost(server: Server, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = await new Promise<number>((resolve, reject) =>
      server.getConnections((err, open) => (err ? reject(err) : resolve(open))),
    );
    if (count <= n) return;
    if (Date.now() > deadline) throw new Error(`the server still has ${count} connections (want ≤ ${n})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The app's one version as the stub table hands it out. */
function serviceRoute(config: AppConfig, pool: InstancePool, deadlineGraceMs: number): ServiceRoute {
  // Instance handlers (module, entrypoint) by position in `handlers:`, numbered in order (as service-runtime.ts does).
  const handlerIndex = new Map<number, number>();
  config.handlers.forEach((handler, index) => {
    if (handler.kind !== 'static-dir' && handler.kind !== 'static-files')
      handlerIndex.set(index, handlerIndex.size);
  });
  return {
    app: 'harness',
    service: config.service,
    version: config.version ?? 'dev',
    config,
    pool,
    handlerIndex,
    deadlineMs: undefined,
    deadlineGraceMs,
  };
}

function describe(records: readonly RequestRecord[]): string {
  return JSON.stringify(records.map((r) => `${r.method} ${r.resource} ${r.status} ${r.error ?? ''}`));
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { CookieSigner } from '../frontend/sign-in/session-cookie.js';
import { parseLogQuery } from '../logs/query-params.js';
import type { LogPage, LogQuery } from '../logs/types.js';
import type { ScalingDecision } from '../scheduler/version-pool.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import { authorized } from './admin-token.js';
import type { InstanceView, WarmSparesView } from './api-views.js';
import type { PlatformConfigView } from './config-view.js';
import { isConsoleAssetPath, serveConsoleAsset } from './console-assets.js';
import {
  ConsoleSessions,
  CSRF_REFUSED,
  consoleCookieAccess,
  handleConsoleSession,
} from './console-session.js';
import { type DeployApi, handleDeployRoutes, type VersionsApi } from './deploy-api.js';

export type { InstanceView, WarmSparesView } from './api-views.js';

/** What `GET /metrics` answers. */
export interface MetricsPage {
  contentType: string;
  body: string;
}

export interface AdminSource {
  instances(): InstanceView[];
  /** The warm spares and their use, listed with the instances (docs/scaling.md "Warm spares"). */
  warmSpares?(): WarmSparesView;
  /** Scaling decisions, oldest first (S6). */
  decisions(): readonly ScalingDecision[];
  /**
   * Metering report for `GET /api/quotas` (S10), or a promise of it (the counters are read from
   * the database); may throw or reject with a HangarError for a bad query or an unreadable store.
   */
  quotas?(query: URLSearchParams): unknown;
  /** The console's charts, `GET /api/timeseries` (docs/console.md); may throw a HangarError for a bad query. */
  timeseries?(params: URLSearchParams): unknown;
  /** Prometheus text exposition for `GET /metrics` (S10, S14); may reject with the reason it cannot be read. */
  metrics?(): MetricsPage | Promise<MetricsPage>;
  /** Open sockets of the socket service, for `GET /api/sockets` (S12, S14). */
  sockets?(): Promise<unknown[]>;
  /** The request log (S9): `GET /api/logs` and `GET /api/logs/stream`. */
  logs?: {
    query(query: LogQuery): Promise<LogPage>;
    /** A live tail as Server-Sent Events text (request-log-thread.ts); returns its end. */
    stream(query: LogQuery, maxPerSecond: number | undefined, write: (text: string) => void): () => void;
  };
  /** `POST /api/instances/<id>/stop`: drains and stops one instance; false when none has that id. */
  stopInstance?(id: string): boolean;
  /** `GET /api/config`: the platform config in force, without its secret (config-view.ts). */
  platformConfig?(): PlatformConfigView;
  /**
   * `GET /api/nodes`: the nodes of a platform on a shared database (docs/scale-out.md), each
   * with its front end's URL and whether its heartbeat is fresh. Absent on one machine.
   */
  nodes?(): Promise<unknown[]>;
  /** `hangar serve`: the deploy protocol and the versions API (docs/serve.md). */
  deploys?: DeployApi;
  versions?: VersionsApi;
}

/** The web console on the admin port (docs/console.md): its cookie's signer, the mode it shows, its files. */
export interface AdminConsole {
  signer: CookieSigner;
  mode: 'dev' | 'serve';
  /** Where index.html and the files of /console/assets/ are; dist/console/ by default. */
  assetsDir?: string | URL;
}

/**
 * The admin API (SPEC S14), bearer-token protected. `GET /api/instances` lists instances and
 * the scaling decisions; logs, quotas, versions and sockets join as their issues land. With
 * `webConsole`, the console's page and session too, and its cookie stands for the token.
 */
export function createAdminServer(token: string, source: AdminSource, webConsole?: AdminConsole): Server {
  const consoleSessions = webConsole ? new ConsoleSessions(webConsole.signer, token) : undefined;
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const json = `${JSON.stringify(body)}\n`;
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(json),
      });
      res.end(json);
    };
    const path = (req.url ?? '/').split('?')[0];
    // The console (console-assets.ts, console-session.ts): its page, files and sign-in need no token.
    if (webConsole && consoleSessions && path !== undefined) {
      if (isConsoleAssetPath(path)) {
        serveConsoleAsset(req, res, path, webConsole.assetsDir);
        return;
      }
      if (path === '/console/session') {
        handleConsoleSession(req, res, { sessions: consoleSessions, token, mode: webConsole.mode, send });
        return;
      }
    }
    if (!authorized(req.headers.authorization, token)) {
      // No bearer token: the console's cookie stands for it; a write with it needs X-Hangar-CSRF.
      const access = consoleSessions ? consoleCookieAccess(req, consoleSessions) : 'none';
      if (access === 'csrf') {
        send(403, { error: CSRF_REFUSED });
        return;
      }
      if (access === 'none') {
        res.setHeader('www-authenticate', 'Bearer');
        send(401, { error: 'missing or wrong bearer token; find it in <data-dir>/admin-token' });
        return;
      }
    }
    if (req.method === 'GET' && path === '/api/instances') {
      send(200, {
        instances: source.instances(),
        decisions: source.decisions(),
        ...(source.warmSpares ? { warmSpares: source.warmSpares() } : {}),
      });
      return;
    }
    const stop = /^\/api\/instances\/([^/]+)\/stop$/.exec(path ?? '');
    if (req.method === 'POST' && stop && source.stopInstance) {
      const id = decodeURIComponent(stop[1] ?? '');
      if (source.stopInstance(id)) send(202, { stopping: id });
      else send(404, { error: `no instance ${id}; hangar instances list shows the running ones` });
      return;
    }
    const nodes = source.nodes?.bind(source);
    if (req.method === 'GET' && path === '/api/nodes' && nodes) {
      nodes().then(
        (list) => send(200, { nodes: list }),
        (err: Error) =>
          send(503, { error: `the nodes cannot be read from the platform database: ${err.message}` }),
      );
      return;
    }
    if (req.method === 'GET' && path === '/api/config' && source.platformConfig) {
      send(200, source.platformConfig());
      return;
    }
    const quotas = source.quotas?.bind(source);
    if (req.method === 'GET' && path === '/api/quotas' && quotas) {
      // The report may come from the database (a promise); a bad query throws or rejects alike.
      Promise.resolve()
        .then(() => quotas(new URL(req.url ?? '/', 'http://admin').searchParams))
        .then(
          (report) => send(200, report),
          (err: Error) =>
            send(isHangarError(err) ? (err.status ?? 500) : 500, {
              error: isHangarError(err) ? err.message : `the quotas could not be read: ${err.message}`,
            }),
        );
      return;
    }
    if (req.method === 'GET' && path === '/api/timeseries' && source.timeseries) {
      try {
        send(200, source.timeseries(new URL(req.url ?? '/', 'http://admin').searchParams));
      } catch (err) {
        if (!isHangarError(err)) throw err;
        send(err.status ?? 500, { error: err.message });
      }
      return;
    }
    const metrics = source.metrics?.bind(source);
    if (req.method === 'GET' && path === '/metrics' && metrics) {
      Promise.resolve()
        .then(metrics)
        .then(
          ({ contentType, body }) => {
            res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
            res.end(body);
          },
          (err: Error) => {
            // Text, as Prometheus shows a failed scrape's body.
            const text = `the metrics could not be read: ${err.message}\n`;
            res.writeHead(500, {
              'content-type': 'text/plain; charset=utf-8',
              'content-length': Buffer.byteLength(text),
            });
            res.end(text);
          },
        );
      return;
    }
    if (req.method === 'GET' && path === '/api/sockets' && source.sockets) {
      source.sockets().then(
        (sockets) => send(200, { sockets }),
        (err: Error) => send(503, { error: `the socket service did not answer: ${err.message}` }),
      );
      return;
    }
    const logs = source.logs;
    if (req.method === 'GET' && (path === '/api/logs' || path === '/api/logs/stream') && logs) {
      let query: LogQuery;
      let maxPerSecond: number | undefined;
      try {
        const params = new URL(req.url ?? '/', 'http://admin').searchParams;
        maxPerSecond = parseMaxPerSecond(params.get('max_per_second'));
        params.delete('max_per_second');
        query = parseLogQuery(params);
      } catch (err) {
        if (!isHangarError(err)) throw err;
        send(err.status ?? 400, { error: err.message });
        return;
      }
      if (path === '/api/logs') {
        logs.query(query).then(
          (page) => send(200, page),
          (err: Error) => send(500, { error: `the request log could not be read: ${err.message}` }),
        );
      } else {
        streamLogs(res, logs, query, maxPerSecond);
      }
      return;
    }
    if (handleDeployRoutes(req, res, path ?? '/', send, source.deploys, source.versions)) return;
    send(404, { error: `no admin endpoint ${req.method} ${path}` });
  });
}

/**
 * `GET /api/logs/stream`: Server-Sent Events, one `data:` event per finished request matching
 * the filters (each a `--json` object); with `max_per_second=N`, at most N a second and an
 * `event: skipped` with the count of the rest (the console asks so). The events are made in the
 * log worker (log-streams.ts) and come in pieces of up to 100 ms: one write each. A comment
 * every 15 s keeps proxies from closing it.
 */
function streamLogs(
  res: ServerResponse,
  logs: NonNullable<AdminSource['logs']>,
  query: LogQuery,
  maxPerSecond: number | undefined,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  res.write(': hangar request log\n\n');
  const end = logs.stream(query, maxPerSecond, (text) => writeTail(res, text));
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  res.once('close', () => {
    clearInterval(keepAlive);
    end();
  });
}

/** Bytes of a live tail the platform holds for a client that does not read, before it ends the stream. */
export const MAX_UNREAD_TAIL_BYTES = 16 * 1024 * 1024;

/**
 * Writes a piece of a live tail. A client that does not read would make the platform hold the
 * tail for it without bound: past `cap` unread bytes its connection is closed instead (an
 * EventSource reconnects; `hangar logs --tail` ends).
 */
export function writeTail(
  res: Pick<ServerResponse, 'destroyed' | 'writableLength' | 'write' | 'destroy'>,
  text: string,
  cap = MAX_UNREAD_TAIL_BYTES,
): void {
  if (res.destroyed) return;
  if (res.writableLength > cap) {
    res.destroy();
    return;
  }
  res.write(text);
}

/** `max_per_second` of a live tail: a whole number 1-100000, or none. */
function parseMaxPerSecond(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Number(value);
  if (/^\d+$/.test(value) && n >= 1 && n <= 100_000) return n;
  throw new HangarError(
    'USAGE',
    `max_per_second=${value} is not a whole number from 1 to 100000; leave it out for every entry`,
    { status: 400 },
  );
}

/**
 * The admin API's JSON as the console reads it. The log entry, instances, versions and routing
 * are the platform's own types (type-only imports of modules without Node imports, erased by the
 * bundle); the other shapes are written out here, because the modules that define them import
 * Node's (tsconfig.console.json has no Node types), and each names where the platform defines it.
 */

/** `GET /console/session` (docs/console.md). */
export interface SessionInfo {
  signedIn: boolean;
  csrf?: string;
  mode: 'dev' | 'serve';
}

/** A scaling decision with its reason (src/scheduler/version-pool.ts ScalingDecision). */
export interface ScalingDecision {
  at: string;
  app?: string;
  service: string;
  version: string;
  action: string;
  instanceId?: string;
  reason: string;
}

export interface InstancesDoc {
  instances: InstanceView[];
  decisions: ScalingDecision[];
}

/** The S9 levels, lowest first (src/shared/log-levels.ts). */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * `GET /api/instances`, `GET /api/versions` and `GET /api/routing`: the platform's own types,
 * from the admin API's import-free module.
 */
import type { InstanceView } from '../admin/api-views.js';

export type { InstanceView, RoutingView as RoutingDoc, VersionView } from '../admin/api-views.js';
/**
 * One request's log entry and a page of them (`GET /api/logs`): the platform's own types. A
 * type-only import is erased by esbuild, so no server code reaches the bundle, and the console
 * cannot drift from what the API sends.
 */
export type { LogEntry, LogPage } from '../logs/types.js';

/** `GET /api/quotas` (src/metering/meter.ts QuotaReport). */
export interface QuotaReport {
  day: string;
  limits: Record<string, number>;
  apps: Array<{ app: string; usage: Record<string, number>; overQuota: string[] }>;
  versions: Array<{ app: string; service: string; version: string; usage: Record<string, number> }>;
}

/** `GET /api/sockets` (src/sockets/ipc.ts SocketView). */
export interface SocketView {
  id: string;
  /** The node whose socket service holds it, when several nodes share a database (S16). */
  node?: string;
  app: string;
  service: string | null;
  version: string | null;
  protocol: 'tcp' | 'udp';
  destination: string | null;
  remote: string | null;
  instance: string | null;
  request: string | null;
  state: 'open' | 'detached';
  bytesSent: number;
  bytesReceived: number;
  openedAt: string;
  ageMs: number;
  idleMs: number;
  reclaimInMs: number;
}

/** One app version's series of `GET /api/timeseries` (docs/console.md). */
export interface TimeSeries {
  app: string;
  service: string;
  version: string;
  t: number[];
  requests: Array<number | null>;
  p50: Array<number | null>;
  p95: Array<number | null>;
  p99: Array<number | null>;
  errors4xx: Array<number | null>;
  errors5xx: Array<number | null>;
  errorsPlatform: Array<number | null>;
  instances: Array<number | null>;
  loading: Array<number | null>;
  bytesIn: Array<number | null>;
  bytesOut: Array<number | null>;
  socketBytes: Array<number | null>;
}

export interface TimeSeriesDoc {
  now: number;
  step: number;
  series: TimeSeries[];
}

/** The numeric arrays of a TimeSeries. */
export type Metric = Exclude<keyof TimeSeries, 'app' | 'service' | 'version' | 't'>;

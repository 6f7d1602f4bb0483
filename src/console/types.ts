/**
 * The admin API's JSON as the console reads it. The log entry is the platform's own type (a
 * type-only import of a module without Node imports); the other shapes are written out here,
 * because the modules that define them import Node's (tsconfig.console.json has no Node types),
 * and each names where the platform defines it.
 */

/** `GET /console/session` (docs/console.md). */
export interface SessionInfo {
  signedIn: boolean;
  csrf?: string;
  mode: 'dev' | 'serve';
}

/** `GET /api/instances` (src/admin/admin-server.ts InstanceView, scheduler ScalingDecision). */
export interface InstanceView {
  id: string;
  app: string;
  service: string;
  version: string;
  state: string;
  pid: number | null;
  busySlots: number;
  slots: number;
  requestsServed: number;
  started: string;
  readyMs: number | null;
  memory: number;
  memoryLimit: number;
}

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

/** `GET /api/versions` (src/admin/deploy-api.ts VersionView). */
export interface VersionView {
  app: string;
  service: string;
  version: string;
  minor: string;
  created: string;
  runtime: string;
  node: string;
  traffic: number;
  instances: number;
  url: string;
}

/** `GET /api/routing` (src/admin/deploy-api.ts RoutingView): splits and dispatch rules. */
export interface RoutingDoc {
  splits: Array<{ app: string; service: string; allocations: Record<string, number>; shardBy: string }>;
  dispatch: Array<{ app: string; rules: Array<{ url: string; service: string }> }>;
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

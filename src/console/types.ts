/**
 * The admin API's JSON as the console reads it. Written out here rather than imported from the
 * platform's modules: the console is bundled for the browser (tsconfig.console.json, DOM lib)
 * and must not pull server code in. Each shape names where the platform defines it.
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

/** One request's log entry (src/logs/types.ts LogEntry). */
export interface LogEntry {
  requestId: string;
  appId: string | null;
  service: string | null;
  version: string | null;
  instanceId: string | null;
  startTime: string;
  latencyMs: number;
  pendingMs: number;
  method: string;
  resource: string;
  httpVersion: string | null;
  status: number;
  bytesIn: number;
  bytesOut: number;
  userAgent: string | null;
  ip: string | null;
  host: string | null;
  loadingRequest: boolean;
  secure: boolean;
  error: string | null;
  split: string | null;
  lines: Array<{ time: string; level: LogLevel; message: string }>;
}

/** `GET /api/logs`: newest last; `next` pages further into the past. */
export interface LogPage {
  entries: LogEntry[];
  next: string | null;
}

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

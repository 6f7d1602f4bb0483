/**
 * One Hangar version as a Knative Service, and one service's traffic as a Knative Route (SPEC
 * S16; the mapping table is docs/kubernetes.md "What maps to what"). Pure: a version's parsed
 * app.yaml, its traffic and the platform config in, manifest objects out, with a note for each
 * setting that has no Knative equivalent, so the README can say what differs.
 */
import { versionDeadlineMs } from '../../config/deadline.js';
import type { AppConfig, PlatformConfig } from '../../config/types.js';
import { memoryLimits } from '../../platform/service-runtime.js';
import { memoryCapFactor } from '../../scheduler/instance.js';
import { revisionName, socketTokenSecretName, versionServiceName } from './names.js';

/** Where the pod's container finds the platform config (the `hangar-config` ConfigMap). */
export const CONFIG_MOUNT = '/etc/hangar';
export const CONFIG_FILE_NAME = 'hangar.config.yaml';
/** The ConfigMap and the socket service's Kubernetes names. */
export const CONFIG_MAP_NAME = 'hangar-config';
export const SOCKETS_NAME = 'hangar-sockets';
export const SOCKETS_PORT = 7000;
/** The key of the `--database-secret` Secret that holds the platform database's URL (the front end's). */
export const DATABASE_URL_KEY = 'url';
/**
 * The key of the same Secret with the version pods' URL: a database user of their own with only
 * the grants of `podDatabaseGrants()` (pod-grants.ts), since code in a pod can read its URL.
 */
export const POD_DATABASE_URL_KEY = 'pods-url';
/** The label every version pod carries; the NetworkPolicies select on it. */
export const INSTANCE_ROLE = { 'hangar.dev/role': 'instance' } as const;

/** Knative's bounds for `autoscaling.knative.dev/window` (its webhook refuses others). */
const WINDOW_MIN_MS = 6_000;
const WINDOW_MAX_MS = 3_600_000;

/** What the export knows of one version. */
export interface VersionInput {
  app: string;
  service: string;
  version: string;
  minor: string;
  /** The version's app.yaml, parsed (loadAppConfig). */
  config: AppConfig;
  /** Its file name among the version's files. */
  configFile: string;
  /** Its share of the service's traffic, 0..1. */
  traffic: number;
  /** Its image (`docker build` of its folder). */
  image: string;
  /** Its Knative Service's name; default `versionServiceName()`. */
  name?: string;
}

export interface ExportSettings {
  namespace: string;
  /** The platform config in force on the platform exported from. */
  platform: PlatformConfig;
  /**
   * The Secret holding the platform database's URL (key `url`): the pods write their request
   * log and counts there (HANGAR_DATABASE_URL). Unset: request logs on stdout, no metering.
   */
  databaseSecret?: string;
}

/** A manifest document (plain data, written as YAML). */
export type Manifest = Record<string, unknown>;

/** A version's Knative Service, and what of its app.yaml has no equivalent there. */
export interface MappedVersion {
  manifest: Manifest;
  name: string;
  revision: string;
  /** Settings of this version that Knative does not do as Hangar does, one sentence each. */
  notes: string[];
}

/**
 * S6: requests an instance takes at once. Knative's `containerConcurrency` is the same hard
 * limit: a pod never gets more, and the rest wait in Knative's queue (the activator).
 *
 * @example
 * containerConcurrency({ threadsafe: false, scaling }) // 1
 */
export function containerConcurrency(config: Pick<AppConfig, 'threadsafe' | 'scaling'>): number {
  if (!config.threadsafe) return 1;
  return config.scaling.kind === 'automatic' ? config.scaling.maxConcurrentRequests : 10;
}

/**
 * `timeoutSeconds`: the request deadline plus its grace (the pod answers with the timeout page
 * itself at that point), plus one second, so that Knative's own cut (a 504 from the
 * queue-proxy) only ever meets a pod that could not answer. Undefined without a deadline
 * (basic and manual scaling): Knative's default (`revision-timeout-seconds`, 300 s) applies.
 *
 * @example
 * timeoutSeconds(automaticConfig, defaultPlatformConfig) // 62 (60 s deadline + 1 s grace + 1 s)
 */
export function timeoutSeconds(
  config: Pick<AppConfig, 'scaling'>,
  platform: PlatformConfig,
): number | undefined {
  const deadline = versionDeadlineMs(config.scaling, platform.limits);
  if (deadline === undefined) return undefined;
  return Math.ceil((deadline + platform.limits.deadlineGraceMs) / 1000) + 1;
}

/**
 * The Knative Pod Autoscaler's annotations for the version's scaling (docs/kubernetes.md has
 * the table), with notes for what does not map.
 */
export function scalingAnnotations(
  config: Pick<AppConfig, 'threadsafe' | 'scaling' | 'inboundServices'>,
  serving: boolean,
  platform: PlatformConfig,
): { annotations: Record<string, string>; notes: string[] } {
  const a: Record<string, string> = {
    'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
    'autoscaling.knative.dev/metric': 'concurrency',
    'autoscaling.knative.dev/target': String(containerConcurrency(config)),
  };
  const notes: string[] = [];
  const { scaling } = config;
  if (scaling.kind === 'automatic') {
    a['autoscaling.knative.dev/target-utilization-percentage'] = String(
      Math.round(scaling.targetThroughputUtilization * 100),
    );
    // S11: a version without traffic scales to zero, whatever its min_instances.
    if (serving && scaling.minInstances > 0)
      a['autoscaling.knative.dev/min-scale'] = String(scaling.minInstances);
    if (!serving && scaling.minInstances > 0) {
      notes.push(
        `min_instances ${scaling.minInstances} applies while the version receives traffic; it has none, so it scales to zero`,
      );
    }
    a['autoscaling.knative.dev/max-scale'] = String(scaling.maxInstances);
    a['autoscaling.knative.dev/window'] = seconds(
      clamp(platform.scheduler.idlePeriodMs, WINDOW_MIN_MS, WINDOW_MAX_MS),
    );
    if (scaling.minIdleInstances > 0 || scaling.maxIdleInstances !== 1) {
      notes.push(
        `min_idle_instances ${scaling.minIdleInstances} / max_idle_instances ${scaling.maxIdleInstances}: Knative keeps no idle pods beyond its target; not mapped`,
      );
    }
    notes.push(
      `min_pending_latency / max_pending_latency: Knative's activator queues requests without these bounds (no 503 after max_pending_latency); not mapped`,
    );
  } else if (scaling.kind === 'basic') {
    // Basic scaling starts an instance only for a request that finds no free slot.
    a['autoscaling.knative.dev/target-utilization-percentage'] = '100';
    a['autoscaling.knative.dev/max-scale'] = String(scaling.maxInstances);
    a['autoscaling.knative.dev/window'] = seconds(clamp(scaling.idleTimeoutMs, WINDOW_MIN_MS, WINDOW_MAX_MS));
    a['autoscaling.knative.dev/scale-to-zero-pod-retention-period'] = seconds(scaling.idleTimeoutMs);
    if (scaling.idleTimeoutMs < WINDOW_MIN_MS || scaling.idleTimeoutMs > WINDOW_MAX_MS) {
      notes.push(`idle_timeout is outside Knative's window (6s-1h): the window is clamped to it`);
    }
  } else {
    const n = String(scaling.instances);
    a['autoscaling.knative.dev/min-scale'] = n;
    a['autoscaling.knative.dev/max-scale'] = n;
    a['autoscaling.knative.dev/initial-scale'] = n;
    notes.push('manual_scaling: the pods get no GET /_ah/start when they start');
  }
  if (config.inboundServices.includes('warmup')) {
    notes.push('inbound_services: warmup: Knative sends no GET /_ah/warmup to a new pod');
  }
  return { annotations: a, notes };
}

/**
 * The container's memory (S6): the instance class's limit as the request (what the scheduler
 * reserves) and the hard cap above it (docs/security.md: 1.25 x) as the limit, where the kernel
 * ends the pod as the platform kills an instance past its cap. The platform's softer step, an
 * instance over its limit replaced after its requests finish, has no equivalent.
 */
export function memoryResources(config: Pick<AppConfig, 'instanceClass'>): {
  requests: { memory: string };
  limits: { memory: string };
} {
  const mib = memoryLimits[config.instanceClass] / 2 ** 20;
  return {
    requests: { memory: `${mib}Mi` },
    limits: { memory: `${Math.round(mib * memoryCapFactor)}Mi` },
  };
}

/** Labels every object of one version carries. */
export function versionLabels(
  v: Pick<VersionInput, 'app' | 'service' | 'version' | 'minor'>,
): Record<string, string> {
  return {
    'app.kubernetes.io/part-of': 'hangar',
    'app.kubernetes.io/managed-by': 'hangar-export',
    'hangar.dev/app': v.app,
    'hangar.dev/service': v.service,
    'hangar.dev/version': v.version,
    'hangar.dev/minor': v.minor,
  };
}

/**
 * The version's Knative Service: one revision, named after its MINOR, taking the Service's own
 * traffic (its URL is the version's own host, like `VERSION-dot-SERVICE-dot-APP`); the Hangar
 * service's split is its Route's (knativeRoute).
 */
export function knativeService(v: VersionInput, s: ExportSettings): MappedVersion {
  const name = v.name ?? versionServiceName(v.app, v.service, v.version);
  const revision = revisionName(name, v.minor);
  const { annotations, notes } = scalingAnnotations(v.config, v.traffic > 0, s.platform);
  const timeout = timeoutSeconds(v.config, s.platform);
  if (timeout === undefined) {
    notes.push(
      "no request deadline (basic or manual scaling without limits.request_deadline): Knative's revision-timeout-seconds (300 s by default) still ends a request",
    );
  }
  if (v.config.handlers.some((h) => h.login !== 'optional')) {
    notes.push('login: required/admin handlers answer 503 in a pod: sign-in lives in the Hangar front end');
  }
  const env: Array<Record<string, unknown>> = Object.entries(v.config.envVariables).map(([key, value]) => ({
    name: key,
    value,
  }));
  env.push(
    { name: 'HANGAR_APPLICATION', value: v.app },
    { name: 'HANGAR_VERSION', value: v.version },
    { name: 'HANGAR_MINOR', value: v.minor },
    { name: 'HANGAR_APP_CONFIG', value: v.configFile },
    { name: 'HANGAR_CONFIG', value: `${CONFIG_MOUNT}/${CONFIG_FILE_NAME}` },
    { name: 'HANGAR_SOCKETS', value: `${SOCKETS_NAME}:${SOCKETS_PORT}` },
    {
      name: 'HANGAR_SOCKETS_TOKEN',
      valueFrom: { secretKeyRef: { name: socketTokenSecretName(v.app), key: 'token' } },
    },
  );
  if (s.databaseSecret !== undefined) env.push(databaseUrlEnv(s.databaseSecret, POD_DATABASE_URL_KEY));
  const labels = versionLabels(v);
  const spec: Record<string, unknown> = {
    containerConcurrency: containerConcurrency(v.config),
    ...(timeout === undefined ? {} : { timeoutSeconds: timeout }),
    containers: [
      {
        name: 'app',
        image: v.image,
        ports: [{ name: 'http1', containerPort: 8080 }],
        env,
        resources: memoryResources(v.config),
        securityContext: {
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [{ name: 'hangar-config', mountPath: CONFIG_MOUNT, readOnly: true }],
      },
    ],
    volumes: [{ name: 'hangar-config', configMap: { name: CONFIG_MAP_NAME } }],
  };
  const manifest: Manifest = {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: s.namespace, labels },
    spec: {
      template: {
        metadata: { name: revision, labels: { ...labels, ...INSTANCE_ROLE }, annotations },
        spec,
      },
      traffic: [{ revisionName: revision, percent: 100, latestRevision: false }],
    },
  };
  return { manifest, name, revision, notes };
}

/** A container's HANGAR_DATABASE_URL, from the Secret `name` (serve and the pods read it there). */
export function databaseUrlEnv(name: string, key: string = DATABASE_URL_KEY): Record<string, unknown> {
  return { name: 'HANGAR_DATABASE_URL', valueFrom: { secretKeyRef: { name, key } } };
}

/**
 * A Hangar service's traffic as a Knative Route: a percent per revision, summing to 100 (the
 * promoted version alone at 100). Weights have two decimals and sum to 1 (traffic.ts), so each
 * is a whole percent. Versions at 0 are left out.
 */
export function knativeRoute(
  name: string,
  labels: Record<string, string>,
  allocations: Readonly<Record<string, number>>,
  revisions: ReadonlyMap<string, string>,
  s: Pick<ExportSettings, 'namespace'>,
): Manifest {
  const traffic = Object.entries(allocations)
    .filter(([, weight]) => weight > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([version, weight]) => ({
      revisionName: revisions.get(version)!,
      percent: Math.round(weight * 100),
      latestRevision: false,
    }));
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Route',
    metadata: { name, namespace: s.namespace, labels },
    spec: { traffic },
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Milliseconds as Knative's duration text (`60s`); whole seconds, rounded up. */
function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`;
}

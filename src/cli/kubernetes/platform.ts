/**
 * The platform's own objects in Kubernetes (SPEC S16, docs/kubernetes.md): its namespace, the
 * platform config as a ConfigMap, the socket service as a Deployment with its Service and
 * Secrets, the NetworkPolicies that keep version pods' traffic to the socket service (and, on
 * the platform database, to it), and the Hangar front end (`hangar serve`) as a Deployment.
 * Pure: names and text in, objects out.
 */
import { parseDocument } from 'yaml';
import { HEALTH_PATH } from '../../frontend/options.js';
import {
  CONFIG_FILE_NAME,
  CONFIG_MAP_NAME,
  CONFIG_MOUNT,
  DATABASE_URL_KEY,
  databaseUrlEnv,
  INSTANCE_ROLE,
  type Manifest,
  POD_DATABASE_URL_KEY,
  SOCKETS_NAME,
  SOCKETS_PORT,
} from './knative.js';
import { socketTokenSecretName } from './names.js';

const partOf = { 'app.kubernetes.io/part-of': 'hangar', 'app.kubernetes.io/managed-by': 'hangar-export' };
const SOCKETS_KEY_SECRET = 'hangar-sockets-key';
export const FRONTEND_NAME = 'hangar-frontend';
/** The front end's admin API on the platform database: a Service of its own (frontEnd). */
export const ADMIN_NAME = 'hangar-admin';
/** The label of the database's pods that version pods may reach (NetworkPolicy), and its port. */
export const DATABASE_ROLE = { 'hangar.dev/role': 'database' } as const;
export const DATABASE_PORT = 5432;
/** What the Secret template holds instead of a URL: never a real password in an export. */
export const DATABASE_URL_PLACEHOLDER = 'postgres://USER:PASSWORD@HOST:5432/DATABASE';
/** The pods' URL in the template: the same database, the pods' own user (pod-grants.ts). */
export const POD_DATABASE_URL_PLACEHOLDER = 'postgres://hangar_pods:PASSWORD@HOST:5432/DATABASE';

/** The securityContext every Hangar container runs with (the images' user is 1000, `node`). */
const restricted = {
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

export function namespace(name: string): Manifest {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...partOf } } };
}

/**
 * The platform config file as the ConfigMap's one key, mounted at /etc/hangar in every pod.
 * `runtimes:` is left out (paths to Node binaries on the exporting machine; in a pod the
 * image's Node runs). `yaml` null: the platform ran on the defaults, and so do the pods.
 */
export function configMap(ns: string, yaml: string | null): Manifest {
  let text = '# Hangar platform config (SPEC S15): the exported platform ran on the defaults.\n';
  if (yaml !== null) {
    const doc = parseDocument(yaml);
    if (doc.has('runtimes')) doc.delete('runtimes');
    text = doc.toString();
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CONFIG_MAP_NAME, namespace: ns, labels: { ...partOf } },
    data: { [CONFIG_FILE_NAME]: text },
  };
}

/**
 * The socket service's key (only its Deployment reads it) and one token per app, HMAC-SHA256
 * of the app's id under the key, as the platform makes them (src/sockets/protocol.ts
 * `appToken`): a pod holds its own app's token and cannot speak for another app.
 */
export function socketSecrets(ns: string, key: string, tokens: ReadonlyMap<string, string>): Manifest[] {
  const secrets: Manifest[] = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: SOCKETS_KEY_SECRET, namespace: ns, labels: { ...partOf } },
      type: 'Opaque',
      stringData: { key },
    },
  ];
  for (const [app, token] of [...tokens].sort(([a], [b]) => a.localeCompare(b))) {
    secrets.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: socketTokenSecretName(app),
        namespace: ns,
        labels: { ...partOf, 'hangar.dev/app': app },
      },
      type: 'Opaque',
      stringData: { token },
    });
  }
  return secrets;
}

/**
 * A template of the Secret `--database-secret` names, with a placeholder URL. The export writes
 * it beside `manifests/`, not in it, so that `kubectl apply -f manifests/` never replaces the
 * real Secret with the placeholder.
 */
export function databaseSecretTemplate(ns: string, name: string): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns, labels: { ...partOf } },
    type: 'Opaque',
    stringData: {
      [DATABASE_URL_KEY]: DATABASE_URL_PLACEHOLDER,
      [POD_DATABASE_URL_KEY]: POD_DATABASE_URL_PLACEHOLDER,
    },
  };
}

const configVolume = { name: 'hangar-config', configMap: { name: CONFIG_MAP_NAME } };
const configMount = { name: 'hangar-config', mountPath: CONFIG_MOUNT, readOnly: true };

/**
 * The socket service (S12) as one Deployment: one replica, since descriptors and idle timers
 * live in its process (a second replica would not know the first one's sockets), and a
 * ClusterIP Service the version pods reach it by.
 */
export function socketService(ns: string, image: string): Manifest[] {
  const selector = { 'app.kubernetes.io/name': SOCKETS_NAME };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: SOCKETS_NAME, namespace: ns, labels: { ...partOf, ...selector } },
      spec: {
        replicas: 1,
        // Never two at once: a descriptor is one process's.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...partOf, ...selector } },
          spec: {
            containers: [
              {
                name: 'sockets',
                image,
                command: ['node', '/opt/hangar/dist/sockets/service/standalone.js'],
                env: [
                  { name: 'HANGAR_CONFIG', value: `${CONFIG_MOUNT}/${CONFIG_FILE_NAME}` },
                  { name: 'HANGAR_SOCKETS_PORT', value: String(SOCKETS_PORT) },
                  {
                    name: 'HANGAR_SOCKETS_KEY',
                    valueFrom: { secretKeyRef: { name: SOCKETS_KEY_SECRET, key: 'key' } },
                  },
                ],
                ports: [{ name: 'sockets', containerPort: SOCKETS_PORT, protocol: 'TCP' }],
                readinessProbe: { tcpSocket: { port: SOCKETS_PORT }, periodSeconds: 5 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: restricted,
                volumeMounts: [configMount],
              },
            ],
            volumes: [configVolume],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SOCKETS_NAME, namespace: ns, labels: { ...partOf, ...selector } },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'sockets', port: SOCKETS_PORT, targetPort: SOCKETS_PORT, protocol: 'TCP' }],
      },
    },
  ];
}

/**
 * Version pods reach out only through the socket service, as instances on one machine do
 * (S12; docs/security.md): egress to it and to the cluster's DNS, nothing else; and only
 * version pods reach the socket service. Needs a network plugin that enforces NetworkPolicy.
 * On the platform database (`database`), version pods also reach PostgreSQL: pods labelled
 * `hangar.dev/role: database`, in any namespace, on port 5432 (a database outside the cluster
 * needs an `ipBlock` there instead; the README says so).
 */
export function networkPolicies(ns: string, database = false): Manifest[] {
  const sockets = { 'app.kubernetes.io/name': SOCKETS_NAME };
  const toDatabase: Manifest[] = database
    ? [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'hangar-instances-database', namespace: ns, labels: { ...partOf } },
          spec: {
            podSelector: { matchLabels: { ...INSTANCE_ROLE } },
            policyTypes: ['Egress'],
            egress: [
              {
                to: [{ namespaceSelector: {}, podSelector: { matchLabels: { ...DATABASE_ROLE } } }],
                ports: [{ protocol: 'TCP', port: DATABASE_PORT }],
              },
            ],
          },
        },
      ]
    : [];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'hangar-instances-egress', namespace: ns, labels: { ...partOf } },
      spec: {
        podSelector: { matchLabels: { ...INSTANCE_ROLE } },
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ podSelector: { matchLabels: sockets } }],
            ports: [{ protocol: 'TCP', port: SOCKETS_PORT }],
          },
          {
            to: [
              {
                namespaceSelector: {},
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'hangar-sockets-ingress', namespace: ns, labels: { ...partOf } },
      spec: {
        podSelector: { matchLabels: sockets },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { ...INSTANCE_ROLE } } }],
            ports: [{ protocol: 'TCP', port: SOCKETS_PORT }],
          },
        ],
      },
    },
    ...toDatabase,
  ];
}

/**
 * The Hangar front end: `hangar serve` with its data dir on a volume, its admin API and console
 * on port 8000. Without a database: one replica, its state SQLite in the data dir on a
 * PersistentVolumeClaim. It does not route to the Knative Services yet (docs/kubernetes.md
 * "What is not there yet").
 *
 * With `databaseSecret` (the Secret holding the platform database's URL): several replicas,
 * each a `serve` node on that database (docs/scale-out.md), see frontEndNodes().
 */
export function frontEnd(ns: string, image: string, domain: string, databaseSecret?: string): Manifest[] {
  if (databaseSecret !== undefined) return frontEndNodes(ns, image, domain, databaseSecret);
  const selector = { 'app.kubernetes.io/name': FRONTEND_NAME };
  return [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'hangar-data', namespace: ns, labels: { ...partOf } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
    },
    frontEndDeployment(ns, image, domain, {
      replicas: 1,
      strategy: { type: 'Recreate' },
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 5 },
      data: { persistentVolumeClaim: { claimName: 'hangar-data' } },
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: FRONTEND_NAME, namespace: ns, labels: { ...partOf, ...selector } },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
          { name: 'admin', port: 8000, targetPort: 8000, protocol: 'TCP' },
        ],
      },
    },
  ];
}

/** What differs between the one-replica front end and the serve nodes on a database. */
interface FrontEndShape {
  replicas: number;
  strategy: Record<string, unknown>;
  readinessProbe: Record<string, unknown>;
  /** The data dir's volume source: a PersistentVolumeClaim, or an emptyDir on a database. */
  data: Record<string, unknown>;
  /** Arguments after the ones every front end takes. */
  args?: string[];
  env?: Record<string, unknown>[];
}

/** The front end's Deployment: `hangar serve` with its config mounted and its data dir on `data`. */
function frontEndDeployment(ns: string, image: string, domain: string, shape: FrontEndShape): Manifest {
  const selector = { 'app.kubernetes.io/name': FRONTEND_NAME };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: FRONTEND_NAME, namespace: ns, labels: { ...partOf, ...selector } },
    spec: {
      replicas: shape.replicas,
      strategy: shape.strategy,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...partOf, ...selector } },
        spec: {
          securityContext: { fsGroup: 1000 },
          containers: [
            {
              name: 'hangar',
              image,
              args: [
                'serve',
                '--host',
                '0.0.0.0',
                '--port',
                '8080',
                '--admin-port',
                '8000',
                '--domain',
                domain,
                '--data-dir',
                '/var/lib/hangar',
                '--config',
                `${CONFIG_MOUNT}/${CONFIG_FILE_NAME}`,
                ...(shape.args ?? []),
              ],
              ...(shape.env ? { env: shape.env } : {}),
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'admin', containerPort: 8000, protocol: 'TCP' },
              ],
              readinessProbe: shape.readinessProbe,
              securityContext: restricted,
              volumeMounts: [configMount, { name: 'data', mountPath: '/var/lib/hangar' }],
            },
          ],
          // Drain (S11: limits.drain_timeout) before Kubernetes kills the pod.
          terminationGracePeriodSeconds: 45,
          volumes: [configVolume, { name: 'data', ...shape.data }],
        },
      },
    },
  };
}

/** Front-end replicas written on the platform database; `kubectl scale` changes it. */
export const FRONTEND_REPLICAS = 2;

/**
 * The front end as `serve` nodes on the platform database (S16, docs/scale-out.md): each
 * replica a node named after its pod (`--node $(POD_NAME)`), its socket service's peer port on
 * its pod IP (`--peer-host $(POD_IP)`) so the other nodes forward attaches there, the database
 * URL from the Secret in HANGAR_DATABASE_URL (read by serve; not in `--database`, so the URL
 * and its password are not in the process's arguments), the data dir (files made from the
 * stored built trees, run/, spools) on an emptyDir: all state is in the database. Readiness is
 * the node's health (HEALTH_PATH: 503 while it loads the stored versions and while it drains).
 *
 * Two Services: `hangar-frontend` for app traffic, spread over the replicas, and
 * `hangar-admin` for the admin API and console, with ClientIP affinity: a deploy is several
 * requests (begin, blobs, build) whose staging is one node's.
 */
function frontEndNodes(ns: string, image: string, domain: string, databaseSecret: string): Manifest[] {
  const selector = { 'app.kubernetes.io/name': FRONTEND_NAME };
  return [
    frontEndDeployment(ns, image, domain, {
      replicas: FRONTEND_REPLICAS,
      // A new node is ready (its health says ok) before an old one drains.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      readinessProbe: {
        httpGet: { path: HEALTH_PATH, port: 'http' },
        periodSeconds: 5,
        timeoutSeconds: 2,
        failureThreshold: 2,
      },
      data: { emptyDir: {} },
      args: ['--node', '$(POD_NAME)', '--peer-host', '$(POD_IP)'],
      env: [
        databaseUrlEnv(databaseSecret),
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      ],
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: FRONTEND_NAME, namespace: ns, labels: { ...partOf, ...selector } },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: ADMIN_NAME, namespace: ns, labels: { ...partOf, ...selector } },
      spec: {
        type: 'ClusterIP',
        selector,
        sessionAffinity: 'ClientIP',
        ports: [{ name: 'admin', port: 8000, targetPort: 8000, protocol: 'TCP' }],
      },
    },
  ];
}

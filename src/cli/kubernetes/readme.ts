/**
 * The README.md `hangar export kubernetes` writes beside the manifests: how to build the images
 * and apply the manifests, what was exported, and, plainly, what differs from one machine
 * (docs/kubernetes.md says the same at length).
 */
import { podDatabaseGrants } from './pod-grants.js';

export interface ReadmeVersion {
  app: string;
  service: string;
  version: string;
  minor: string;
  /** Its folder under the export, e.g. `apps/shop/default/v1`. */
  folder: string;
  image: string;
  knativeService: string;
  manifest: string;
  notes: readonly string[];
}

export interface ReadmeRoute {
  app: string;
  service: string;
  name: string;
  manifest: string;
  traffic: string;
}

export interface ReadmeFacts {
  namespace: string;
  hangarImage: string;
  hangarVersion: string;
  server: string;
  /** `--database-secret`: the pods and the front end are on the platform database. */
  databaseSecret?: string;
  versions: readonly ReadmeVersion[];
  routes: readonly ReadmeRoute[];
  /** Services whose split could not be written (a version of it was not exported). */
  skippedRoutes: readonly string[];
}

export function exportReadme(f: ReadmeFacts): string {
  const builds = f.versions
    .map((v) => `docker build --build-arg HANGAR_IMAGE=${f.hangarImage} -t ${v.image} ${v.folder}`)
    .join('\n');
  const pushes = [f.hangarImage, ...f.versions.map((v) => v.image)].map((i) => `docker push ${i}`).join('\n');
  const versionRows = f.versions
    .map(
      (v) =>
        `| ${v.app}/${v.service}/${v.version} (minor ${v.minor}) | \`${v.knativeService}\` | \`${v.image}\` | \`${v.manifest}\` |`,
    )
    .join('\n');
  const routeRows = f.routes
    .map((r) => `| ${r.app}/${r.service} | \`${r.name}\` | ${r.traffic} | \`${r.manifest}\` |`)
    .join('\n');
  const notes = f.versions
    .filter((v) => v.notes.length > 0)
    .map((v) => `- **${v.app}/${v.service}/${v.version}**\n${v.notes.map((n) => `  - ${n}`).join('\n')}`)
    .join('\n');
  const db = f.databaseSecret;
  return `# Hangar on Kubernetes

Written by \`hangar export kubernetes\` (Hangar ${f.hangarVersion}) from ${f.server}. Every
manifest is plain YAML: read it, change it, keep it in version control (except
\`manifests/02-secrets.yaml\`, which holds the socket service's key: see "Secrets").

Needs Kubernetes with [Knative Serving](https://knative.dev/docs/install/) (v1 API) and a
network plugin that enforces NetworkPolicy. Namespace: \`${f.namespace}\`.

## 1. Build the images

\`\`\`sh
# Hangar itself: the front end, the socket service, and the runtime in every version image.
docker build -t ${f.hangarImage} hangar
# One image per version: its files, built as a deploy builds them, run by Hangar's runtime.
${builds}
\`\`\`

Then push them where the cluster pulls from (\`--registry\` of the export named the prefix;
\`dev.local/\` images are not resolved by Knative, so a local cluster can load them instead,
e.g. \`kind load docker-image IMAGE\`):

\`\`\`sh
${pushes}
\`\`\`

## 2. Apply the manifests
${db === undefined ? '' : databaseSteps(f.namespace, db)}
\`\`\`sh
kubectl apply -f manifests/
kubectl get ksvc,route -n ${f.namespace}
\`\`\`

The files apply in name order: the namespace, the platform config (ConfigMap \`hangar-config\`),
the secrets, the socket service, the NetworkPolicies, one Knative Service per version, one
Knative Route per service. \`manifests/frontend/\` (the Hangar front end: \`hangar serve\` with its
admin API and console) is not applied by that command: see "The front end".

## What was exported

| version | Knative Service | image | manifest |
| --- | --- | --- | --- |
${versionRows}

| service | Knative Route | traffic | manifest |
| --- | --- | --- | --- |
${routeRows || '| (none) | | | |'}
${f.skippedRoutes.length > 0 ? `\nNot written (a version they split to was not exported): ${f.skippedRoutes.join(', ')}.\n` : ''}
Each version's Knative Service has its own URL (the version's own host, as
\`VERSION-dot-SERVICE-dot-APP\` on one machine); each service's Route has the URL that follows the
service's split (as \`SERVICE-dot-APP\`).

## What differs from one machine

- **Routing and splits** are Knative's: a Route sends each request to a revision at random in
  proportion to its percent. A split \`--by cookie\` or \`--by ip\` does not keep a client on its
  version here. Hostnames are Knative's (\`NAME.NAMESPACE.DOMAIN\`), not \`-dot-\` names, and
  dispatch.yaml rules are not exported.
- **Scaling** is Knative's Pod Autoscaler, set from \`automatic_scaling\` (see the notes below):
  no pending-latency bounds, no idle-instance counts, no \`/_ah/warmup\` or \`/_ah/start\`.
${
  db === undefined
    ? `- **Request logs** are one JSON line per request on each pod's stdout (the object
  \`hangar logs --json\` prints, plus \`severity\`): collect them with the cluster's log
  collector. \`hangar logs\`, the console and metering do not see them (export with
  \`--database-secret\` to keep them in the platform's PostgreSQL database).
- **Quotas and metering** (S10) are not counted for pods.
`
    : `- **Request logs** go from every pod to the platform database (Secret \`${db}\`), with their
  app lines: \`hangar logs\` and the console of the front end show them. A pod writes them
  in batches off the request path; while the database is away they wait in the pod's memory
  (at most 10,000 entries or 16 MiB), and what does not fit, or is still waiting when the pod
  stops, goes to the pod's stdout as JSON lines. A request that logs more than 1,000 lines has
  the rest on stdout.
- **Quotas and metering** (S10): pods count requests, bytes and their instance-hours into the
  database, and enforce \`quotas.daily\` on the platform-wide totals (every pod's and node's,
  within about two seconds). Socket and URL Fetch bytes are not counted for pods.
`
}- **Sign-in** (\`login: required|admin\`) answers 503 in pods: sign-in lives in the front end.
- **Sockets** go through the one socket service Deployment, as on one machine (same rules, same
  descriptors across pods); its open sockets are not listed by \`hangar sockets list\`.
- **Memory**: the instance class is the pod's memory request and 1.25x it the limit; over the
  limit the kernel ends the pod (no drain first).

## The front end

${
  db === undefined
    ? `\`manifests/frontend/\` runs \`hangar serve\` in the cluster (one replica, its data dir on a
PersistentVolumeClaim). It is a one-machine Hangar of its own: it serves what is deployed to it
(\`kubectl port-forward -n ${f.namespace} svc/hangar-frontend 8000\` and \`hangar deploy --server
http://127.0.0.1:8000\`) and does **not** forward to the Knative Services above. Apply it when
you want Hangar's admin API and console in the cluster:
\`kubectl apply -f manifests/frontend/\`.`
    : `\`manifests/frontend/\` runs \`hangar serve\` in the cluster as nodes on the platform database
(docs/scale-out.md): 2 replicas (\`kubectl scale -n ${f.namespace} deploy/hangar-frontend --replicas N\`),
each named after its pod, its data dir on an emptyDir (the state is in the database), ready once
\`/_ah/hangar/health\` says so. App traffic: Service \`hangar-frontend\` (port 80). Admin API and
console: Service \`hangar-admin\` (port 8000, one client stays on one node, as a deploy needs):
\`kubectl port-forward -n ${f.namespace} svc/hangar-admin 8000\`, then \`hangar logs --server
http://127.0.0.1:8000 --token TOKEN\` shows the pods' requests, \`hangar quotas\` their counts. Its admin token is the
platform's, in the database (\`kubectl exec -n ${f.namespace} deploy/hangar-frontend -- cat
/var/lib/hangar/admin-token\`). It serves what is deployed to it and does **not** forward to the
Knative Services above. Apply it with \`kubectl apply -f manifests/frontend/\`.`
}

## Secrets

\`manifests/02-secrets.yaml\` holds the socket service's key (made for this export) and one
token per app derived from it. Keep it out of version control. Exporting again into the same
folder keeps the key.

## Notes per version

${notes || '(none)'}
`;
}

/** How to give the pods and the front end the platform database (`--database-secret`). */
function databaseSteps(ns: string, secret: string): string {
  return `
The front end and the pods read the platform database's URLs (PostgreSQL, as \`hangar serve
--database\`) from the Secret \`${secret}\`: key \`url\` for the front end (the user that owns
Hangar's tables), key \`pods-url\` for the version pods, a user of their own. App code runs in a
pod's process and can find the pod's URL, so that user may only write the request log and the
counters. Once the front end has created the tables (start it first), give it exactly this, as
the owner:

\`\`\`sql
CREATE ROLE hangar_pods LOGIN PASSWORD '...';
${podDatabaseGrants('hangar_pods')}
\`\`\`

Create the Secret once, after the namespace and before the rest; the export never holds a URL.
Either fill in \`database-secret.example.yaml\` (it is not under \`manifests/\`, so applying those
never replaces the real Secret) and apply it, or:

\`\`\`bash
kubectl apply -f manifests/00-namespace.yaml
read -rs URL; read -rs PODS_URL   # postgres://USER:PASSWORD@HOST:5432/DATABASE, not echoed
kubectl create secret generic ${secret} -n ${ns} --from-literal=url="$URL" --from-literal=pods-url="$PODS_URL"
\`\`\`

Version pods may reach only the socket service and DNS (NetworkPolicy); \`hangar-instances-database\`
adds PostgreSQL on port 5432 at pods labelled \`hangar.dev/role: database\` in any namespace. Label
your database's pods so, or, for a database outside the cluster, replace that rule's \`to\` with an
\`ipBlock\` of its address (and its port, if not 5432). Each version pod keeps up to 2 connections:
the database's \`max_connections\` must cover the pods at their \`max-scale\` plus the front end.
`;
}

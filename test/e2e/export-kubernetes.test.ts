/**
 * `hangar export kubernetes` end to end (SPEC S16, docs/kubernetes.md): a real `hangar serve`
 * with a platform config, two versions of one service deployed with the real CLI and split
 * 70/30, then the export; every manifest it writes is parsed and validated against the
 * vendored Kubernetes and Knative schemas (test/helpers/k8s-schemas.ts), the mapped values are
 * checked against the app.yaml files and the split, and one exported version is run as its pod
 * would run it (the exported files, the manifest's environment). Loopback only.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { appToken } from '../../src/sockets/protocol.js';
import { manifestValidator } from '../helpers/k8s-schemas.js';
import { startPod, stopAllPods } from '../helpers/knative-pod.js';
import {
  deploy,
  fixture,
  freshDataDir,
  httpGet,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
} from '../helpers/serve.js';

const APP = 'k8sapp';
let serve: ServeProcess;
let out: string;
const tmp: string[] = [];
const minors: Record<string, string> = {};

// biome-ignore lint/suspicious/noExplicitAny: manifests are read as the YAML gave them
type Doc = any;
/** Every document of every YAML file under `dir`, with the file it came from. */
function manifestsUnder(dir: string): Array<{ file: string; doc: Doc }> {
  const found: Array<{ file: string; doc: Doc }> = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.yaml')) {
        for (const document of parseAllDocuments(readFileSync(path, 'utf8'))) {
          expect(document.errors, path).toEqual([]);
          found.push({ file: relative(out, path), doc: document.toJS() });
        }
      }
    }
  };
  walk(dir);
  return found;
}

const byKindName = (docs: Array<{ doc: Doc }>, kind: string, name: string): Doc =>
  docs.find(({ doc }) => doc.kind === kind && doc.metadata.name === name)?.doc;

beforeAll(async () => {
  const dataDir = freshDataDir();
  const config = join(dataDir, 'platform.yaml');
  writeFileSync(config, '# for the export test\nlimits:\n  request_deadline: 30s\n  deadline_grace: 2s\n');
  serve = await startServe({ dataDir, args: ['--config', config] });
  for (const [version, dir] of [
    ['v1', 'k8s-export'],
    ['v2', 'k8s-export-serial'],
  ] as const) {
    const run = await deploy(serve, fixture(dir), ['--application', APP, '--version', version]);
    expect(run.code, run.stderr).toBe(0);
    minors[version] = run.doc!.deployed[0]!.minor;
  }
  const split = await serve.hangar([
    'versions',
    'split',
    '--app',
    APP,
    '--splits',
    'v1=0.7,v2=0.3',
    '--by',
    'cookie',
  ]);
  expect(split.code, split.stderr).toBe(0);
  out = mkdtempSync(join(tmpdir(), 'hangar-k8s-out-'));
  tmp.push(out);
}, 180_000);

afterAll(async () => {
  await stopAllPods();
  await stopAllServes();
  removeDataDirs();
  for (const dir of tmp) rmSync(dir, { recursive: true, force: true });
});

describe('hangar export kubernetes', () => {
  let docs: Array<{ file: string; doc: Doc }>;

  it('writes manifests, Dockerfiles and a README, and says what it wrote', async () => {
    const run = await serve.hangar([
      'export',
      'kubernetes',
      '--out',
      out,
      '--namespace',
      'shop-ns',
      '--registry',
      'registry.example.com/team',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { versions: Array<{ version: string; knativeService: string }> };
    expect(result.versions.map((v) => v.knativeService).sort()).toEqual([
      'k8sapp-default-v1',
      'k8sapp-default-v2',
    ]);
    for (const file of [
      'README.md',
      'hangar/Dockerfile',
      'hangar/package/package.json',
      'hangar/package/dist/knative/pod-main.js',
      'hangar/package/dist/sockets/service/standalone.js',
      'apps/k8sapp/default/v1/Dockerfile',
      'apps/k8sapp/default/v2/Dockerfile',
    ]) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    docs = manifestsUnder(join(out, 'manifests'));
    expect(docs.map(({ doc }) => `${doc.apiVersion} ${doc.kind}`).sort()).toEqual([
      'apps/v1 Deployment',
      'apps/v1 Deployment',
      'networking.k8s.io/v1 NetworkPolicy',
      'networking.k8s.io/v1 NetworkPolicy',
      'serving.knative.dev/v1 Route',
      'serving.knative.dev/v1 Service',
      'serving.knative.dev/v1 Service',
      'v1 ConfigMap',
      'v1 Namespace',
      'v1 PersistentVolumeClaim',
      'v1 Secret',
      'v1 Secret',
      'v1 Service',
      'v1 Service',
    ]);
  });

  it('every manifest validates against the Kubernetes (v1.30) and Knative Serving (v1.23) schemas', () => {
    const validator = manifestValidator();
    for (const { file, doc } of docs) {
      expect(validator.problems(doc), `${file}: ${doc.kind} ${doc.metadata?.name}`).toEqual([]);
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace, file).toBe('shop-ns');
    }
  });

  it('v1: concurrency, scaling annotations, timeout, env and memory from its app.yaml and the platform config', () => {
    const ksvc = byKindName(docs, 'Service', 'k8sapp-default-v1');
    const template = ksvc.spec.template;
    expect(template.spec.containerConcurrency).toBe(25);
    // request_deadline 30s + deadline_grace 2s + 1 s.
    expect(template.spec.timeoutSeconds).toBe(33);
    expect(template.metadata.annotations).toEqual({
      'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/metric': 'concurrency',
      'autoscaling.knative.dev/target': '25',
      'autoscaling.knative.dev/target-utilization-percentage': '75',
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '7',
      'autoscaling.knative.dev/window': '60s',
    });
    const [container] = template.spec.containers;
    expect(container.image).toBe(`registry.example.com/team/hangar-k8sapp-default-v1:${minors.v1}`);
    expect(container.resources).toEqual({ requests: { memory: '768Mi' }, limits: { memory: '960Mi' } });
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'from a secret']),
    );
    expect(env).toMatchObject({
      GREETING: 'hello from v1',
      FEATURE_FLAG: 'on',
      HANGAR_APPLICATION: APP,
      HANGAR_VERSION: 'v1',
      HANGAR_MINOR: minors.v1,
      HANGAR_SOCKETS: 'hangar-sockets:7000',
      HANGAR_SOCKETS_TOKEN: 'from a secret',
    });
    expect(template.metadata.name.startsWith('k8sapp-default-v1-')).toBe(true);
    expect(ksvc.spec.traffic).toEqual([
      { revisionName: template.metadata.name, percent: 100, latestRevision: false },
    ]);
  });

  it('v2: one request at a time (threadsafe: false), its own max_instances and instance class', () => {
    const template = byKindName(docs, 'Service', 'k8sapp-default-v2').spec.template;
    expect(template.spec.containerConcurrency).toBe(1);
    expect(template.metadata.annotations['autoscaling.knative.dev/target']).toBe('1');
    expect(template.metadata.annotations['autoscaling.knative.dev/max-scale']).toBe('3');
    expect(template.metadata.annotations['autoscaling.knative.dev/min-scale']).toBeUndefined();
    expect(template.spec.containers[0].resources).toEqual({
      requests: { memory: '1536Mi' },
      limits: { memory: '1920Mi' },
    });
    expect(template.spec.containers[0].env).toContainEqual({ name: 'GREETING', value: 'hello from v2' });
  });

  it("the service's split is its Route: 70 and 30 percent to the two revisions", () => {
    const route = byKindName(docs, 'Route', 'k8sapp-default');
    const revision = (v: string) =>
      byKindName(docs, 'Service', `k8sapp-default-${v}`).spec.template.metadata.name;
    expect(route.spec.traffic).toEqual([
      { revisionName: revision('v1'), percent: 70, latestRevision: false },
      { revisionName: revision('v2'), percent: 30, latestRevision: false },
    ]);
  });

  it('the ConfigMap carries the platform config; the Secrets the socket key and the app token', () => {
    const config = byKindName(docs, 'ConfigMap', 'hangar-config');
    expect(config.data['hangar.config.yaml']).toContain('request_deadline: 30s');
    const key = byKindName(docs, 'Secret', 'hangar-sockets-key').stringData.key as string;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(byKindName(docs, 'Secret', 'hangar-sockets-k8sapp').stringData.token).toBe(appToken(key, APP));
    expect(statSync(join(out, 'manifests/02-secrets.yaml')).mode & 0o777).toBe(0o600);
  });

  it("copies each version's files as deployed, and writes Dockerfiles that run the pod entry", () => {
    expect(readFileSync(join(out, 'apps/k8sapp/default/v1/app/main.ts'), 'utf8')).toBe(
      readFileSync(fixture('k8s-export/main.ts'), 'utf8'),
    );
    expect(readFileSync(join(out, 'apps/k8sapp/default/v1/app/static/hello.txt'), 'utf8')).toContain(
      'static file',
    );
    const dockerfile = readFileSync(join(out, 'apps/k8sapp/default/v1/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('COPY app/ ./');
    expect(dockerfile).toContain('CMD ["node", "/opt/hangar/dist/knative/pod-main.js"]');
    expect(dockerfile).toMatch(/FROM node:\d+\.\d+\.\d+-bookworm-slim/);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('kubectl apply -f manifests/');
    expect(readme).toContain(`docker build --build-arg HANGAR_IMAGE=registry.example.com/team/hangar:`);
    expect(readme).toContain('What differs from one machine');
  });

  it("an exported version runs as its pod would: the exported files and the manifest's environment", async () => {
    const ksvc = byKindName(docs, 'Service', 'k8sapp-default-v2');
    const env: Record<string, string> = {};
    for (const e of ksvc.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>)
      if (e.value !== undefined) env[e.name] = e.value;
    const configFile = join(out, 'hangar.config.yaml');
    writeFileSync(configFile, byKindName(docs, 'ConfigMap', 'hangar-config').data['hangar.config.yaml']);
    const pod = await startPod({
      ...env,
      HANGAR_APP_DIR: join(out, 'apps/k8sapp/default/v2/app'),
      HANGAR_CONFIG: configFile,
      HANGAR_CACHE_DIR: join(out, 'cache'),
      // No socket service in this test: the pod test (knative-pod.test.ts) covers that path.
      HANGAR_SOCKETS: 'none',
    });
    const res = await httpGet(`${pod.url}/`, undefined);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ greeting: 'hello from v2', currentVersionId: `v2.${minors.v2}` });
    expect(await pod.stop()).toBe(0);
  });

  it('--database-secret: pods and front end on the platform database, every manifest valid, no URL written', async () => {
    const dbOut = mkdtempSync(join(tmpdir(), 'hangar-k8s-db-'));
    tmp.push(dbOut);
    const run = await serve.hangar([
      'export',
      'kubernetes',
      '--out',
      dbOut,
      '--namespace',
      'shop-ns',
      '--database-secret',
      'hangar-db',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ databaseSecret: 'hangar-db' });
    const found = [...manifestsUnder(join(dbOut, 'manifests'))];
    const template = parseAllDocuments(readFileSync(join(dbOut, 'database-secret.example.yaml'), 'utf8')).map(
      (d) => d.toJS() as Doc,
    );
    const validator = manifestValidator();
    for (const { file, doc } of [...found, ...template.map((doc) => ({ file: 'template', doc }))]) {
      expect(validator.problems(doc), `${file}: ${doc.kind} ${doc.metadata?.name}`).toEqual([]);
      expect(doc.metadata.namespace ?? 'shop-ns', file).toBe('shop-ns');
    }
    expect(found.map(({ doc }) => `${doc.apiVersion} ${doc.kind}`).sort()).toEqual([
      'apps/v1 Deployment',
      'apps/v1 Deployment',
      'networking.k8s.io/v1 NetworkPolicy',
      'networking.k8s.io/v1 NetworkPolicy',
      'networking.k8s.io/v1 NetworkPolicy',
      'serving.knative.dev/v1 Route',
      'serving.knative.dev/v1 Service',
      'serving.knative.dev/v1 Service',
      'v1 ConfigMap',
      'v1 Namespace',
      'v1 Secret',
      'v1 Secret',
      'v1 Service',
      'v1 Service',
      'v1 Service',
    ]);
    const fromSecret = { valueFrom: { secretKeyRef: { name: 'hangar-db', key: 'url' } } };
    // The pods get the URL of their own, least-privileged user (pod-grants.ts).
    const podsFromSecret = { valueFrom: { secretKeyRef: { name: 'hangar-db', key: 'pods-url' } } };
    for (const version of ['v1', 'v2']) {
      const env = byKindName(found, 'Service', `k8sapp-default-${version}`).spec.template.spec.containers[0]
        .env;
      expect(env).toContainEqual({ name: 'HANGAR_DATABASE_URL', ...podsFromSecret });
    }
    const frontend = byKindName(found, 'Deployment', 'hangar-frontend').spec;
    expect(frontend.replicas).toBe(2);
    expect(frontend.template.spec.volumes).toContainEqual({ name: 'data', emptyDir: {} });
    const [container] = frontend.template.spec.containers;
    expect(container.env).toContainEqual({ name: 'HANGAR_DATABASE_URL', ...fromSecret });
    expect(container.args.join(' ')).toContain('--node $(POD_NAME) --peer-host $(POD_IP)');
    expect(container.readinessProbe.httpGet.path).toBe('/_ah/hangar/health');
    expect(byKindName(found, 'PersistentVolumeClaim', 'hangar-data')).toBeUndefined();
    // The template has a placeholder; nothing written holds a URL with a password.
    expect(template[0].stringData.url).toBe('postgres://USER:PASSWORD@HOST:5432/DATABASE');
    expect(template[0].stringData['pods-url']).toBe('postgres://hangar_pods:PASSWORD@HOST:5432/DATABASE');
    const readme = readFileSync(join(dbOut, 'README.md'), 'utf8');
    expect(readme).toContain('kubectl create secret generic hangar-db -n shop-ns');
    expect(readme).toContain('svc/hangar-admin');
    for (const { file, doc } of found)
      expect(JSON.stringify(doc), file).not.toMatch(/postgres(ql)?:\/\/[^U]/);
  });

  it('exporting again into the same folder keeps the socket key; another non-empty folder is refused', async () => {
    const key = byKindName(docs, 'Secret', 'hangar-sockets-key').stringData.key;
    const again = await serve.hangar([
      'export',
      'kubernetes',
      '--out',
      out,
      '--namespace',
      'shop-ns',
      '--version',
      'v1',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('k8sapp/default/v1 -> manifests/20-k8sapp-default-v1.yaml');
    // v2 was not exported this time, so no Route can name it.
    expect(again.stdout).toContain('k8sapp/default: no Route written');
    const redone = manifestsUnder(join(out, 'manifests'));
    expect(byKindName(redone, 'Secret', 'hangar-sockets-key').stringData.key).toBe(key);
    expect(byKindName(redone, 'Service', 'k8sapp-default-v2')).toBeUndefined();

    const other = mkdtempSync(join(tmpdir(), 'hangar-k8s-other-'));
    tmp.push(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const refused = await serve.hangar(['export', 'kubernetes', '--out', other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not empty and holds no earlier export');
    expect(readdirSync(other)).toEqual(['notes.txt']);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ManifestValidator, manifestValidator } from '../../../test/helpers/k8s-schemas.js';
import { loadAppConfig } from '../../config/app-config.js';
import { defaultPlatformConfig } from '../../config/platform-config.js';
import type { AppConfig, PlatformConfig } from '../../config/types.js';
import {
  containerConcurrency,
  knativeRoute,
  knativeService,
  memoryResources,
  scalingAnnotations,
  timeoutSeconds,
  type VersionInput,
} from './knative.js';
import { dnsName, revisionName, versionServiceName } from './names.js';
import {
  configMap,
  DATABASE_URL_PLACEHOLDER,
  databaseSecretTemplate,
  frontEnd,
  namespace,
  networkPolicies,
  POD_DATABASE_URL_PLACEHOLDER,
  socketSecrets,
  socketService,
} from './platform.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** app.yaml text (its handler is main.app) parsed as the platform parses it. */
async function app(...lines: string[]): Promise<AppConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-k8s-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'main.ts'), 'export const app = () => new Response("ok");\n');
  writeFileSync(
    join(dir, 'app.yaml'),
    ['runtime: nodejs20', ...lines, 'handlers:', '  - url: /.*', '    script: main.app', ''].join('\n'),
  );
  return loadAppConfig(dir);
}

function platform(limits: Partial<PlatformConfig['limits']> = {}): PlatformConfig {
  return { ...defaultPlatformConfig, limits: { ...defaultPlatformConfig.limits, ...limits } };
}

function input(config: AppConfig, over: Partial<VersionInput> = {}): VersionInput {
  return {
    app: 'shop',
    service: 'default',
    version: 'v1',
    minor: '461737318436569089',
    config,
    configFile: 'app.yaml',
    traffic: 1,
    image: 'dev.local/hangar-shop-default-v1:461737318436569089',
    ...over,
  };
}

let validator: ManifestValidator;
const problems = (doc: unknown) => {
  validator ??= manifestValidator();
  return validator.problems(doc);
};

describe('containerConcurrency (S6: the instance concurrency)', () => {
  it.each([
    { what: 'threadsafe: false', lines: ['threadsafe: false'], want: 1 },
    {
      what: 'automatic, max_concurrent_requests 25',
      lines: ['automatic_scaling:', '  max_concurrent_requests: 25'],
      want: 25,
    },
    { what: 'automatic, the default', lines: [], want: 10 },
    { what: 'basic scaling', lines: ['basic_scaling:', '  max_instances: 2'], want: 10 },
    { what: 'manual scaling', lines: ['manual_scaling:', '  instances: 3'], want: 10 },
    {
      what: 'threadsafe: false wins over max_concurrent_requests',
      lines: ['threadsafe: false', 'automatic_scaling:', '  max_concurrent_requests: 50'],
      want: 1,
    },
  ])('$what → $want', async ({ lines, want }) => {
    expect(containerConcurrency(await app(...lines))).toBe(want);
  });
});

describe('timeoutSeconds (S6: the deadline, its grace, and one second for the pod to answer first)', () => {
  it('automatic scaling: 60 s + 1 s grace + 1 s', async () => {
    expect(timeoutSeconds(await app(), platform())).toBe(62);
  });

  it('follows limits.request_deadline and deadline_grace', async () => {
    expect(timeoutSeconds(await app(), platform({ requestDeadlineMs: 10_000, deadlineGraceMs: 2_500 }))).toBe(
      14,
    );
  });

  it('basic and manual scaling: none, unless request_deadline is set', async () => {
    const manual = await app('manual_scaling:', '  instances: 1');
    expect(timeoutSeconds(manual, platform())).toBeUndefined();
    expect(
      timeoutSeconds(manual, platform({ requestDeadlineMs: 30_000, requestDeadlineExplicit: true })),
    ).toBe(32);
  });
});

describe('scalingAnnotations', () => {
  const ka = (name: string) => `autoscaling.knative.dev/${name}`;

  it('automatic scaling, serving: target, utilisation, min and max scale, window', async () => {
    const config = await app(
      'automatic_scaling:',
      '  min_instances: 2',
      '  max_instances: 7',
      '  target_throughput_utilization: 0.75',
      '  max_concurrent_requests: 25',
    );
    const { annotations } = scalingAnnotations(config, true, platform());
    expect(annotations).toEqual({
      [ka('class')]: 'kpa.autoscaling.knative.dev',
      [ka('metric')]: 'concurrency',
      [ka('target')]: '25',
      [ka('target-utilization-percentage')]: '75',
      [ka('min-scale')]: '2',
      [ka('max-scale')]: '7',
      [ka('window')]: '60s',
    });
  });

  it('a version without traffic scales to zero whatever its min_instances (S11), and says so', async () => {
    const config = await app('automatic_scaling:', '  min_instances: 2');
    const { annotations, notes } = scalingAnnotations(config, false, platform());
    expect(annotations[ka('min-scale')]).toBeUndefined();
    expect(notes.join('\n')).toContain('min_instances 2 applies while the version receives traffic');
  });

  it("the window is the platform's idle period, within Knative's 6s..1h", async () => {
    const config = await app();
    const short = {
      ...defaultPlatformConfig,
      scheduler: { ...defaultPlatformConfig.scheduler, idlePeriodMs: 1_000 },
    };
    expect(scalingAnnotations(config, true, short).annotations[ka('window')]).toBe('6s');
  });

  it('basic scaling: max_instances, and idle_timeout as the window and the last pod’s retention', async () => {
    const config = await app('basic_scaling:', '  max_instances: 4', '  idle_timeout: 10m');
    const { annotations } = scalingAnnotations(config, true, platform());
    expect(annotations[ka('max-scale')]).toBe('4');
    expect(annotations[ka('window')]).toBe('600s');
    expect(annotations[ka('scale-to-zero-pod-retention-period')]).toBe('600s');
    expect(annotations[ka('target-utilization-percentage')]).toBe('100');
  });

  it('manual scaling: exactly `instances` pods, from the start, and no /_ah/start (a note)', async () => {
    const config = await app('manual_scaling:', '  instances: 3');
    const { annotations, notes } = scalingAnnotations(config, false, platform());
    expect(annotations[ka('min-scale')]).toBe('3');
    expect(annotations[ka('max-scale')]).toBe('3');
    expect(annotations[ka('initial-scale')]).toBe('3');
    expect(notes.join('\n')).toContain('/_ah/start');
  });

  it('warmup has no equivalent: a note', async () => {
    const { notes } = scalingAnnotations(await app('inbound_services:', '  - warmup'), true, platform());
    expect(notes.join('\n')).toContain('/_ah/warmup');
  });
});

describe('memoryResources (S6: the instance class)', () => {
  it.each([
    ['F1', '384Mi', '480Mi'],
    ['F2', '768Mi', '960Mi'],
    ['F4_1G', '3072Mi', '3840Mi'],
    ['B8', '3072Mi', '3840Mi'],
  ])('%s: request %s, limit %s (the hard cap, 1.25x)', async (instanceClass, request, limit) => {
    const scaling = instanceClass.startsWith('B') ? ['basic_scaling:', '  max_instances: 1'] : [];
    const config = await app(`instance_class: ${instanceClass}`, ...scaling);
    expect(memoryResources(config)).toEqual({ requests: { memory: request }, limits: { memory: limit } });
  });
});

describe('names', () => {
  it('keeps readable names, and makes long or digit-first ones into valid labels with a hash', () => {
    expect(versionServiceName('shop', 'default', 'v1')).toBe('shop-default-v1');
    const long = versionServiceName('a'.repeat(30), 'service-with-a-long-name', '20240101t120000');
    expect(long.length).toBeLessThanOrEqual(49);
    expect(long).toMatch(/^[a-z][-a-z0-9]*-[0-9a-f]{8}$/);
    expect(dnsName(['9lives', 'default'], 63)).toMatch(/^h-9lives-default-[0-9a-f]{8}$/);
    // Names that share their beginning stay apart.
    expect(versionServiceName('a'.repeat(60), 'x', 'v1')).not.toBe(
      versionServiceName('a'.repeat(60), 'x', 'v2'),
    );
  });

  it('a revision is the Service name and the MINOR in base 36, within 63 characters', () => {
    const name = versionServiceName('a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63));
    const revision = revisionName(name, '9223372036854775807');
    expect(revision.startsWith(`${name}-`)).toBe(true);
    expect(revision.length).toBeLessThanOrEqual(63);
  });
});

describe('the manifests against the vendored schemas (test/fixtures/k8s-schemas)', () => {
  it('a Knative Service per version: every scaling kind validates', async () => {
    for (const lines of [
      ['automatic_scaling:', '  min_instances: 1', '  max_concurrent_requests: 25'],
      ['threadsafe: false', 'instance_class: F4'],
      ['basic_scaling:', '  max_instances: 2'],
      ['manual_scaling:', '  instances: 2'],
      ['env_variables:', '  A: "1"', '  B: two words'],
    ]) {
      const { manifest } = knativeService(input(await app(...lines)), {
        namespace: 'hangar',
        platform: platform(),
      });
      expect(problems(manifest), lines.join(' ')).toEqual([]);
    }
  });

  it('the version Service: concurrency, timeout, env, resources, its own revision at 100', async () => {
    const config = await app(
      'instance_class: F2',
      'automatic_scaling:',
      '  max_concurrent_requests: 25',
      'env_variables:',
      '  GREETING: hi',
    );
    const { manifest, name, revision } = knativeService(input(config), {
      namespace: 'hangar',
      platform: platform(),
    });
    const spec = (manifest as { spec: { template: { spec: Record<string, unknown> }; traffic: unknown } })
      .spec;
    expect(name).toBe('shop-default-v1');
    expect(spec.template.spec.containerConcurrency).toBe(25);
    expect(spec.template.spec.timeoutSeconds).toBe(62);
    expect(spec.traffic).toEqual([{ revisionName: revision, percent: 100, latestRevision: false }]);
    const [container] = spec.template.spec.containers as Array<{
      env: Array<{ name: string; value?: string }>;
    }>;
    expect(container!.env).toContainEqual({ name: 'GREETING', value: 'hi' });
    expect(container!.env).toContainEqual({ name: 'HANGAR_SOCKETS', value: 'hangar-sockets:7000' });
    expect(container).toMatchObject({
      resources: { requests: { memory: '768Mi' }, limits: { memory: '960Mi' } },
    });
  });

  it('a Route: percent per revision summing to 100, versions at 0 left out', () => {
    const revisions = new Map([
      ['v1', 'shop-default-v1-abc'],
      ['v2', 'shop-default-v2-def'],
      ['v3', 'shop-default-v3-ghi'],
    ]);
    const route = knativeRoute('shop-default', {}, { v1: 0.7, v2: 0.3, v3: 0 }, revisions, {
      namespace: 'hangar',
    });
    expect(route.spec).toEqual({
      traffic: [
        { revisionName: 'shop-default-v1-abc', percent: 70, latestRevision: false },
        { revisionName: 'shop-default-v2-def', percent: 30, latestRevision: false },
      ],
    });
    expect(problems(route)).toEqual([]);
    const promoted = knativeRoute('shop-default', {}, { v2: 1 }, revisions, { namespace: 'hangar' });
    expect((promoted.spec as { traffic: unknown[] }).traffic).toEqual([
      { revisionName: 'shop-default-v2-def', percent: 100, latestRevision: false },
    ]);
    expect(problems(promoted)).toEqual([]);
  });

  it('the platform: namespace, ConfigMap, Secrets, socket service, NetworkPolicies, front end', () => {
    const docs = [
      namespace('hangar'),
      configMap('hangar', 'limits:\n  request_deadline: 30s\nruntimes:\n  nodejs22: /opt/node22/bin/node\n'),
      configMap('hangar', null),
      ...socketSecrets('hangar', 'k'.repeat(64), new Map([['shop', 'token']])),
      ...socketService('hangar', 'dev.local/hangar:0.1.0'),
      ...networkPolicies('hangar'),
      ...frontEnd('hangar', 'dev.local/hangar:0.1.0', 'example.com'),
    ];
    for (const doc of docs) expect(problems(doc), JSON.stringify(doc).slice(0, 80)).toEqual([]);
    const data = (docs[1] as { data: Record<string, string> }).data['hangar.config.yaml'];
    expect(data).toContain('request_deadline: 30s');
    expect(data).not.toContain('runtimes');
  });
});

describe('on the platform database (--database-secret)', () => {
  // biome-ignore lint/suspicious/noExplicitAny: manifests are read as plain data
  type Doc = any;
  const byKind = (docs: Doc[], kind: string, name: string): Doc =>
    docs.find((d) => d.kind === kind && d.metadata.name === name);

  it("the version Service's pods get HANGAR_DATABASE_URL from the Secret, and still validate", async () => {
    const { manifest } = knativeService(input(await app()), {
      namespace: 'hangar',
      platform: platform(),
      databaseSecret: 'hangar-db',
    });
    expect(problems(manifest)).toEqual([]);
    const env = (manifest as Doc).spec.template.spec.containers[0].env;
    expect(env).toContainEqual({
      name: 'HANGAR_DATABASE_URL',
      // The pods' own user (pod-grants.ts), not the front end's.
      valueFrom: { secretKeyRef: { name: 'hangar-db', key: 'pods-url' } },
    });
    // No URL, no password, anywhere in it.
    expect(JSON.stringify(manifest)).not.toMatch(/postgres(ql)?:\/\//);
    const without = knativeService(input(await app()), { namespace: 'hangar', platform: platform() });
    expect(JSON.stringify(without.manifest)).not.toContain('HANGAR_DATABASE_URL');
  });

  it('the front end: serve nodes on the database, several replicas, emptyDir, readiness on the health path', () => {
    const docs = frontEnd('hangar', 'dev.local/hangar:0.1.0', 'example.com', 'hangar-db') as Doc[];
    for (const doc of docs) expect(problems(doc), `${doc.kind} ${doc.metadata.name}`).toEqual([]);
    expect(docs.map((d) => `${d.kind} ${d.metadata.name}`)).toEqual([
      'Deployment hangar-frontend',
      'Service hangar-frontend',
      'Service hangar-admin',
    ]);
    const deployment = byKind(docs, 'Deployment', 'hangar-frontend');
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    const pod = deployment.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'data', emptyDir: {} });
    const [container] = pod.containers;
    expect(container.args).toEqual(
      expect.arrayContaining(['serve', '--node', '$(POD_NAME)', '--peer-host', '$(POD_IP)']),
    );
    // The URL comes from the environment: not in the arguments (ps), not in the manifest.
    expect(container.args).not.toContain('--database');
    expect(container.env).toEqual([
      { name: 'HANGAR_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'hangar-db', key: 'url' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/_ah/hangar/health', port: 'http' });
    expect(byKind(docs, 'Service', 'hangar-admin').spec.sessionAffinity).toBe('ClientIP');
    expect(byKind(docs, 'Service', 'hangar-frontend').spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
    ]);
    // Without the database: one replica on a PersistentVolumeClaim, as before.
    const alone = frontEnd('hangar', 'dev.local/hangar:0.1.0', 'example.com') as Doc[];
    expect(alone.map((d) => d.kind)).toEqual(['PersistentVolumeClaim', 'Deployment', 'Service']);
    expect(byKind(alone, 'Deployment', 'hangar-frontend').spec.replicas).toBe(1);
  });

  it("version pods may reach the database's pods on 5432; the Secret template holds a placeholder", () => {
    const policies = networkPolicies('hangar', true) as Doc[];
    for (const doc of policies) expect(problems(doc)).toEqual([]);
    expect(policies.map((p) => p.metadata.name)).toEqual([
      'hangar-instances-egress',
      'hangar-sockets-ingress',
      'hangar-instances-database',
    ]);
    expect(policies[2].spec.egress).toEqual([
      {
        to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'hangar.dev/role': 'database' } } }],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    ]);
    expect(networkPolicies('hangar')).toHaveLength(2);
    const secret = databaseSecretTemplate('hangar', 'hangar-db') as Doc;
    expect(problems(secret)).toEqual([]);
    expect(secret.stringData).toEqual({
      url: DATABASE_URL_PLACEHOLDER,
      'pods-url': POD_DATABASE_URL_PLACEHOLDER,
    });
  });
});

/** A manifest to break in many places: each test writes straight into it. */
// biome-ignore lint/suspicious/noExplicitAny: the point is to write what the types would refuse
type Loose = any;

describe('the validator rejects broken manifests (so the checks above can fail)', () => {
  async function good(): Promise<Loose> {
    return structuredClone(
      knativeService(input(await app()), { namespace: 'hangar', platform: platform() }).manifest,
    );
  }

  it('containerConcurrency as a string', async () => {
    const doc = await good();
    doc.spec.template.spec.containerConcurrency = '10';
    expect(problems(doc).join('\n')).toMatch(/containerConcurrency must be integer/);
  });

  it('an unknown field (strict field validation)', async () => {
    const doc = await good();
    doc.spec.template.spec.containerConcurency = 10;
    expect(problems(doc).join('\n')).toMatch(/must NOT have additional properties \(containerConcurency\)/);
  });

  it('traffic that does not sum to 100, and a revision name without the Service prefix', async () => {
    const doc = await good();
    doc.spec.traffic[0].percent = 90;
    doc.spec.template.metadata.name = 'other-name';
    const found = problems(doc).join('\n');
    expect(found).toContain('traffic percents sum to 90');
    expect(found).toContain('must start with "shop-default-v1-"');
  });

  it('a Deployment with replicas as a string, and a kind with no schema', () => {
    const [deployment] = socketService('hangar', 'img');
    const broken = structuredClone(deployment) as { spec: { replicas: unknown } };
    broken.spec.replicas = '1';
    expect(problems(broken).join('\n')).toMatch(/replicas must be integer/);
    expect(problems({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toEqual([
      'no schema for v1/Pod',
    ]);
  });

  it('a scale annotation out of range', async () => {
    const doc = await good();
    doc.spec.template.metadata.annotations['autoscaling.knative.dev/window'] = '2s';
    expect(problems(doc).join('\n')).toContain('window 2s is not 6s..1h');
  });
});

/**
 * Validates Kubernetes and Knative manifests against the schemas vendored in
 * test/fixtures/k8s-schemas/ (its README names their sources and versions), with ajv, the way
 * the API server would judge them:
 *
 * - Kubernetes kinds: yannh's "standalone-strict" JSON schemas (unknown fields are errors).
 * - Knative kinds: the CRD's `openAPIV3Schema`, with unknown fields made errors too (the API
 *   server's strict field validation, `kubectl apply --validate=strict`), except where the
 *   schema says `x-kubernetes-preserve-unknown-fields`.
 * - Plus the rules Knative's admission webhook checks and no schema says (knativeProblems):
 *   names, traffic summing to 100, annotation values.
 *
 * A manifest of a kind with no schema here is an error, not a pass.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { parse } from 'yaml';
import { repoRoot } from './dev-server.js';

const dir = join(repoRoot, 'test/fixtures/k8s-schemas');
const KUBERNETES = join(dir, 'kubernetes-v1.30.10-standalone-strict');
const KNATIVE = join(dir, 'knative-serving-v1.23.0');

/** apiVersion/kind → the vendored schema. */
const kubernetesFiles: Record<string, string> = {
  'apps/v1/Deployment': 'deployment-apps-v1.json',
  'v1/Service': 'service-v1.json',
  'v1/ConfigMap': 'configmap-v1.json',
  'v1/Secret': 'secret-v1.json',
  'v1/Namespace': 'namespace-v1.json',
  'v1/PersistentVolumeClaim': 'persistentvolumeclaim-v1.json',
  'networking.k8s.io/v1/NetworkPolicy': 'networkpolicy-networking-v1.json',
};
const knativeFiles: Record<string, string> = {
  'serving.knative.dev/v1/Service': 'service.yaml',
  'serving.knative.dev/v1/Route': 'route.yaml',
};

type Schema = Record<string, unknown>;

// ajv-formats is CommonJS with a default export; under NodeNext its namespace is what we get.
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ??
  addFormatsImport) as unknown as (ajv: Ajv) => Ajv;

/** The CRD's schema for its `v1` version. */
function crdSchema(file: string): Schema {
  const crd = parse(readFileSync(join(KNATIVE, file), 'utf8')) as {
    spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> };
  };
  const v1 = crd.spec.versions.find((v) => v.name === 'v1');
  if (!v1) throw new Error(`${file} has no v1 version`);
  return strictFields(v1.schema.openAPIV3Schema);
}

/**
 * A copy of an OpenAPI v3 structural schema in which every object that lists its properties
 * refuses others, as the API server's strict field validation does, unless the schema keeps
 * unknown fields (`x-kubernetes-preserve-unknown-fields`) or says what other keys may hold.
 */
export function strictFields(schema: Schema): Schema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) out[key] = walk(value);
    if (
      out.properties !== undefined &&
      out.additionalProperties === undefined &&
      out['x-kubernetes-preserve-unknown-fields'] !== true
    ) {
      out.additionalProperties = false;
    }
    return out;
  };
  return walk(schema) as Schema;
}

export interface ManifestValidator {
  /** What is wrong with `doc`, one line each; empty when it is valid. */
  problems(doc: unknown): string[];
}

/**
 * @example
 * const validator = manifestValidator();
 * expect(validator.problems(doc)).toEqual([]);
 */
export function manifestValidator(): ManifestValidator {
  // strict: false: the schemas carry Kubernetes' own keywords (x-kubernetes-*), which ajv must
  // ignore rather than refuse.
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new Map<string, ValidateFunction>();
  for (const [kind, file] of Object.entries(kubernetesFiles)) {
    const schema = JSON.parse(readFileSync(join(KUBERNETES, file), 'utf8')) as Schema;
    // `http://json-schema.org/schema#` names no draft ajv knows; the schemas are draft-04-style
    // (type arrays, no $refs: standalone), which ajv's default draft reads the same.
    delete schema.$schema;
    compiled.set(kind, ajv.compile(schema));
  }
  for (const [kind, file] of Object.entries(knativeFiles)) compiled.set(kind, ajv.compile(crdSchema(file)));
  return {
    problems(doc) {
      const d = doc as { apiVersion?: unknown; kind?: unknown };
      const kind = `${String(d?.apiVersion)}/${String(d?.kind)}`;
      const validate = compiled.get(kind);
      if (!validate) return [`no schema for ${kind}`];
      const problems = validate(doc)
        ? []
        : (validate.errors ?? []).map(
            (e) => `${kind} ${e.instancePath || '/'} ${e.message}${extra(e.params)}`,
          );
      return [...problems, ...metadataProblems(doc), ...knativeProblems(doc)];
    },
  };
}

function extra(params: Record<string, unknown>): string {
  const { additionalProperty } = params as { additionalProperty?: string };
  return additionalProperty ? ` (${additionalProperty})` : '';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** What the API server checks of every object's metadata (names, label values). */
function metadataProblems(doc: unknown): string[] {
  const meta = (doc as { metadata?: { name?: unknown; labels?: Record<string, unknown> } })?.metadata;
  const problems: string[] = [];
  if (typeof meta?.name !== 'string' || meta.name.length > 63 || !DNS_LABEL.test(meta.name)) {
    problems.push(`metadata.name ${String(meta?.name)} is not a DNS label of at most 63 characters`);
  }
  for (const [key, value] of Object.entries(meta?.labels ?? {})) {
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value))
      problems.push(`label ${key}=${String(value)} is not a valid label value`);
  }
  return problems;
}

interface KnativeDoc {
  kind?: string;
  apiVersion?: string;
  metadata?: { name?: string };
  spec?: {
    template?: {
      metadata?: { name?: string; annotations?: Record<string, string> };
      spec?: { containerConcurrency?: number; timeoutSeconds?: number; containers?: unknown[] };
    };
    traffic?: Array<{ percent?: number; revisionName?: string; latestRevision?: boolean }>;
  };
}

/**
 * The rules of Knative Serving's admission webhook (pkg/apis/serving/v1 validation, and
 * pkg/apis/autoscaling annotation checks) that the CRD schema does not carry: the ones an
 * export could break.
 */
export function knativeProblems(doc: unknown): string[] {
  const d = doc as KnativeDoc;
  if (d?.apiVersion !== 'serving.knative.dev/v1') return [];
  const problems: string[] = [];
  const name = d.metadata?.name ?? '';
  if (!DNS_1035.test(name)) problems.push(`${d.kind} name ${name} must start with a letter (RFC 1035)`);
  const traffic = d.spec?.traffic ?? [];
  const sum = traffic.reduce((total, t) => total + (t.percent ?? 0), 0);
  if (traffic.length > 0 && sum !== 100) problems.push(`traffic percents sum to ${sum}, not 100`);
  for (const t of traffic) {
    if (t.revisionName && t.latestRevision === true)
      problems.push(`traffic target ${t.revisionName} names a revision and latestRevision: true`);
  }
  if (d.kind === 'Route' && traffic.some((t) => !t.revisionName))
    problems.push('a Route traffic target needs a revisionName (it has no configuration of its own)');
  const template = d.spec?.template;
  if (d.kind === 'Service') {
    if (!template) return [...problems, 'a Service needs spec.template'];
    const revision = template.metadata?.name;
    if (revision !== undefined && (!revision.startsWith(`${name}-`) || revision.length > 63))
      problems.push(`revision name ${revision} must start with "${name}-" and have at most 63 characters`);
    const cc = template.spec?.containerConcurrency;
    if (cc !== undefined && (!Number.isInteger(cc) || cc < 0 || cc > 1000))
      problems.push(`containerConcurrency ${cc} is not 0..1000`);
    const timeout = template.spec?.timeoutSeconds;
    // max-revision-timeout-seconds of Knative's default config-defaults.
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0 || timeout > 600))
      problems.push(`timeoutSeconds ${timeout} is not 0..600`);
    if ((template.spec?.containers ?? []).length !== 1)
      problems.push('exactly one container expected (the export writes no sidecars)');
    problems.push(...annotationProblems(template.metadata?.annotations ?? {}));
  }
  return problems;
}

function annotationProblems(a: Record<string, string>): string[] {
  const problems: string[] = [];
  const int = (key: string) => {
    const value = a[`autoscaling.knative.dev/${key}`];
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) problems.push(`${key} ${value} is not a whole number`);
    return Number(value);
  };
  const min = int('min-scale');
  const max = int('max-scale');
  const initial = int('initial-scale');
  const utilization = int('target-utilization-percentage');
  if (min !== undefined && max !== undefined && max > 0 && min > max)
    problems.push(`min-scale ${min} is over max-scale ${max}`);
  if (initial !== undefined && initial < 1) problems.push('initial-scale 0 needs allow-zero-initial-scale');
  if (utilization !== undefined && (utilization < 1 || utilization > 100))
    problems.push(`target-utilization-percentage ${utilization} is not 1..100`);
  const target = a['autoscaling.knative.dev/target'];
  if (target !== undefined && !(Number(target) >= 0.01)) problems.push(`target ${target} is below 0.01`);
  const window = a['autoscaling.knative.dev/window'];
  if (window !== undefined) {
    const seconds = /^(\d+)s$/.exec(window);
    if (!seconds || Number(seconds[1]) < 6 || Number(seconds[1]) > 3600)
      problems.push(`window ${window} is not 6s..1h`);
  }
  const retention = a['autoscaling.knative.dev/scale-to-zero-pod-retention-period'];
  if (retention !== undefined && !/^\d+s$/.test(retention))
    problems.push(`scale-to-zero-pod-retention-period ${retention} is not a duration`);
  for (const key of Object.keys(a)) {
    if (!key.startsWith('autoscaling.knative.dev/')) continue;
    const known = [
      'class',
      'metric',
      'target',
      'target-utilization-percentage',
      'min-scale',
      'max-scale',
      'initial-scale',
      'window',
      'scale-to-zero-pod-retention-period',
    ];
    if (!known.includes(key.slice('autoscaling.knative.dev/'.length)))
      problems.push(`unknown annotation ${key}`);
  }
  return problems;
}

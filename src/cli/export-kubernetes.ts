/**
 * `hangar export kubernetes` (SPEC S2, S16; docs/kubernetes.md): reads the deployed versions,
 * their traffic and the platform config from a running `hangar serve`'s admin API, copies each
 * version's files, and writes Knative and Kubernetes manifests, Dockerfiles and a README into
 * `--out`. It reads only: nothing on the platform changes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { PlatformConfigView } from '../admin/config-view.js';
import type { RoutingView, VersionDetail, VersionView } from '../admin/deploy-api.js';
import { loadAppConfig } from '../config/index.js';
import { HangarError } from '../shared/errors.js';
import { version as hangarVersion } from '../shared/version.js';
import { appToken } from '../sockets/protocol.js';
import { type AdminClientOptions, adminJson, adminRequest } from './admin-client.js';
import {
  buildCommand,
  hangarDockerfile,
  type PackageFacts,
  versionDockerfile,
} from './kubernetes/dockerfiles.js';
import {
  knativeRoute,
  knativeService,
  type Manifest,
  type VersionInput,
  versionLabels,
} from './kubernetes/knative.js';
import { imageName, routeName, versionServiceName } from './kubernetes/names.js';
import {
  configMap,
  databaseSecretTemplate,
  frontEnd,
  namespace as namespaceManifest,
  networkPolicies,
  socketSecrets,
  socketService,
} from './kubernetes/platform.js';
import { exportReadme, type ReadmeRoute, type ReadmeVersion } from './kubernetes/readme.js';

export interface ExportKubernetesOptions extends AdminClientOptions {
  out?: string;
  app?: string;
  service?: string;
  version?: string;
  namespace?: string;
  registry?: string;
  domain?: string;
  /**
   * The Kubernetes Secret (key `url`) holding the platform database's postgres:// URL: the
   * pods write their request logs and counts there, and the front end runs as `serve` nodes on
   * it. The URL itself is never read or written by the export.
   */
  databaseSecret?: string;
  json?: boolean;
}

type Write = (text: string) => void;
const stdout: Write = (text) => process.stdout.write(text);

/** Marks a folder as an export's, so that exporting again may replace what it wrote. */
const MARKER = '.hangar-export';
const SECRETS_FILE = 'manifests/02-secrets.yaml';
/** The `--database-secret` template: beside manifests/, so `kubectl apply -f manifests/` skips it. */
const DATABASE_SECRET_FILE = 'database-secret.example.yaml';

/** What `--json` prints. */
export interface ExportResult {
  out: string;
  namespace: string;
  hangarImage: string;
  /** `--database-secret`, when given. */
  databaseSecret?: string;
  versions: Array<Omit<ReadmeVersion, 'folder'> & { folder: string; revision: string }>;
  routes: ReadmeRoute[];
  skippedRoutes: string[];
  files: string[];
}

/** `hangar export kubernetes`: see the module comment. */
export async function runExportKubernetes(
  opts: ExportKubernetesOptions,
  write: Write = stdout,
): Promise<void> {
  const out = resolve(opts.out ?? 'hangar-kubernetes');
  const ns = opts.namespace ?? 'hangar';
  checkLabel(ns, '--namespace');
  const registry = (opts.registry ?? 'dev.local').replace(/\/+$/, '');
  const domain = opts.domain ?? 'localhost';
  const { databaseSecret } = opts;
  if (databaseSecret !== undefined) checkSubdomain(databaseSecret, '--database-secret');

  // What the platform has: versions (filtered as asked), their traffic, its config.
  const params = new URLSearchParams();
  if (opts.app !== undefined) params.set('app', opts.app);
  if (opts.service !== undefined) params.set('service', opts.service);
  const listed = (
    await adminJson<{ versions: VersionView[] }>(
      opts,
      'GET',
      `/api/versions${params.size > 0 ? `?${params}` : ''}`,
    )
  ).versions.filter((v) => opts.version === undefined || v.version === opts.version);
  if (listed.length === 0) {
    throw new HangarError(
      'VERSION_NOT_FOUND',
      `no deployed version matches${opts.app ? ` --app ${opts.app}` : ''}${opts.service ? ` --service ${opts.service}` : ''}${opts.version ? ` --version ${opts.version}` : ''}; hangar versions list shows what is deployed`,
    );
  }
  const routing = await adminJson<RoutingView>(
    opts,
    'GET',
    `/api/routing${opts.app ? `?app=${encodeURIComponent(opts.app)}` : ''}`,
  );
  const platform = await adminJson<PlatformConfigView>(opts, 'GET', '/api/config');

  const key = await prepareOut(out);
  const files: string[] = [];
  const save = async (path: string, text: string | Buffer, mode = 0o644) => {
    const full = join(out, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, text, { mode });
    await chmod(full, mode);
    files.push(path);
  };

  // Each version's files, as deployed, and its app.yaml parsed as the platform parses it.
  const hangarImage = imageName(registry, ['hangar'], hangarVersion);
  const inputs: Array<{ input: VersionInput; detail: VersionDetail; folder: string; facts: PackageFacts }> =
    [];
  const blobs = new Map<string, string>();
  for (const view of listed) {
    const { version: detail } = await adminJson<{ version: VersionDetail }>(
      opts,
      'GET',
      `/api/versions/${[view.app, view.service, view.version].map(encodeURIComponent).join('/')}`,
    );
    const folder = posix.join('apps', detail.app, detail.service, detail.version);
    const appDir = join(out, folder, 'app');
    for (const file of detail.manifest) {
      const target = join(appDir, safePath(file.path));
      await mkdir(dirname(target), { recursive: true });
      const copied = blobs.get(file.sha256);
      if (copied) await cp(copied, target);
      else await writeFile(target, await fetchBlob(opts, file.sha256));
      await chmod(target, file.mode & 0o777);
      blobs.set(file.sha256, target);
      files.push(posix.join(folder, 'app', file.path));
    }
    const config = await loadAppConfig(join(appDir, detail.configFile));
    inputs.push({
      detail,
      folder,
      facts: await packageFacts(appDir),
      input: {
        app: detail.app,
        service: detail.service,
        version: detail.version,
        minor: detail.minor,
        config,
        configFile: detail.configFile,
        traffic: detail.traffic,
        image: imageName(registry, ['hangar', detail.app, detail.service, detail.version], detail.minor),
      },
    });
  }

  // The manifests.
  const settings = {
    namespace: ns,
    platform: platform.config,
    ...(databaseSecret === undefined ? {} : { databaseSecret }),
  };
  const apps = [...new Set(inputs.map((i) => i.input.app))];
  const tokens = new Map(apps.map((app) => [app, appToken(key, app)]));
  await save('manifests/00-namespace.yaml', yamlDocs([namespaceManifest(ns)]));
  await save('manifests/01-config.yaml', yamlDocs([configMap(ns, platform.yaml)]));
  await save(SECRETS_FILE, yamlDocs(socketSecrets(ns, key, tokens)), 0o600);
  await save('manifests/10-sockets.yaml', yamlDocs(socketService(ns, hangarImage)));
  await save(
    'manifests/11-network-policies.yaml',
    yamlDocs(networkPolicies(ns, databaseSecret !== undefined)),
  );
  await save('manifests/frontend/frontend.yaml', yamlDocs(frontEnd(ns, hangarImage, domain, databaseSecret)));
  if (databaseSecret !== undefined) {
    await save(
      DATABASE_SECRET_FILE,
      `# The platform database's URL for the front end and every version pod (hangar export kubernetes\n# --database-secret ${databaseSecret}). Put the real URL in place of the placeholder, apply it once\n# (kubectl apply -f ${DATABASE_SECRET_FILE}) and keep that copy out of version control.\n${yamlDocs([databaseSecretTemplate(ns, databaseSecret)])}`,
    );
  }

  const versions: ExportResult['versions'] = [];
  const revisions = new Map<string, Map<string, string>>();
  const taken = new Set<string>();
  for (const { input, detail, folder, facts } of inputs) {
    // Two versions whose names join to the same text (`a-b` + `c`, `a` + `b-c`) are told apart by a hash.
    let name = versionServiceName(input.app, input.service, input.version);
    if (taken.has(name)) name = versionServiceName(input.app, input.service, input.version, true);
    taken.add(name);
    const mapped = knativeService({ ...input, name }, settings);
    const manifest = `manifests/20-${mapped.name}.yaml`;
    await save(manifest, yamlDocs([mapped.manifest]));
    await save(
      posix.join(folder, 'Dockerfile'),
      versionDockerfile({ node: detail.node.replace(/^v/, ''), hangarImage, build: buildCommand(facts) }),
    );
    const serviceKey = `${input.app}\0${input.service}`;
    if (!revisions.has(serviceKey)) revisions.set(serviceKey, new Map());
    revisions.get(serviceKey)!.set(input.version, mapped.revision);
    versions.push({
      app: input.app,
      service: input.service,
      version: input.version,
      minor: input.minor,
      folder,
      image: input.image,
      knativeService: mapped.name,
      revision: mapped.revision,
      manifest,
      notes: mapped.notes,
    });
  }

  // One Route per service whose split names only exported versions.
  const routes: ReadmeRoute[] = [];
  const skippedRoutes: string[] = [];
  for (const split of routing.splits) {
    const exported = revisions.get(`${split.app}\0${split.service}`);
    if (!exported) continue;
    const shares = Object.entries(split.allocations).filter(([, w]) => w > 0);
    if (shares.length === 0) continue;
    if (shares.some(([version]) => !exported.has(version))) {
      skippedRoutes.push(`${split.app}/${split.service}`);
      continue;
    }
    let name = routeName(split.app, split.service);
    if (taken.has(name)) name = routeName(split.app, split.service, true);
    taken.add(name);
    const manifest = `manifests/30-${name}-route.yaml`;
    const labels = versionLabels({ app: split.app, service: split.service, version: '', minor: '' });
    delete labels['hangar.dev/version'];
    delete labels['hangar.dev/minor'];
    await save(manifest, yamlDocs([knativeRoute(name, labels, split.allocations, exported, settings)]));
    routes.push({
      app: split.app,
      service: split.service,
      name,
      manifest,
      traffic: shares
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([v, w]) => `${v} ${Math.round(w * 100)}%`)
        .join(', '),
    });
  }

  // Hangar's own image: the package this CLI runs from.
  const packageDir = join(out, 'hangar', 'package');
  await copyHangarPackage(packageDir);
  const locked = Boolean(await stat(join(packageDir, 'package-lock.json')).catch(() => undefined));
  await save('hangar/Dockerfile', hangarDockerfile(process.versions.node, locked));
  await save(
    'README.md',
    exportReadme({
      namespace: ns,
      hangarImage,
      hangarVersion,
      server: platformName(opts),
      ...(databaseSecret === undefined ? {} : { databaseSecret }),
      versions,
      routes,
      skippedRoutes,
    }),
  );
  await save(MARKER, `${JSON.stringify({ hangar: hangarVersion, exported: new Date().toISOString() })}\n`);

  const result: ExportResult = {
    out,
    namespace: ns,
    hangarImage,
    ...(databaseSecret === undefined ? {} : { databaseSecret }),
    versions,
    routes,
    skippedRoutes,
    files,
  };
  if (opts.json) {
    write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const rel = relative(process.cwd(), out) || '.';
  write(`wrote ${rel}/: ${versions.length} Knative Service(s), ${routes.length} Route(s)\n`);
  for (const v of versions) write(`  ${v.app}/${v.service}/${v.version} -> ${v.manifest}\n`);
  for (const r of routes) write(`  ${r.app}/${r.service}: ${r.traffic} -> ${r.manifest}\n`);
  for (const s of skippedRoutes) write(`  ${s}: no Route written (its split names a version not exported)\n`);
  if (databaseSecret !== undefined) {
    write(
      `  platform database: from the Secret ${databaseSecret} (key url); create it first, e.g. from ${rel}/${DATABASE_SECRET_FILE}\n`,
    );
  }
  write(`next: read ${rel}/README.md (build the images, then kubectl apply -f ${rel}/manifests/)\n`);
}

/**
 * Makes `out` ready: created when missing; an earlier export's folder is emptied of what the
 * export writes (its socket key kept, so running pods keep their tokens); any other non-empty
 * folder is refused. Returns the socket service's key.
 */
async function prepareOut(out: string): Promise<string> {
  const entries = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  let key: string | undefined;
  if (entries.length > 0) {
    if (!entries.includes(MARKER)) {
      throw new HangarError(
        'EXPORT_TARGET_TAKEN',
        `${out} is not empty and holds no earlier export (${MARKER}); pick an empty or new folder with --out`,
      );
    }
    key = await readKey(join(out, SECRETS_FILE));
    for (const name of ['apps', 'hangar', 'manifests', 'README.md', DATABASE_SECRET_FILE, MARKER])
      await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
  return key ?? randomBytes(32).toString('hex');
}

/** The socket key of an earlier export's secrets file, if it has one. */
async function readKey(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0) continue;
    const value = doc.toJS() as {
      kind?: string;
      metadata?: { name?: string };
      stringData?: { key?: unknown };
    };
    if (value?.kind === 'Secret' && value.metadata?.name === 'hangar-sockets-key') {
      const key = value.stringData?.key;
      if (typeof key === 'string' && key.length >= 32) return key;
    }
  }
  return undefined;
}

async function fetchBlob(opts: AdminClientOptions, sha256: string): Promise<Buffer> {
  const res = await adminRequest(opts, 'GET', `/api/blobs/${sha256}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new HangarError('ADMIN_API', `GET /api/blobs/${sha256} answered bytes of another hash; try again`);
  }
  return bytes;
}

/** A manifest path as a relative path that stays inside the version's folder. */
function safePath(path: string): string {
  const normal = posix.normalize(path);
  if (isAbsolute(normal) || normal === '..' || normal.startsWith('../') || normal === '.') {
    throw new HangarError('ADMIN_API', `the platform named a file outside the version's folder: ${path}`);
  }
  return normal;
}

async function packageFacts(appDir: string): Promise<PackageFacts> {
  const exists = (name: string) =>
    stat(join(appDir, name)).then(
      (s) => s.isFile(),
      () => false,
    );
  const text = await readFile(join(appDir, 'package.json'), 'utf8').catch(() => undefined);
  let gcpBuild = false;
  if (text !== undefined) {
    try {
      gcpBuild =
        typeof (JSON.parse(text) as { scripts?: Record<string, unknown> }).scripts?.['gcp-build'] ===
        'string';
    } catch {
      // The deploy built it, so it parsed then; a build in the image reports it otherwise.
    }
  }
  return {
    hasPackageJson: text !== undefined,
    locked: (await exists('package-lock.json')) || (await exists('npm-shrinkwrap.json')),
    gcpBuild,
  };
}

/**
 * The Hangar package this CLI runs from (its built `dist/`, `templates/`, package.json and
 * lockfile), as the Hangar image's build context: the image runs the same Hangar that exported.
 */
async function copyHangarPackage(target: string): Promise<void> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  await mkdir(target, { recursive: true });
  for (const name of ['package.json', 'package-lock.json', 'dist', 'templates', 'LICENSE']) {
    const from = join(root, name);
    if (!(await stat(from).catch(() => undefined))) continue;
    await cp(from, join(target, name), {
      recursive: true,
      filter: (source) => !/\.(test|spec)\.(js|d\.ts)$|\.tsbuildinfo$/.test(source),
    });
  }
}

/** The manifests as YAML documents, `---` between them. */
function yamlDocs(docs: readonly Manifest[]): string {
  return docs.map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n');
}

function checkLabel(value: string, flag: string): void {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > 63) {
    throw new HangarError('USAGE', `${flag} must be a DNS label (a-z, 0-9, '-', at most 63), not '${value}'`);
  }
}

/** A DNS subdomain (RFC 1123), as Kubernetes names a Secret. */
function checkSubdomain(value: string, flag: string): void {
  const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (value.length > 253 || !value.split('.').every((part) => label.test(part))) {
    throw new HangarError(
      'USAGE',
      `${flag} must name a Kubernetes Secret (a-z, 0-9, '-' and '.', at most 253), not '${value}'`,
    );
  }
}

function platformName(opts: AdminClientOptions): string {
  return opts.server ?? (opts.dataDir ? `the platform on ${opts.dataDir}` : 'the local platform');
}

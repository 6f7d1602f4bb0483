/**
 * What `hangar serve` runs: every deployed version of every app, brought back from the
 * VersionStore at start, and the deploy protocol and versions API that change it (SPEC S11,
 * docs/serve.md). The route table (frontend/serve-routes.ts) is kept in step with the store:
 * a version is routed once it is committed, a promote moves a service's default host, a delete
 * drains the version's instances and removes its files.
 *
 * A deploy is staged under `<data-dir>/staging/<id>/` and only renamed into
 * `<data-dir>/versions/...` once it built; it is written to the store (with its promote, in one
 * transaction) only once one instance of it started. A crash at any point before the commit
 * leaves a directory that the next start removes, and nothing in the store.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { z } from 'zod';
import type {
  BuildEvent,
  DeployApi,
  DeployBegun,
  RoutingView,
  VersionDetail,
  VersionsApi,
  VersionView,
} from '../admin/deploy-api.js';
import { type DispatchRule, MAX_DISPATCH_RULES, parseUrlPattern } from '../config/dispatch-config.js';
import { type AppConfig, type FileLimits, formatIssue, loadAppConfig } from '../config/index.js';
import type { ServiceRoute } from '../frontend/route.js';
import type { ServeRouteTable } from '../frontend/serve-routes.js';
import { HangarError, isHangarError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { PRECOMPILED_MANIFEST } from '../shared/precompiled.js';
import { buildVersion } from '../versions/build.js';
import { checkManifest } from '../versions/manifest.js';
import { generatedVersionName, newMinor } from '../versions/minor.js';
import { checkAppName, checkServiceName, checkVersionName } from '../versions/names.js';
import type { NodeRuntime, NodeRuntimeResolver } from '../versions/node-runtimes.js';
import { materializeTree, storeTree } from '../versions/tree.js';
import type { BlobStore, ManifestEntry, VersionRecord, VersionStore } from '../versions/types.js';

/** A version as it runs: its route, and what serve does with it beyond routing. */
export interface ServeRuntime extends ServiceRoute {
  /** Starts one instance and stops it again: resolves once the handlers loaded (the deploy's check). */
  proveLoads(): Promise<void>;
  /** Instances now (the versions list). */
  readonly instanceCount: number;
  /** Stops routing to it, lets in-flight requests finish within drain_timeout, stops its instances. */
  close(): Promise<void>;
}

export interface ServeStateOptions {
  dataDir: string;
  store: VersionStore;
  blobs: BlobStore & { clearTemporaries(): Promise<void> };
  routes: ServeRouteTable;
  nodeRuntimes: NodeRuntimeResolver;
  fileLimits: FileLimits;
  logger: Logger;
  /** The running version of a record (a ServiceRuntime in serve mode). */
  runtimeFor(record: VersionRecord, config: AppConfig, node: NodeRuntime): ServeRuntime;
  /** The URL of a version's own host, for the deploy's result. */
  urlFor(app: string, service: string, version: string): string;
  /**
   * The store is shared with other `serve` nodes (PostgreSQL, S16): deploys record their built
   * tree for the other nodes, and the store's generation is polled every `syncIntervalMs` so
   * what another node deploys, promotes, splits or deletes is served here too.
   */
  shared?: { syncIntervalMs: number };
}

/** A running version and where its files are on this node. */
interface Running {
  runtime: ServeRuntime;
  minor: string;
  dir: string;
}

/** A deploy whose manifest was accepted: waiting for its blobs and its build. */
interface PendingDeploy {
  id: string;
  app: string;
  service: string;
  version: string | undefined;
  promote: boolean;
  appYaml: string;
  configFile: string;
  manifest: ManifestEntry[];
  /** Hashes it lacked at begin; bytes of those received count as its upload. */
  missing: Set<string>;
  uploadedBytes: number;
  building: boolean;
  created: number;
}

/** A deploy not built within this long is forgotten (its blobs stay; a re-deploy reuses them). */
const PENDING_TTL_MS = 60 * 60_000;

const BeginBody = z.object({
  app: z.string(),
  service: z.string().default('default'),
  version: z.string().optional(),
  promote: z.boolean().default(true),
  appYaml: z.string().max(1_000_000),
  configFile: z.string().default('app.yaml'),
  manifest: z.unknown(),
});

const PromoteBody = z.object({
  app: z.string().optional(),
  service: z.string().default('default'),
  version: z.string(),
});

const SplitBody = z.object({
  app: z.string().optional(),
  service: z.string().default('default'),
  allocations: z.record(z.string(), z.number()),
  shardBy: z.enum(['cookie', 'ip', 'random']).default('ip'),
});

const DispatchBody = z.object({
  app: z.string().optional(),
  rules: z
    .array(z.object({ url: z.string().max(100), service: z.string().max(100) }))
    .max(MAX_DISPATCH_RULES),
});

/** Stored or sent rules as the route table takes them; throws USAGE naming a bad pattern. */
function dispatchRules(entries: readonly { url: string; service: string }[]): DispatchRule[] {
  return entries.map((entry, i) => {
    const parsed = parseUrlPattern(entry.url);
    if (typeof parsed === 'string') throw new HangarError('USAGE', `dispatch rule ${i + 1}: ${parsed}`);
    return { url: entry.url, service: entry.service, ...parsed };
  });
}

const key = (app: string, service: string, version: string) => `${app}\0${service}\0${version}`;

export class ServeState implements DeployApi, VersionsApi {
  readonly #o: ServeStateOptions;
  readonly #runtimes = new Map<string, Running>();
  /**
   * Writes to the store with what follows them on the route table, and syncs from the store,
   * run one at a time: a sync that read the store before a local promote must not route by
   * what it read after the promote was routed.
   */
  #turn: Promise<unknown> = Promise.resolve();
  /** The store's generation the routes were last synced to; a sync that failed in part leaves it unset. */
  #syncedGeneration: number | undefined;
  #watch: NodeJS.Timeout | undefined;
  /** Start failures already logged (#sync retries them quietly). */
  readonly #failuresSaid = new Set<string>();
  readonly #pending = new Map<string, PendingDeploy>();
  /** Builds run one at a time: npm and the load check are heavy on a small machine. */
  #buildQueue: Promise<unknown> = Promise.resolve();
  /** Drains of replaced and deleted versions, awaited at close. */
  readonly #draining = new Set<Promise<void>>();
  /** Aborted when serve stops: a build in progress is given up (its processes killed). */
  readonly #stopping = new AbortController();

  constructor(options: ServeStateOptions) {
    this.#o = options;
  }

  get #staging(): string {
    return join(this.#o.dataDir, 'staging');
  }
  get #versionsDir(): string {
    return join(this.#o.dataDir, 'versions');
  }

  /** Every stored version running and routed again; leftovers of a crash removed. */
  async start(): Promise<void> {
    await rm(this.#staging, { recursive: true, force: true });
    await this.#o.blobs.clearTemporaries();
    const records = await this.#exclusive(() => this.#sync());
    await this.#removeUnreferencedDirs(new Set(records.map((r) => resolve(this.#dirOf(r)))));
    if (this.#o.shared) {
      const every = this.#o.shared.syncIntervalMs;
      const poll = async () => {
        try {
          const generation = await this.#o.store.generation();
          if (generation !== this.#syncedGeneration) await this.#exclusive(() => this.#sync());
        } catch (err) {
          this.#o.logger.warn(
            `versions: cannot read the platform database (${(err as Error).message}); retrying`,
          );
        }
        if (this.#watch) this.#watch = setTimeout(poll, every).unref();
      };
      this.#watch = setTimeout(poll, every).unref();
    }
  }

  /**
   * Brings the running versions and the route table in line with the store: a version that is
   * new (or has a new MINOR) is started (its files made from its built tree when this node has
   * none), one that is gone is drained, and every service's traffic and every app's dispatch
   * rules are routed as stored. A version that cannot be started is logged and tried again at
   * the next poll. Resolves to the stored versions.
   */
  async #sync(): Promise<VersionRecord[]> {
    const { store, routes, logger } = this.#o;
    const generation = await store.generation();
    const records = await store.listVersions();
    const services = await store.listServices();
    const apps = await store.listApps();
    let complete = true;
    const stored = new Set<string>();
    for (const record of records) {
      const k = key(record.app, record.service, record.version);
      stored.add(k);
      const running = this.#runtimes.get(k);
      if (running?.minor === record.minor) continue;
      try {
        const dir = await this.#filesOf(record);
        const config = await loadAppConfig(join(dir, 'app', record.configFile));
        const node = await this.#o.nodeRuntimes.resolve(record.runtime);
        const runtime = this.#o.runtimeFor({ ...record, dir }, config, node);
        this.#runtimes.set(k, { runtime, minor: record.minor, dir });
        routes.set(runtime);
        if (running) this.#drain(running.runtime, running.dir);
      } catch (err) {
        complete = false;
        // Tried again at every poll; said once per version and reason, not twice a second.
        const said = `${k}\0${record.minor}\0${(err as Error).message}`;
        if (!this.#failuresSaid.has(said)) {
          this.#failuresSaid.add(said);
          logger.error(
            `version ${record.app}/${record.service}/${record.version} cannot be started${running ? '' : ' again'}: ${(err as Error).message}`,
          );
        }
      }
    }
    for (const [k, running] of this.#runtimes) {
      if (stored.has(k)) continue;
      // Deleted through another node: routed no more, drained, its files removed.
      this.#runtimes.delete(k);
      routes.remove(running.runtime.app, running.runtime.service, running.runtime.version);
      this.#drain(running.runtime, running.dir);
    }
    for (const split of services) {
      const versions = Object.keys(split.allocations).filter((v) => (split.allocations[v] ?? 0) > 0);
      if (
        versions.length === 0 ||
        !versions.every((v) => this.#runtimes.has(key(split.app, split.service, v)))
      )
        continue;
      if (versions.length === 1) routes.promote(split.app, split.service, versions[0]!);
      else routes.split(split.app, split.service, split.allocations, split.shardBy);
    }
    for (const { app } of apps) {
      const entries = await store.dispatch(app);
      try {
        routes.setDispatch(app, dispatchRules(entries));
      } catch (err) {
        logger.error(`the dispatch rules of app ${app} cannot be applied again: ${(err as Error).message}`);
      }
    }
    this.#syncedGeneration = complete ? generation : undefined;
    return records;
  }

  /**
   * The version's directory on this node, its files made from the built tree when it has none
   * (deployed through another node). Throws when neither is there.
   */
  async #filesOf(record: VersionRecord): Promise<string> {
    const dir = this.#dirOf(record);
    if (await isDirectory(join(dir, 'app'))) return dir;
    if (record.tree === undefined) {
      throw new HangarError(
        'VERSION_NOT_FOUND',
        `its files are not in ${dir}, and it has no built tree to make them from (it was deployed before Hangar recorded one); deploy it again`,
      );
    }
    const made = await materializeTree(record.tree, this.#o.blobs, dir);
    this.#o.logger.info(
      `version ${record.app}/${record.service}/${record.version}: ${made.files} files made from its built tree${made.skipped.length > 0 ? `; links leading out of the version were not made: ${made.skipped.join(', ')}` : ''}`,
    );
    return dir;
  }

  /** Where a version's files are on this node (every node keeps its own copy). */
  #dirOf(record: { app: string; service: string; version: string; minor: string }): string {
    return join(this.#versionsDir, record.app, record.service, `${record.version}.${record.minor}`);
  }

  /** Runs `work` when the one before it finished (see #turn). */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(work);
    this.#turn = run.catch(() => undefined);
    return run;
  }

  /** Version directories no record names: a crash between the build's rename and the commit. */
  async #removeUnreferencedDirs(kept: Set<string>): Promise<void> {
    const root = this.#versionsDir;
    for (const app of await readdir(root).catch(() => [])) {
      for (const service of await readdir(join(root, app)).catch(() => [])) {
        for (const version of await readdir(join(root, app, service)).catch(() => [])) {
          const dir = resolve(root, app, service, version);
          if (!kept.has(dir)) {
            this.#o.logger.info(`removing ${dir}: a deploy that never finished`);
            await rm(dir, { recursive: true, force: true });
          }
        }
      }
    }
  }

  // ---- The deploy protocol -------------------------------------------------------------

  async begin(raw: unknown): Promise<DeployBegun> {
    this.#forgetOld();
    const parsed = BeginBody.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HangarError(
        'USAGE',
        `POST /api/deploys: ${issue?.path.join('.') || 'body'}: ${issue?.message}; send { app, service, version?, promote, appYaml, configFile, manifest }`,
      );
    }
    const body = parsed.data;
    checkAppName(body.app);
    checkServiceName(body.service);
    if (body.version !== undefined) checkVersionName(body.version);
    const issues = checkManifest(body.manifest, this.#o.fileLimits);
    if (issues.length > 0) {
      throw new HangarError(
        'FILE_LIMITS',
        `the manifest was refused:\n${issues.map((issue) => formatIssue(issue)).join('\n')}`,
        {
          status: 400,
        },
      );
    }
    const manifest = body.manifest as ManifestEntry[];
    const configFile = posix.normalize(body.configFile);
    if (!manifest.some((file) => file.path === configFile)) {
      throw new HangarError(
        'CONFIG_NOT_FOUND',
        `the manifest has no ${configFile}; a service is deployed with its app.yaml (is it in skip_files?)`,
        { status: 400 },
      );
    }
    const missing = await this.#o.blobs.missing(manifest.map((file) => file.sha256));
    const id = randomBytes(12).toString('hex');
    this.#pending.set(id, {
      id,
      app: body.app,
      service: body.service,
      version: body.version,
      promote: body.promote,
      appYaml: body.appYaml,
      configFile,
      manifest,
      missing: new Set(missing),
      uploadedBytes: 0,
      building: false,
      created: Date.now(),
    });
    return { id, missing };
  }

  async putBlob(
    sha256: string,
    body: AsyncIterable<Buffer>,
    declaredBytes: number | undefined,
  ): Promise<void> {
    // Only blobs a pending deploy asked for: the size to hold them to comes from its manifest.
    const wanting = [...this.#pending.values()].filter((d) => d.missing.has(sha256));
    const entry = wanting[0]?.manifest.find((file) => file.sha256 === sha256);
    if (!entry) {
      throw new HangarError(
        'BLOB_NOT_FOUND',
        `no pending deploy asked for blob ${sha256}; start with POST /api/deploys, then upload what it answers as missing`,
      );
    }
    if (declaredBytes !== undefined && declaredBytes !== entry.size) {
      throw new HangarError(
        'BLOB_HASH_MISMATCH',
        `blob ${sha256} is ${entry.size} bytes in the manifest, but ${declaredBytes} bytes were sent`,
      );
    }
    const result = await this.#o.blobs.put(sha256, body, entry.size);
    for (const deploy of wanting) {
      if (deploy.missing.delete(sha256)) deploy.uploadedBytes += result.size;
    }
  }

  build(id: string, emit: (event: BuildEvent) => void, signal: AbortSignal): Promise<void> {
    const deploy = this.#pending.get(id);
    if (!deploy) {
      return Promise.reject(
        new HangarError('VERSION_NOT_FOUND', `no pending deploy ${id}; it finished, failed or expired (1 h)`),
      );
    }
    if (deploy.building) {
      return Promise.reject(new HangarError('USAGE', `deploy ${id} is already building`, { status: 409 }));
    }
    deploy.building = true;
    const both = AbortSignal.any([signal, this.#stopping.signal]);
    const run = this.#buildQueue.then(() => {
      if (both.aborted) throw both.reason;
      return this.#build(deploy, emit, both);
    });
    this.#buildQueue = run.catch(() => undefined);
    return run.finally(() => this.#pending.delete(id));
  }

  async #build(deploy: PendingDeploy, emit: (event: BuildEvent) => void, signal: AbortSignal): Promise<void> {
    const { store, blobs, routes } = this.#o;
    const label = `${deploy.app}/${deploy.service}`;
    const missing = await blobs.missing(deploy.manifest.map((f) => f.sha256));
    if (missing.length > 0) {
      const paths = deploy.manifest.filter((f) => missing.includes(f.sha256)).map((f) => f.path);
      throw new HangarError(
        'BLOB_NOT_FOUND',
        `${paths.length} file(s) were not uploaded (${paths.slice(0, 5).join(', ')}); upload them with PUT /api/blobs/<sha256> first`,
      );
    }
    const stage = join(this.#staging, deploy.id);
    let finalDir: string | undefined;
    try {
      emit({ phase: `copying ${deploy.manifest.length} files` });
      const appDir = join(stage, 'app');
      for (const file of deploy.manifest) {
        const target = join(appDir, ...file.path.split('/'));
        await mkdir(dirname(target), { recursive: true });
        await blobs.copyTo(file.sha256, target, file.mode);
      }
      let config = await loadConfig(join(appDir, deploy.configFile));
      if (config.service !== deploy.service) {
        throw new HangarError(
          'CONFIG_INVALID',
          `${deploy.configFile} names service '${config.service}', but the deploy is for service '${deploy.service}'`,
          { status: 400 },
        );
      }
      const version = checkVersionName(deploy.version ?? config.version ?? generatedVersionName(new Date()));
      const minor = newMinor(Date.now());
      emit({ phase: `runtime ${config.runtime}` });
      const node = await this.#o.nodeRuntimes.resolve(config.runtime);
      emit({ log: `instances run on Node ${node.version} (${node.source})` });
      await buildVersion({
        appDir,
        manifest: join(stage, PRECOMPILED_MANIFEST),
        nodeExecPath: node.execPath,
        nodeFlags: node.flags,
        phase: (name) => emit({ phase: name }),
        log: (line) => emit({ log: line }),
        signal,
      });
      finalDir = join(this.#versionsDir, deploy.app, deploy.service, `${version}.${minor}`);
      await mkdir(dirname(finalDir), { recursive: true });
      await rename(stage, finalDir);
      // Read again where it now lives: a config holds absolute paths (static dirs, modules).
      config = await loadConfig(join(finalDir, 'app', deploy.configFile));
      // Other nodes run what this one built (S16): its files and links go to the blob store.
      const tree = this.#o.shared ? await storeTree(finalDir, blobs) : undefined;
      const record: VersionRecord = {
        app: deploy.app,
        service: deploy.service,
        version,
        minor,
        created: new Date().toISOString(),
        runtime: config.runtime,
        node: node.version,
        appYaml: deploy.appYaml,
        configFile: deploy.configFile,
        manifest: deploy.manifest,
        dir: finalDir,
        ...(tree ? { tree } : {}),
      };
      emit({ phase: 'starting one instance' });
      const runtime = this.#o.runtimeFor(record, config, node);
      try {
        await runtime.proveLoads();
      } catch (err) {
        await runtime.close();
        throw err;
      }
      if (signal.aborted) {
        await runtime.close();
        throw signal.reason;
      }
      await this.#exclusive(async () => {
        await store.commitVersion(record, { promote: deploy.promote });
        const k = key(deploy.app, deploy.service, version);
        const before = this.#runtimes.get(k);
        this.#runtimes.set(k, { runtime, minor, dir: finalDir! });
        routes.set(runtime);
        if (deploy.promote) routes.promote(deploy.app, deploy.service, version);
        if (before) this.#drain(before.runtime, before.dir);
      });
      emit({
        result: 'ok',
        app: deploy.app,
        service: deploy.service,
        version,
        minor,
        promoted: deploy.promote,
        url: this.#o.urlFor(deploy.app, deploy.service, version),
        uploadedBytes: deploy.uploadedBytes,
      });
      this.#o.logger.info(
        `deployed ${label}/${version} (minor ${minor})${deploy.promote ? ', promoted' : ''}; ${deploy.uploadedBytes} bytes uploaded`,
      );
    } catch (err) {
      await rm(stage, { recursive: true, force: true });
      if (finalDir) await rm(finalDir, { recursive: true, force: true });
      this.#o.logger.warn(`deploy of ${label} failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /** A version no longer routed: its requests finish, its instances stop, then its files go. */
  #drain(runtime: ServeRuntime, dir: string | undefined): void {
    const done = runtime
      .close()
      .then(async () => {
        if (dir) await rm(dir, { recursive: true, force: true });
      })
      .catch((err: Error) => this.#o.logger.error(`draining ${runtime.version}: ${err.message}`))
      .finally(() => this.#draining.delete(done));
    this.#draining.add(done);
  }

  #forgetOld(): void {
    const now = Date.now();
    for (const [id, deploy] of this.#pending)
      if (!deploy.building && now - deploy.created > PENDING_TTL_MS) this.#pending.delete(id);
  }

  // ---- Versions ------------------------------------------------------------------------

  async list(query: URLSearchParams): Promise<{ versions: VersionView[] }> {
    const app = query.get('app') ?? undefined;
    const service = query.get('service') ?? undefined;
    const { store } = this.#o;
    const traffic = new Map(
      (await store.listServices(app ? { app } : {})).map((s) => [`${s.app}\0${s.service}`, s]),
    );
    const versions: VersionView[] = (
      await store.listVersions({ ...(app ? { app } : {}), ...(service ? { service } : {}) })
    ).map((r) => ({
      app: r.app,
      service: r.service,
      version: r.version,
      minor: r.minor,
      created: r.created,
      runtime: r.runtime,
      node: r.node,
      traffic: traffic.get(`${r.app}\0${r.service}`)?.allocations[r.version] ?? 0,
      instances: this.#runtimes.get(key(r.app, r.service, r.version))?.runtime.instanceCount ?? 0,
      url: this.#o.urlFor(r.app, r.service, r.version),
    }));
    return { versions };
  }

  /** `GET /api/versions/<app>/<service>/<version>`: one version with its app.yaml and manifest. */
  async get(app: string, service: string, version: string): Promise<{ version: VersionDetail }> {
    const record = await this.#o.store.getVersion(app, service, version);
    if (!record) {
      throw new HangarError(
        'VERSION_NOT_FOUND',
        `no version '${version}' of service '${service}' in app '${app}'`,
      );
    }
    const view = (await this.list(new URLSearchParams({ app, service }))).versions.find(
      (v) => v.version === version,
    );
    return {
      version: {
        ...view!,
        appYaml: record.appYaml,
        configFile: record.configFile,
        manifest: record.manifest.map(({ path, sha256, size, mode }) => ({ path, sha256, size, mode })),
      },
    };
  }

  /** `GET /api/blobs/<sha256>`: a deployed file's bytes. */
  readBlob(sha256: string): Promise<Buffer> {
    return this.#o.blobs.read(sha256);
  }

  /** `GET /api/routing`: the stored splits and dispatch rules (what a restart routes by). */
  async routing(query: URLSearchParams): Promise<RoutingView> {
    const app = query.get('app') ?? undefined;
    const { store } = this.#o;
    const splits = (await store.listServices(app ? { app } : {})).map((s) => ({
      app: s.app,
      service: s.service,
      allocations: { ...s.allocations },
      shardBy: s.shardBy,
    }));
    const apps = app ? [app] : (await store.listApps()).map((a) => a.app);
    const dispatch = [];
    for (const a of apps) dispatch.push({ app: a, rules: await store.dispatch(a) });
    return { splits, dispatch };
  }

  async promote(raw: unknown): Promise<unknown> {
    const parsed = PromoteBody.safeParse(raw);
    if (!parsed.success)
      throw new HangarError('USAGE', 'POST /api/versions/promote: send { app, service, version }');
    const { service, version } = parsed.data;
    const app = parsed.data.app ?? (await this.#onlyApp());
    const before = await this.#exclusive(async () => {
      if (!this.#runtimes.has(key(app, service, version))) {
        throw new HangarError(
          'VERSION_NOT_FOUND',
          `no version '${version}' of service '${service}' in app '${app}'`,
        );
      }
      const previous = await this.#o.store.promote(app, service, version);
      this.#o.routes.promote(app, service, version);
      return previous;
    });
    const previous = Object.entries(before.allocations).find(([, w]) => w > 0)?.[0];
    return { promoted: { app, service, version }, previous: previous ?? null };
  }

  /**
   * `hangar versions split`: the service's traffic shared by weight between versions (S11),
   * stored first (so a restart brings it back), then routed; requests in flight keep their
   * version, and a version that loses its share keeps running (it stays addressable).
   */
  async split(raw: unknown): Promise<unknown> {
    const parsed = SplitBody.safeParse(raw);
    if (!parsed.success)
      throw new HangarError(
        'USAGE',
        'POST /api/versions/split: send { app?, service, allocations: { VERSION: weight, ... }, shardBy: cookie|ip|random }',
      );
    const { service, allocations, shardBy } = parsed.data;
    const app = parsed.data.app ?? (await this.#onlyApp());
    return this.#exclusive(async () => {
      for (const version of Object.keys(allocations)) {
        if (!this.#runtimes.has(key(app, service, version))) {
          throw new HangarError(
            'VERSION_NOT_FOUND',
            `no version '${version}' of service '${service}' in app '${app}'`,
          );
        }
      }
      const before = await this.#o.store.split(app, service, allocations, shardBy);
      const after = (await this.#o.store.traffic(app, service))!;
      this.#o.routes.split(app, service, after.allocations, after.shardBy);
      return { split: after, previous: before };
    });
  }

  /**
   * `hangar deploy dispatch.yaml`: the app's dispatch rules (S11), checked again here (the
   * CLI's parse is the user's convenience, not a guarantee), their services known, then stored
   * and routed at once.
   */
  async dispatch(raw: unknown): Promise<unknown> {
    const parsed = DispatchBody.safeParse(raw);
    if (!parsed.success)
      throw new HangarError(
        'USAGE',
        'POST /api/dispatch: send { app?, rules: [{ url, service }, ...] } (at most 20)',
      );
    const app = parsed.data.app ?? (await this.#onlyApp());
    const rules = dispatchRules(parsed.data.rules);
    const services = new Set((await this.#o.store.listServices({ app })).map((s) => s.service));
    const unknown = rules.filter((rule) => !services.has(rule.service));
    if (unknown.length > 0) {
      throw new HangarError(
        'VERSION_NOT_FOUND',
        `dispatch.yaml names ${unknown.map((r) => `service '${r.service}' (url "${r.url}")`).join(', ')}, which app ${app} does not have; deploy it first`,
      );
    }
    await this.#exclusive(async () => {
      await this.#o.store.setDispatch(app, parsed.data.rules);
      this.#o.routes.setDispatch(app, rules);
    });
    return { dispatch: { app, rules: parsed.data.rules } };
  }

  async remove(app: string, service: string, version: string): Promise<unknown> {
    await this.#exclusive(async () => {
      const record = await this.#o.store.deleteVersion(app, service, version);
      const k = key(app, service, version);
      const running = this.#runtimes.get(k);
      this.#runtimes.delete(k);
      this.#o.routes.remove(app, service, version);
      if (running) this.#drain(running.runtime, running.dir);
      else await rm(this.#dirOf(record), { recursive: true, force: true });
    });
    return { deleted: { app, service, version } };
  }

  async #onlyApp(): Promise<string> {
    const apps = await this.#o.store.listApps();
    if (apps.length === 1 && apps[0]) return apps[0].app;
    throw new HangarError(
      'USAGE',
      apps.length === 0
        ? 'no app is deployed'
        : `several apps are deployed (${apps.map((a) => a.app).join(', ')}); name one`,
    );
  }

  /** Every version's instances stopped (serve's shutdown), in-flight requests first. */
  async close(): Promise<void> {
    this.#stopping.abort(
      new HangarError('BUILD_FAILED', 'the platform is stopping; deploy again once it runs'),
    );
    await this.#buildQueue;
    if (this.#watch) clearTimeout(this.#watch);
    this.#watch = undefined;
    await this.#turn;
    await Promise.all([...this.#runtimes.values()].map((running) => running.runtime.close()));
    await Promise.all(this.#draining);
  }

  /** Running versions (admin views). */
  get runtimes(): ServeRuntime[] {
    return [...this.#runtimes.values()].map((running) => running.runtime);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** app.yaml of a staged or deployed version; a config error is the deploy's error. */
async function loadConfig(file: string): Promise<AppConfig> {
  try {
    return await loadAppConfig(file);
  } catch (err) {
    if (isHangarError(err)) throw err;
    throw new HangarError('CONFIG_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

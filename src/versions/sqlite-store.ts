/**
 * Apps, services, versions and traffic in SQLite (module `versions` in `<data-dir>/hangar.db`).
 * A service's traffic lives on its row (allocations as JSON, MAJOR → weight), so a version and
 * the promote that points at it are written in one transaction. `versions_generation` is one
 * counter bumped by every write, so a process can notice another one's writes with one read.
 */
import { type Db, migrate } from '../shared/database.js';
import { HangarError } from '../shared/errors.js';
import { checkAppName } from './names.js';
import {
  checkRecord,
  DEFAULT_SHARD_BY,
  manifestEntry,
  replacesItself,
  type ServiceRow,
  toRecord,
  toTraffic,
  VERSION_COLUMNS,
  type VersionRow,
  versionNotFound,
  versionServing,
} from './store-rules.js';
import { checkAllocations, checkShardBy } from './traffic.js';
import type {
  AppRecord,
  CommitResult,
  DispatchEntry,
  ShardBy,
  TrafficSplit,
  VersionRecord,
  VersionStore,
} from './types.js';

const migrations = [
  `CREATE TABLE apps (
    app TEXT PRIMARY KEY,
    created TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE services (
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    created TEXT NOT NULL,
    allocations TEXT NOT NULL DEFAULT '{}',
    shard_by TEXT NOT NULL DEFAULT 'ip',
    PRIMARY KEY (app, service)
  ) WITHOUT ROWID;
  CREATE TABLE versions (
    app TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    minor TEXT NOT NULL,
    created TEXT NOT NULL,
    runtime TEXT NOT NULL,
    node TEXT NOT NULL,
    app_yaml TEXT NOT NULL,
    config_file TEXT NOT NULL,
    manifest TEXT NOT NULL,
    dir TEXT NOT NULL,
    PRIMARY KEY (app, service, version)
  ) WITHOUT ROWID;
  CREATE TABLE versions_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
  );
  INSERT INTO versions_generation (id, generation) VALUES (1, 0);`,
  // dispatch.yaml per app (issue 19): its rules as JSON, as deployed.
  `CREATE TABLE dispatch (
    app TEXT PRIMARY KEY,
    rules TEXT NOT NULL
  ) WITHOUT ROWID;`,
  // The built tree's blob (issue 22): what another node materialises instead of building.
  'ALTER TABLE versions ADD COLUMN tree TEXT',
];

/** The versions tables in SQLite; statements prepared once. */
export class SqliteVersionStore implements VersionStore {
  readonly #db: Db;
  readonly #apps;
  readonly #app;
  readonly #services;
  readonly #service;
  readonly #versions;
  readonly #version;
  readonly #generation;
  readonly #insertApp;
  readonly #insertService;
  readonly #upsertVersion;
  readonly #setAllocations;
  readonly #setSplit;
  readonly #putDispatch;
  readonly #deleteDispatch;
  readonly #getDispatch;
  readonly #deleteVersion;
  readonly #countVersions;
  readonly #deleteService;
  readonly #countServices;
  readonly #deleteApp;
  readonly #bump;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'versions', migrations);
    this.#apps = db.prepare('SELECT app, created FROM apps ORDER BY app');
    this.#app = db.prepare('SELECT app FROM apps WHERE app = ?');
    this.#services = db.prepare(
      'SELECT app, service, allocations, shard_by FROM services WHERE (@app IS NULL OR app = @app) ORDER BY app, service',
    );
    this.#service = db.prepare(
      'SELECT app, service, allocations, shard_by FROM services WHERE app = ? AND service = ?',
    );
    this.#versions = db.prepare(
      `SELECT ${VERSION_COLUMNS} FROM versions
       WHERE (@app IS NULL OR app = @app) AND (@service IS NULL OR service = @service)
       ORDER BY app, service, created, version`,
    );
    this.#version = db.prepare(
      `SELECT ${VERSION_COLUMNS} FROM versions WHERE app = ? AND service = ? AND version = ?`,
    );
    this.#generation = db.prepare('SELECT generation FROM versions_generation WHERE id = 1').pluck();
    this.#insertApp = db.prepare(
      'INSERT INTO apps (app, created) VALUES (?, ?) ON CONFLICT (app) DO NOTHING',
    );
    this.#insertService = db.prepare(
      `INSERT INTO services (app, service, created, allocations, shard_by) VALUES (?, ?, ?, '{}', ?)
       ON CONFLICT (app, service) DO NOTHING`,
    );
    this.#upsertVersion = db.prepare(
      `INSERT INTO versions (${VERSION_COLUMNS})
       VALUES (@app, @service, @version, @minor, @created, @runtime, @node, @app_yaml, @config_file, @manifest, @dir, @tree)
       ON CONFLICT (app, service, version) DO UPDATE SET
       minor = excluded.minor, created = excluded.created, runtime = excluded.runtime, node = excluded.node,
       app_yaml = excluded.app_yaml, config_file = excluded.config_file, manifest = excluded.manifest,
       dir = excluded.dir, tree = excluded.tree`,
    );
    this.#setAllocations = db.prepare('UPDATE services SET allocations = ? WHERE app = ? AND service = ?');
    this.#putDispatch = db.prepare(
      'INSERT INTO dispatch (app, rules) VALUES (?, ?) ON CONFLICT (app) DO UPDATE SET rules = excluded.rules',
    );
    this.#deleteDispatch = db.prepare('DELETE FROM dispatch WHERE app = ?');
    this.#getDispatch = db.prepare('SELECT rules FROM dispatch WHERE app = ?').pluck();
    this.#setSplit = db.prepare(
      'UPDATE services SET allocations = ?, shard_by = ? WHERE app = ? AND service = ?',
    );
    this.#deleteVersion = db.prepare('DELETE FROM versions WHERE app = ? AND service = ? AND version = ?');
    this.#countVersions = db.prepare('SELECT COUNT(*) FROM versions WHERE app = ? AND service = ?').pluck();
    this.#deleteService = db.prepare('DELETE FROM services WHERE app = ? AND service = ?');
    this.#countServices = db.prepare('SELECT COUNT(*) FROM services WHERE app = ?').pluck();
    this.#deleteApp = db.prepare('DELETE FROM apps WHERE app = ?');
    this.#bump = db.prepare('UPDATE versions_generation SET generation = generation + 1 WHERE id = 1');
  }

  async listApps(): Promise<AppRecord[]> {
    return this.#apps.all() as AppRecord[];
  }

  async listServices(filter: { app?: string } = {}): Promise<TrafficSplit[]> {
    return (this.#services.all({ app: filter.app ?? null }) as ServiceRow[]).map(toTraffic);
  }

  async listVersions(filter: { app?: string; service?: string } = {}): Promise<VersionRecord[]> {
    const rows = this.#versions.all({ app: filter.app ?? null, service: filter.service ?? null });
    return (rows as VersionRow[]).map(toRecord);
  }

  async getVersion(app: string, service: string, version: string): Promise<VersionRecord | undefined> {
    return this.#getVersion(app, service, version);
  }

  #getVersion(app: string, service: string, version: string): VersionRecord | undefined {
    const row = this.#version.get(app, service, version) as VersionRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  async traffic(app: string, service: string): Promise<TrafficSplit | undefined> {
    return this.#traffic(app, service);
  }

  #traffic(app: string, service: string): TrafficSplit | undefined {
    const row = this.#service.get(app, service) as ServiceRow | undefined;
    return row === undefined ? undefined : toTraffic(row);
  }

  async generation(): Promise<number> {
    return this.#generation.get() as number;
  }

  async commitVersion(record: VersionRecord, options: { promote: boolean }): Promise<CommitResult> {
    checkRecord(record);
    const { app, service, version } = record;
    // IMMEDIATE takes the write lock before the first read: a deferred transaction that read
    // and then wrote would fail at once (SQLITE_BUSY, no waiting) when another connection
    // wrote in between, instead of waiting its turn.
    return this.#db
      .transaction((): CommitResult => {
        const replaced = this.#getVersion(app, service, version);
        if (replaced !== undefined) replacesItself(replaced, record);
        const previousTraffic = this.#traffic(app, service);
        this.#insertApp.run(app, record.created);
        this.#insertService.run(app, service, record.created, DEFAULT_SHARD_BY);
        this.#upsertVersion.run({
          app,
          service,
          version,
          minor: record.minor,
          created: record.created,
          runtime: record.runtime,
          node: record.node,
          app_yaml: record.appYaml,
          config_file: record.configFile,
          manifest: JSON.stringify(record.manifest.map(manifestEntry)),
          dir: record.dir,
          tree: record.tree ?? null,
        });
        if (options.promote) this.#setAllocations.run(JSON.stringify({ [version]: 1 }), app, service);
        this.#bump.run();
        return { replaced, previousTraffic };
      })
      .immediate();
  }

  async promote(app: string, service: string, version: string): Promise<TrafficSplit> {
    return this.#db
      .transaction((): TrafficSplit => {
        const previous = this.#traffic(app, service);
        if (previous === undefined || this.#version.get(app, service, version) === undefined) {
          throw this.#notFound(app, service, version);
        }
        this.#setAllocations.run(JSON.stringify({ [version]: 1 }), app, service);
        this.#bump.run();
        return previous;
      })
      .immediate();
  }

  async split(
    app: string,
    service: string,
    allocations: Readonly<Record<string, number>>,
    shardBy: ShardBy,
  ): Promise<TrafficSplit> {
    const checked = checkAllocations(allocations);
    const by = checkShardBy(shardBy);
    return this.#db
      .transaction((): TrafficSplit => {
        const previous = this.#traffic(app, service);
        for (const version of Object.keys(checked)) {
          if (previous === undefined || this.#version.get(app, service, version) === undefined) {
            throw this.#notFound(app, service, version);
          }
        }
        // Weights of 0 are not kept: a version with none simply has no traffic.
        const kept = Object.fromEntries(Object.entries(checked).filter(([, weight]) => weight > 0));
        this.#setSplit.run(JSON.stringify(kept), by, app, service);
        this.#bump.run();
        return previous!;
      })
      .immediate();
  }

  async setDispatch(app: string, rules: readonly DispatchEntry[]): Promise<void> {
    checkAppName(app);
    this.#db
      .transaction(() => {
        if (this.#app.get(app) === undefined) {
          throw new HangarError(
            'VERSION_NOT_FOUND',
            `no app ${app} on this platform; deploy its services first`,
          );
        }
        if (rules.length === 0) this.#deleteDispatch.run(app);
        else this.#putDispatch.run(app, JSON.stringify(rules.map(({ url, service }) => ({ url, service }))));
        this.#bump.run();
      })
      .immediate();
  }

  async dispatch(app: string): Promise<DispatchEntry[]> {
    const rules = this.#getDispatch.get(app) as string | undefined;
    return rules === undefined ? [] : (JSON.parse(rules) as DispatchEntry[]);
  }

  async deleteVersion(app: string, service: string, version: string): Promise<VersionRecord> {
    return this.#db
      .transaction((): VersionRecord => {
        const record = this.#getVersion(app, service, version);
        const traffic = this.#traffic(app, service);
        if (record === undefined || traffic === undefined) throw this.#notFound(app, service, version);
        const share = traffic.allocations[version] ?? 0;
        if (share > 0) throw versionServing(app, service, version, share);
        this.#deleteVersion.run(app, service, version);
        if (version in traffic.allocations) {
          // A weight of 0 left by a split: drop it, so the allocations never name a deleted version.
          const { [version]: _dropped, ...rest } = traffic.allocations;
          this.#setAllocations.run(JSON.stringify(rest), app, service);
        }
        // A service (and an app) exists while it has versions, so listings show what is deployed.
        if (this.#countVersions.get(app, service) === 0) this.#deleteService.run(app, service);
        if (this.#countServices.get(app) === 0) {
          this.#deleteApp.run(app);
          this.#deleteDispatch.run(app);
        }
        this.#bump.run();
        return record;
      })
      .immediate();
  }

  /** HANGAR_E_VERSION_NOT_FOUND naming the first of app, service, version that is unknown. */
  #notFound(app: string, service: string, version: string): HangarError {
    return versionNotFound(app, service, version, {
      app: this.#app.get(app) !== undefined,
      service: this.#service.get(app, service) !== undefined,
    });
  }
}

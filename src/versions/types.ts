/**
 * The state seams of `hangar serve` (docs/serve.md "State", SPEC S11): the versions with their
 * traffic, and the deployed files by content hash. SQLite and files under the data dir
 * (sqlite-store.ts, blob-store.ts) and, under `serve --database` (S16), PostgreSQL
 * (pg-store.ts, pg-blob-store.ts) implement them, checked by the same conformance suites
 * (store.test.ts).
 */

/** One file of a version, as `deploy` sends it in the manifest. */
export interface ManifestEntry {
  /** Relative to the service's directory, `/`-separated. */
  path: string;
  /** SHA-256 of the contents, 64 lowercase hex digits: the file's name in the BlobStore. */
  sha256: string;
  /** Bytes. */
  size: number;
  /** Unix permission bits (e.g. 0o644, 0o755 for an executable script). */
  mode: number;
}

/**
 * One deployed version of a service: everything the platform needs to start its instances
 * again after a restart without anything being uploaded again (S11).
 */
export interface VersionRecord {
  app: string;
  service: string;
  /** MAJOR: `--version`, `version:` of app.yaml, or generated (`YYYYMMDDtHHMMSS`). */
  version: string;
  /** MINOR, a decimal string (minor.ts); new on every deploy, also of an existing MAJOR. */
  minor: string;
  /** When the version was committed, ISO 8601. */
  created: string;
  /** `runtime:` of app.yaml, e.g. 'nodejs20'. */
  runtime: string;
  /**
   * The exact Node.js version the build ran under (e.g. '20.11.1'): native addons that
   * `npm ci` compiled only load under that Node's ABI, so a restart must run the same one.
   */
  node: string;
  /** The text of the service's app.yaml, as deployed. */
  appYaml: string;
  /** The app.yaml's file name relative to `dir` (a service may use e.g. `api.yaml`). */
  configFile: string;
  /** The deployed files; the build's own output (node_modules, compile cache) is not listed. */
  manifest: readonly ManifestEntry[];
  /** Where the version's files live: `<data-dir>/versions/<app>/<service>/<version>.<minor>`. */
  dir: string;
  /**
   * The SHA-256 of the version's built tree in the BlobStore (tree.ts): every file and link the
   * build left in the version's directory, so another node (S16) runs the very same build
   * without building again. Undefined for versions deployed before it was recorded.
   */
  tree?: string;
}

/** How requests are assigned to the versions of a split (S11 `versions split --by`). */
export type ShardBy = 'ip' | 'cookie' | 'random';

/**
 * Which versions of a service get its default-host traffic. A promote is `{ [version]: 1 }`;
 * issue 19's splits put several versions with weights (two decimals, summing to 1) in the same
 * map. Keys are MAJORs, so a re-deploy of a MAJOR (a new MINOR) keeps that MAJOR's traffic.
 */
export interface TrafficSplit {
  app: string;
  service: string;
  /** MAJOR → share of the traffic, 0..1. Empty while no version of the service was promoted. */
  allocations: Readonly<Record<string, number>>;
  shardBy: ShardBy;
}

/** One dispatch.yaml rule as deployed (S11): its `url` pattern and the service it names. */
export interface DispatchEntry {
  url: string;
  service: string;
}

/** An app on the platform: it exists while it has a version. */
export interface AppRecord {
  app: string;
  /** When its first version was committed, ISO 8601. */
  created: string;
}

/** What `commitVersion` changed, so the caller knows which instances to drain. */
export interface CommitResult {
  /** The version of the same MAJOR that this one replaced (drain it, then remove its `dir`). */
  replaced: VersionRecord | undefined;
  /** The service's traffic before the commit; undefined for a new service. */
  previousTraffic: TrafficSplit | undefined;
}

/**
 * Apps, services, versions and traffic. Every write is one transaction: a reader (in this
 * process or another) sees a version with its traffic, or neither.
 */
export interface VersionStore {
  /** Apps that have at least one version, by name. */
  listApps(): Promise<AppRecord[]>;
  /** The traffic of every service (of one app), by app, then service. */
  listServices(filter?: { app?: string }): Promise<TrafficSplit[]>;
  /** Versions, optionally of one app and service, by app, service, then created, then version. */
  listVersions(filter?: { app?: string; service?: string }): Promise<VersionRecord[]>;
  getVersion(app: string, service: string, version: string): Promise<VersionRecord | undefined>;
  /**
   * Writes a version that was built and load-checked: creates its app and service when new,
   * replaces a stored version of the same MAJOR, and with `promote` gives it all of the
   * service's traffic, all in one transaction. Throws HANGAR_E_NAME_INVALID for a name
   * app.yaml would refuse (nothing is written).
   */
  commitVersion(record: VersionRecord, options: { promote: boolean }): Promise<CommitResult>;
  /**
   * Gives `version` all of its service's traffic; returns the traffic before. Throws
   * HANGAR_E_VERSION_NOT_FOUND, naming what is unknown, and changes nothing.
   */
  promote(app: string, service: string, version: string): Promise<TrafficSplit>;
  /**
   * Splits the service's traffic between its versions (`allocations` checked by
   * traffic.ts: weights with two decimals summing to 1), picked by `shardBy`; returns the
   * traffic before. Throws HANGAR_E_USAGE for weights that are no split, and
   * HANGAR_E_VERSION_NOT_FOUND for a version that is unknown; changes nothing then.
   */
  split(
    app: string,
    service: string,
    allocations: Readonly<Record<string, number>>,
    shardBy: ShardBy,
  ): Promise<TrafficSplit>;
  /**
   * The app's dispatch.yaml rules, replacing what it had (none: removes them). Throws
   * HANGAR_E_VERSION_NOT_FOUND for an app that is not on the platform.
   */
  setDispatch(app: string, rules: readonly DispatchEntry[]): Promise<void>;
  /** The app's dispatch rules, in their order; none when it has no dispatch.yaml. */
  dispatch(app: string): Promise<DispatchEntry[]>;
  /** The service's traffic; undefined when the service is unknown. */
  traffic(app: string, service: string): Promise<TrafficSplit | undefined>;
  /**
   * Removes a version and returns it (drain its instances, then remove its `dir`); a service
   * left without versions goes too, and an app left without services. Refuses with
   * HANGAR_E_VERSION_SERVING while the version has traffic, HANGAR_E_VERSION_NOT_FOUND when it
   * is unknown.
   */
  deleteVersion(app: string, service: string, version: string): Promise<VersionRecord>;
  /**
   * A number that grows with every write, by any store object on the same storage (another
   * process too, S16): a serving process polls it and reloads its routes when it changed.
   */
  generation(): Promise<number>;
}

/** What `put` did. */
export interface BlobPutResult {
  /** False when the store already held the blob (a re-upload changes nothing). */
  created: boolean;
  /** Bytes received. */
  size: number;
}

/**
 * Deployed files by SHA-256 (content-addressed, S11): a blob is there whole or not at all, and
 * its bytes always hash to its name. Every method refuses a name that is not 64 lowercase hex
 * digits with HANGAR_E_BLOB_HASH_INVALID.
 */
export interface BlobStore {
  has(sha256: string): Promise<boolean>;
  /** The hashes of `hashes` the store does not hold, each once, in the order given. */
  missing(hashes: readonly string[]): Promise<string[]>;
  /**
   * Stores `body` as blob `sha256`. Refuses with HANGAR_E_BLOB_HASH_MISMATCH (keeping nothing)
   * bytes that do not hash to `sha256` or are not exactly `size` bytes; it stops reading (and
   * destroys a stream) as soon as more than `size` bytes came, so a lying client cannot fill the
   * disk. Concurrent puts of the same blob all succeed.
   */
  put(sha256: string, body: Uint8Array | AsyncIterable<Uint8Array>, size: number): Promise<BlobPutResult>;
  /** The blob's bytes; HANGAR_E_BLOB_NOT_FOUND when it is not held. */
  read(sha256: string): Promise<Buffer>;
  /**
   * Writes a copy of the blob (never a link: an instance that writes into its files must not
   * change the blob or another version's file) to `destPath` with permission bits `mode`,
   * creating its directories; HANGAR_E_BLOB_NOT_FOUND when it is not held.
   */
  copyTo(sha256: string, destPath: string, mode: number): Promise<void>;
}

/**
 * What every VersionStore refuses and how it says so, and how its rows become records, whatever
 * database it keeps versions in (sqlite-store.ts, pg-store.ts): the conformance suite
 * (store.test.ts) holds both to it.
 */
import { HangarError } from '../shared/errors.js';
import { isMinor } from './minor.js';
import { checkAppName, checkServiceName, checkVersionName } from './names.js';
import type { ManifestEntry, ShardBy, TrafficSplit, VersionRecord } from './types.js';

/**
 * shardBy of a service that never had a split: gcloud's default for `--split-by`. It does not
 * matter while one version has all the traffic.
 */
export const DEFAULT_SHARD_BY: ShardBy = 'ip';

/** Refuses a record whose names or MINOR could not be addressed or would break a path. */
export function checkRecord(record: VersionRecord): void {
  checkAppName(record.app);
  checkServiceName(record.service);
  checkVersionName(record.version);
  if (!isMinor(record.minor)) {
    throw new HangarError('NAME_INVALID', `'${record.minor}' is not a MINOR: it must be a decimal integer`);
  }
  if (record.tree !== undefined && !/^[0-9a-f]{64}$/.test(record.tree)) {
    throw new HangarError('NAME_INVALID', `'${record.tree}' is not the SHA-256 of a built tree`);
  }
}

/**
 * Refuses a re-deploy that reuses the stored MINOR or directory: the caller drains the replaced
 * version and removes its dir, which would remove the version just committed.
 */
export function replacesItself(replaced: VersionRecord, record: VersionRecord): void {
  if (replaced.minor === record.minor || replaced.dir === record.dir) {
    throw new Error(
      `version ${record.version} of ${record.app}/${record.service} is already stored with MINOR ${replaced.minor} in ${replaced.dir}; a re-deploy needs a new MINOR and directory`,
    );
  }
}

/** Only the manifest's own fields are stored, whatever else the caller's objects carry. */
export function manifestEntry(entry: ManifestEntry): ManifestEntry {
  return { path: entry.path, sha256: entry.sha256, size: entry.size, mode: entry.mode };
}

/** HANGAR_E_VERSION_NOT_FOUND naming the first of app, service, version that is unknown. */
export function versionNotFound(
  app: string,
  service: string,
  version: string,
  known: { app: boolean; service: boolean },
): HangarError {
  const what = !known.app
    ? `no app ${app} on this platform`
    : !known.service
      ? `app ${app} has no service ${service}`
      : `service ${service} of app ${app} has no version ${version}`;
  return new HangarError('VERSION_NOT_FOUND', `${what}; \`hangar versions list\` shows what is deployed`);
}

/** HANGAR_E_VERSION_SERVING: a version with traffic cannot be deleted. */
export function versionServing(app: string, service: string, version: string, share: number): HangarError {
  return new HangarError(
    'VERSION_SERVING',
    `version ${version} of service ${service} in app ${app} receives ${percent(share)} of the service's traffic; promote another version of ${service} first, then delete ${version}`,
  );
}

function percent(share: number): string {
  return `${Math.round(share * 10000) / 100}%`;
}

/** The `versions` table's columns, in the order both stores select and insert them. */
export const VERSION_COLUMNS =
  'app, service, version, minor, created, runtime, node, app_yaml, config_file, manifest, dir, tree';

/** A `versions` row: JSON columns as text (SQLite) or already parsed (PostgreSQL's JSONB). */
export interface VersionRow {
  app: string;
  service: string;
  version: string;
  minor: string;
  created: string;
  runtime: string;
  node: string;
  app_yaml: string;
  config_file: string;
  manifest: string | ManifestEntry[];
  dir: string;
  tree: string | null;
}

/** A `services` row, its allocations as text or parsed, as above. */
export interface ServiceRow {
  app: string;
  service: string;
  allocations: string | Record<string, number>;
  shard_by: string;
}

const parsed = <T>(value: string | T): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

export function toRecord(row: VersionRow): VersionRecord {
  return {
    app: row.app,
    service: row.service,
    version: row.version,
    minor: row.minor,
    created: row.created,
    runtime: row.runtime,
    node: row.node,
    appYaml: row.app_yaml,
    configFile: row.config_file,
    manifest: parsed<ManifestEntry[]>(row.manifest),
    dir: row.dir,
    ...(row.tree ? { tree: row.tree } : {}),
  };
}

export function toTraffic(row: ServiceRow): TrafficSplit {
  return {
    app: row.app,
    service: row.service,
    allocations: parsed<Record<string, number>>(row.allocations),
    shardBy: row.shard_by as ShardBy,
  };
}

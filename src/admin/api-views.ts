/**
 * JSON shapes of the admin API that the console reads too. Types only and no imports, so the
 * console (bundled for the browser, typechecked without Node's types) imports them from here
 * instead of keeping copies that could drift from what the API sends.
 */

/** One instance as `GET /api/instances` lists it. */
export interface InstanceView {
  id: string;
  app: string;
  service: string;
  version: string;
  state: string;
  pid: number | undefined;
  busySlots: number;
  slots: number;
  requestsServed: number;
  started: string;
  /** Milliseconds from spawn to ready (module loaded, listening); null while starting. */
  readyMs: number | null;
  /** Resident memory in bytes at the last heartbeat. */
  memory: number;
  memoryLimit: number;
}

/** One version as `GET /api/versions` lists it (`hangar versions list`). */
export interface VersionView {
  app: string;
  service: string;
  version: string;
  minor: string;
  created: string;
  runtime: string;
  /** The exact Node its instances run on, e.g. `v24.11.1`. */
  node: string;
  /** Share of the service's default-host traffic, 0..1. */
  traffic: number;
  instances: number;
  /** Its own host's URL. */
  url: string;
}

/**
 * `GET /api/routing`: what routes each app's default-host traffic, for the console: every
 * service's split (a promote is one version at 1) and every app's dispatch rules, in order.
 */
export interface RoutingView {
  splits: Array<{ app: string; service: string; allocations: Record<string, number>; shardBy: string }>;
  dispatch: Array<{ app: string; rules: Array<{ url: string; service: string }> }>;
}

/**
 * The warm spares in `GET /api/instances` (`warmSpares`): processes started ahead of need that
 * wait for an app version (docs/scaling.md "Warm spares"), and what they saved.
 */
export interface WarmSparesView {
  /** Spares kept (`scheduler.warm_spares`); 0: none. */
  kept: number;
  /** Instance starts that took a spare, and those that spawned a process, since the platform started. */
  hits: number;
  misses: number;
  /** How long the last loading request waited for its instance, ms; null before the first. */
  lastLoadingWaitMs: number | null;
  spares: Array<{
    pid: number | undefined;
    started: string;
    /** Hangar's modules loaded; it waits for its app. */
    ready: boolean;
    /** Resident memory in bytes. */
    memory: number;
  }>;
}

/**
 * `GET /api/versions/<app>/<service>/<version>`: one version with what it was deployed as (its
 * app.yaml and the manifest of its files), for `hangar export kubernetes`.
 */
export interface VersionDetail extends VersionView {
  /** The text of the service's app.yaml, as deployed. */
  appYaml: string;
  /** Its file name among the version's files (e.g. `app.yaml`, `api.yaml`). */
  configFile: string;
  /** The deployed files; `GET /api/blobs/<sha256>` answers with each one's bytes. */
  manifest: Array<{ path: string; sha256: string; size: number; mode: number }>;
}

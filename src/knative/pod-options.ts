/**
 * What a Knative pod of a version is told (docs/kubernetes.md "The pod"): everything comes
 * from its container's environment, which `hangar export kubernetes` writes into the Knative
 * Service. Read by one pure function, so the rules are table-tested without a process.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HangarError } from '../shared/errors.js';

/** The environment variables a pod reads, by what they are for. */
export const podEnv = {
  /** Knative's own: the port the container must answer HTTP on. */
  port: 'PORT',
  /** Where to listen; 0.0.0.0 in a pod, 127.0.0.1 in tests. */
  host: 'HANGAR_HOST',
  /** The version's files (the image's copy of what was deployed). */
  appDir: 'HANGAR_APP_DIR',
  /** Its app.yaml, relative to the app dir (a service may use e.g. `api.yaml`). */
  appConfig: 'HANGAR_APP_CONFIG',
  /** The platform config file (S15), mounted from the `hangar-config` ConfigMap. */
  config: 'HANGAR_CONFIG',
  /** The loader hooks' compile cache: TypeScript compiled on first load, per pod. */
  cacheDir: 'HANGAR_CACHE_DIR',
  /** The app id (APPLICATION_ID is `s~` and this). */
  application: 'HANGAR_APPLICATION',
  /** The version's MAJOR and MINOR (CURRENT_VERSION_ID is `MAJOR.MINOR`). */
  version: 'HANGAR_VERSION',
  minor: 'HANGAR_MINOR',
  /** `host:port` of the socket service (S12), or `none` to run without one. */
  sockets: 'HANGAR_SOCKETS',
  /** The app's token for the socket service (from a Secret). */
  socketsToken: 'HANGAR_SOCKETS_TOKEN',
  /**
   * The platform's PostgreSQL database (`postgres://...`, from the Secret `--database-secret`
   * names): request logs and metering go there. Unset: log lines on stdout, no metering.
   */
  database: 'HANGAR_DATABASE_URL',
} as const;

export interface PodOptions {
  host: string;
  port: number;
  appDir: string;
  appConfig: string;
  config: string | undefined;
  cacheDir: string;
  application: string;
  version: string;
  minor: string;
  /** Undefined: `HANGAR_SOCKETS=none`, the app's sockets are not routed (S12 does not apply). */
  sockets: { host: string; port: number; token: string } | undefined;
  /** The platform database's URL; undefined: the request log is the pod's stdout, nothing is metered. */
  databaseUrl: string | undefined;
}

/**
 * The pod's options from its environment. Throws HangarError USAGE naming the variable that is
 * missing or wrong: a pod that cannot start says why in its log, and Knative shows it.
 *
 * @example
 * podOptions({ PORT: '8080', HANGAR_APPLICATION: 'shop', HANGAR_VERSION: 'v1', HANGAR_MINOR: '1', HANGAR_SOCKETS: 'none' })
 * // { host: '0.0.0.0', port: 8080, appDir: '/app', appConfig: 'app.yaml', sockets: undefined, ... }
 */
export function podOptions(env: Readonly<Record<string, string | undefined>>): PodOptions {
  const text = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const required = (name: string, what: string) =>
    text(name) ??
    (() => {
      throw new HangarError(
        'USAGE',
        `${name} is not set; it must name ${what} (hangar export kubernetes writes it into the Knative Service)`,
      );
    })();
  const portText = text(podEnv.port) ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new HangarError('USAGE', `${podEnv.port} must be a port number from 0 to 65535, not '${portText}'`);
  }
  const sockets = required(podEnv.sockets, "the socket service's host:port, or none");
  return {
    host: text(podEnv.host) ?? '0.0.0.0',
    port,
    appDir: text(podEnv.appDir) ?? '/app',
    appConfig: text(podEnv.appConfig) ?? 'app.yaml',
    config: text(podEnv.config),
    cacheDir: text(podEnv.cacheDir) ?? join(tmpdir(), 'hangar-cache'),
    application: required(podEnv.application, 'the app id'),
    version: required(podEnv.version, "the version's name (MAJOR)"),
    minor: required(podEnv.minor, "the version's MINOR"),
    sockets: sockets === 'none' ? undefined : socketService(sockets, text(podEnv.socketsToken)),
    databaseUrl: databaseUrl(text(podEnv.database)),
  };
}

/** HANGAR_DATABASE_URL checked as `serve --database` checks it; its password never in a message. */
function databaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const postgres = url && ['postgres:', 'postgresql:'].includes(url.protocol) ? url : undefined;
  if (!postgres || postgres.pathname.length <= 1) {
    // Only a postgres:// URL's password is known to be where URL finds it: of another, only
    // its scheme is repeated.
    const shown = postgres
      ? `${redacted(postgres)}, which names no database`
      : `a URL starting ${JSON.stringify(url?.protocol ?? value.slice(0, value.indexOf(':') + 1))}`;
    throw new HangarError(
      'USAGE',
      `${podEnv.database} must be a PostgreSQL URL like postgres://USER:PASSWORD@HOST:5432/DATABASE, not ${shown}; it comes from the Secret named by hangar export kubernetes --database-secret (key url)`,
    );
  }
  return value;
}

function socketService(value: string, token: string | undefined): PodOptions['sockets'] {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon);
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HangarError(
      'USAGE',
      `${podEnv.sockets} must be the socket service's host:port (e.g. hangar-sockets:7000) or none, not '${value}'`,
    );
  }
  if (!token) {
    throw new HangarError(
      'USAGE',
      `${podEnv.socketsToken} is not set; the socket service refuses an app without its token (it comes from the app's Secret)`,
    );
  }
  return { host, port, token };
}

/**
 * `url` without its password (as shared/postgres.ts redactUrl does; not imported from there,
 * which would load the PostgreSQL client into every pod at start).
 */
function redacted(url: URL): string {
  if (url.password) url.password = '***';
  return url.toString();
}

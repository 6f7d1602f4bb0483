/**
 * What an instance hands the Node processes of its app's own server (S4.3): the instance side is
 * entrypoint.ts, the server side entrypoint-preload.ts. Apart so that the instance need not load
 * the preload to know its names.
 */

/** The preload's configuration, as JSON in PRELOAD_ENV. */
export interface PreloadConfig {
  /** The server's PORT: the one TCP port it may listen on (127.0.0.1 only). */
  port: number;
  instanceId: string;
  service: string | undefined;
  version: string | undefined;
  /** Where the loader hooks cache compiled TypeScript. */
  cacheDir: string;
  /** The socket service and the app's identity for it (S12); none: no sockets shim (as for module instances). */
  sockets?: { path: string; app: string; token: string } | undefined;
}

/** The environment variable carrying the PreloadConfig. */
export const PRELOAD_ENV = 'HANGAR_PRELOAD';

/** The request header with the request's deadline in epoch ms, added by the instance and hidden from the app (clients cannot send X-Hangar-*, S5). */
export const DEADLINE_HEADER = 'x-hangar-deadline';
